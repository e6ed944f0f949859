"""VolScaleStrategy: always long, inverse-volatility sized (the target-vol baseline)."""
from __future__ import annotations

import pandas as pd

from strategies import params
from strategies.voltarget import VolTargetStrategy


class VolScaleStrategy(VolTargetStrategy):
    params_model = params.VolScaleParams

    def _direction(self, bars: pd.DataFrame, vol: pd.Series) -> pd.Series:
        return pd.Series(1.0, index=bars.index)
