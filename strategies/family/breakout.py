"""Range breakout (BreakVolStrategy) and block momentum (BlockVolStrategy), on closes."""
from __future__ import annotations

import pandas as pd

from strategies import params
from strategies.voltarget import VolTargetStrategy


def _range(close: pd.Series, window: int) -> tuple[pd.Series, pd.Series]:
    roll = close.rolling(window, min_periods=window)
    return roll.max(), roll.min()


class BreakVolStrategy(VolTargetStrategy):
    """f = EWM((close - mid) / range x 2) x vol tilt: +1 at the range top, -1 at the bottom."""

    params_model = params.BreakVolParams

    def _direction(self, bars: pd.DataFrame, vol: pd.Series) -> pd.Series:
        p = self.params
        close = bars["close"]
        h, lo = _range(close, p.breakout_window)
        # A flat window has no range to place the close in: no new value, and the smoothing keeps
        # its last one, as the seed's 0 / 0 in pandas does (an EWM skips NaN).
        rng = (h - lo).where(h > lo)
        s = ((close - (h + lo) / 2) / rng * 2).ewm(span=p.smooth_window, min_periods=1).mean()
        return s * self._tilt(vol)


class BlockVolStrategy(VolTargetStrategy):
    """f = clip(EWM(((H - H_prev block) + (L - L_prev block)) / 2 / (H - L)), +-2) x vol tilt."""

    params_model = params.BlockVolParams

    def _direction(self, bars: pd.DataFrame, vol: pd.Series) -> pd.Series:
        p = self.params
        h, lo = _range(bars["close"], p.block_window)
        s_raw = (h.diff(p.block_window) + lo.diff(p.block_window)) / 2 / (h - lo).where(h > lo)
        s = s_raw.ewm(span=p.smooth_window, min_periods=1).mean().clip(-2, 2)
        return s * self._tilt(vol)
