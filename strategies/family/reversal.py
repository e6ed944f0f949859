"""RevStrategy: fade a large short-term move when volume is high (exhaustion)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from strategies import blocks, params
from strategies.base import OHLC
from strategies.voltarget import VolTargetStrategy


class RevStrategy(VolTargetStrategy):
    """rev = -sign(ret_z) where |ret_z| > reversal_threshold and vlm_z > volume_threshold.

    ret_z = EMA(returns, reversal_window) / per-bar RS vol, as the seed writes it (not scaled
    by sqrt(window)), so reversal_threshold is in those units. vlm_z min-max normalises the
    volume EMA (span reversal_window: the seed does not name the span) over vol_window."""

    params_model = params.RevParams
    required_columns = (*OHLC, "volume")

    def _direction(self, bars: pd.DataFrame, vol: pd.Series) -> pd.Series:
        p = self.params
        ret_z = blocks.returns(bars["close"]).ewm(span=p.reversal_window, min_periods=p.reversal_window).mean()
        ret_z = ret_z / self._per_bar(bars, vol)
        vema = bars["volume"].astype(float).ewm(span=p.reversal_window, min_periods=p.reversal_window).mean()
        roll = vema.rolling(p.vol_window, min_periods=p.vol_window)
        lo, hi = roll.min(), roll.max()
        vlm_z = (vema - lo) / (hi - lo).where(hi > lo)
        fade = (ret_z.abs() > p.reversal_threshold) & (vlm_z > p.volume_threshold)
        rev = np.where(fade, -np.sign(ret_z), 0.0)
        return pd.Series(rev, index=bars.index).where(ret_z.notna() & vlm_z.notna())
