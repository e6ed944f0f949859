"""Seed 003 aggregation: a symbol's target is the plain sum of its models' positions. The seed
rebalances to round(position_pct * 10) / 10 of capital; `engine run` trades the sum's sign
(engine/run/decide.py, the run config's deadband) and sizes by the risk spec instead."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from strategies.base import Strategy

if TYPE_CHECKING:
    import pandas as pd


def position_pct_history(models: Iterable[Strategy], bars: "pd.DataFrame") -> "pd.Series":
    """Sum of every model's position (strat_weight already applied by each model) at every bar;
    NaN wherever any model is still warming up: the caller fails closed rather than trading a
    partial sum."""
    import pandas as pd

    frame = pd.concat([m.predict(bars) for m in models], axis=1)
    return frame.sum(axis=1, skipna=False).rename("position_pct")
