"""BuySellVolStrategy: taker-buy share of volume (Binance klines' taker_buy_base_vol)."""
from __future__ import annotations

import pandas as pd

from strategies import params
from strategies.base import OHLC
from strategies.voltarget import VolTargetStrategy


class BuySellVolStrategy(VolTargetStrategy):
    """f = clip(z-score over vol_window of EWM(taker buy) / EWM(volume), +-2) x vol tilt.

    Needs `taker_buy_base_vol`, which none of the bundled data sets has: building works,
    fit/predict raise MissingColumnsError naming the column."""

    params_model = params.BuySellVolParams
    required_columns = (*OHLC, "volume", "taker_buy_base_vol")

    def _direction(self, bars: pd.DataFrame, vol: pd.Series) -> pd.Series:
        p = self.params
        span = p.volume_window
        ratio = (bars["taker_buy_base_vol"].ewm(span=span, min_periods=span).mean()
                 / bars["volume"].ewm(span=span, min_periods=span).mean())
        bsr = ratio.ewm(span=p.smooth_window, min_periods=1).mean()
        roll = bsr.rolling(p.vol_window, min_periods=p.vol_window)
        std = roll.std()
        z = ((bsr - roll.mean()) / std.where(std > 0)).clip(-2, 2)
        return z * self._tilt(vol)
