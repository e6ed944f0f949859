"""WedThuStrategy: long over Wednesday bars, short over Thursday bars, flat otherwise."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from strategies import blocks, params
from strategies.voltarget import VolTargetStrategy

WEDNESDAY, THURSDAY = 2, 3


class WedThuStrategy(VolTargetStrategy):
    """The seed computes s on each bar's weekday and shifts it forward. The position at row t
    is held over the next bar, so we use the weekday of t + one bar interval: the calendar
    is known in advance, and no later row is read (a gap would make `shift(-1)` look ahead).
    Likewise the seed "interpolates" the per-day vol across the index; interpolation reads
    the next value, so we carry the last one forward instead."""

    params_model = params.WedThuParams

    def _next_weekday(self, bars: pd.DataFrame) -> np.ndarray:
        step = self._fitted("bar_seconds", lambda: blocks.bar_seconds(bars.index))
        return (bars.index + pd.Timedelta(seconds=step)).dayofweek.to_numpy()

    def _vol(self, bars: pd.DataFrame) -> pd.Series:
        ret = blocks.returns(bars["close"])
        weekday = bars.index.dayofweek
        # The seed's "scaled vol window = vol_window / 7" (each day is ~1/7 of the bars), read as
        # its other vol windows are: `ewm(window)`, a centre of mass (blocks.ewm_standardise).
        com = self.params.vol_window / 7

        def day_vol(day: int) -> np.ndarray:
            std = ret[weekday == day].ewm(com=com, min_periods=2).std()
            return std.reindex(bars.index).ffill().to_numpy()

        nxt = self._next_weekday(bars)
        per_bar = np.where(nxt == WEDNESDAY, day_vol(WEDNESDAY),
                           np.where(nxt == THURSDAY, day_vol(THURSDAY), np.nan))
        vol = pd.Series(per_bar * math.sqrt(self._bars_per_year(bars)), index=bars.index)
        return vol.where(vol > 0)

    def _direction(self, bars: pd.DataFrame, vol: pd.Series) -> pd.Series:
        nxt = self._next_weekday(bars)
        return pd.Series(np.select([nxt == WEDNESDAY, nxt == THURSDAY], [1.0, -1.0], 0.0), index=bars.index)
