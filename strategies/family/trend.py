"""EMA-crossover trend (EmaVolStrategy) and its acceleration (AccelVolStrategy)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from strategies import blocks, params
from strategies.voltarget import VolTargetStrategy, ema_gap


class EmaVolStrategy(VolTargetStrategy):
    """f = clip((fast EMA - slow EMA) / EWM std, +-2) x vol tilt."""

    params_model = params.EmaVolParams

    def _direction(self, bars: pd.DataFrame, vol: pd.Series) -> pd.Series:
        p = self.params
        s = blocks.ewm_standardise(ema_gap(bars["close"], p.fast_ema_window, p.slow_ema_multiplier), p.vol_window)
        return s * self._tilt(vol)


class AccelVolStrategy(VolTargetStrategy):
    """f = standardised diff of the standardised EMA gap (momentum of momentum) x vol tilt.

    The level is standardised but not clipped (the seed clips only the acceleration):
    clipping first would flatten the acceleration exactly when the trend is strongest."""

    params_model = params.AccelVolParams

    def _direction(self, bars: pd.DataFrame, vol: pd.Series) -> pd.Series:
        p = self.params
        gap = ema_gap(bars["close"], p.fast_ema_window, p.slow_ema_multiplier)
        level = blocks.ewm_standardise(gap, p.vol_window, clip=np.inf)
        accel = level.diff(max(1, round(p.fast_ema_window * p.diff_multiplier)))
        return blocks.ewm_standardise(accel, p.vol_window) * self._tilt(vol)
