"""`--until DATE`: what `engine train ml` and `engine select` learn from ends before the bars a
run replays, so no decision of the run rests on an outcome it is about to trade."""
from __future__ import annotations

import argparse
from typing import Any


def utc_time(text: str) -> Any:
    """An argparse type: a date or time, read as UTC unless it carries an offset."""
    import pandas as pd

    try:
        when = pd.Timestamp(text)
        if when is pd.NaT:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date or time (e.g. 2018-01-20 or "
                                         "2018-01-20T12:00)") from None
    return when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")


def bars_before(bars: Any, until: Any) -> Any:
    """The bars that open before `until` (all of them for None); ValueError when none do."""
    if until is None:
        return bars
    kept = bars[bars.index < until]
    if kept.empty:
        raise ValueError(f"no bars open before --until {until.isoformat()} (the data starts "
                         f"{bars.index[0].isoformat()})")
    kept.attrs = dict(bars.attrs)
    return kept
