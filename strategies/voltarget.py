"""The seed 003 template: direction x target_vol / vol x decay, scaled to target vol in-sample.

    pos_raw = target_vol / v x f x decay
    pos     = pos_raw x to_target_scaler          (strat_weight is applied by Strategy.predict)

Subclasses supply the direction `f` (which may include the Weibull vol tilt).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from strategies import blocks
from strategies.base import Strategy


class VolTargetStrategy(Strategy):
    def _direction(self, bars: pd.DataFrame, vol: pd.Series) -> pd.Series:
        raise NotImplementedError

    def _position(self, bars: pd.DataFrame) -> pd.Series:
        ret = blocks.returns(bars["close"])
        vol = self._vol(bars)
        direction = self._direction(bars, vol)
        raw = (self.params.target_vol / vol * direction).mask(direction == 0, 0.0)  # no view: flat
        if getattr(self.params, "fit_decay", False):
            raw = raw * self._decay(raw, ret)
        scaler = self._fitted("to_target_scaler", lambda: blocks.to_target_scaler(
            self._in_sample(blocks.strategy_pnl(raw, ret)), self.params.target_vol, self._bars_per_year(bars)))
        return raw * scaler

    def _bars_per_year(self, bars: pd.DataFrame) -> float:
        return self._fitted("bars_per_year", lambda: self.params.bars_per_year
                            or blocks.bars_per_year(bars.index, self._fit_rows))

    def _vol(self, bars: pd.DataFrame) -> pd.Series:
        """Annualised Rogers-Satchell volatility."""
        return blocks.rogers_satchell(bars, blocks.rs_window(self.params.vol_window), self._bars_per_year(bars))

    def _per_bar(self, bars: pd.DataFrame, vol: pd.Series) -> pd.Series:
        return vol / math.sqrt(self._bars_per_year(bars))

    def _tilt(self, vol: pd.Series) -> pd.Series:
        """(1 - alpha) + alpha x (1 - Weibull CDF(v)), scale = in-sample median vol x 1.5."""
        p = self.params
        scale = self._fitted("weibull_scale", lambda: self._in_sample(vol).median() * p.weibull_scale_mult)
        return blocks.blend(blocks.weibull_tilt(vol, p.weibull_c, scale), p.alpha)

    def _decay(self, raw: pd.Series, ret: pd.Series) -> pd.Series:
        pnl = blocks.decay_pnl(raw, ret, self.params.decay_span)
        defactor = self._fitted("defactor", lambda: _positive(self._in_sample(pnl).std()))
        return blocks.decay_factor(pnl, defactor)


def _positive(x: float) -> float:
    return x if x > 0 else float("nan")


def ema_gap(close: pd.Series, fast: int, multiplier: float) -> pd.Series:
    """fast EMA - slow EMA, slow span = fast x multiplier; NaN until each EMA has its span of bars."""
    slow = fast * multiplier
    return (close.ewm(span=fast, min_periods=fast).mean()
            - close.ewm(span=slow, min_periods=int(np.ceil(slow))).mean())
