"""Timeframe strings (`1m`, `5m`, `15m`, `1h`, `8h`, `1d`) as pandas offsets.

`canonical_tf` is the one spelling of a timeframe (`60m` and ` 1h` are both `1h`), so
the store and the run config never hold one series under two names. Parsing needs no
pandas, so the run config can check timeframes without importing it.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TF = re.compile(r"^(\d+)([smhdw])$")
_LOOSE = re.compile(r"^(\d+)\s*([a-z]+)$")  # 5min, 5M, 5 m: what a user may mean
_ALIASES = {"min": "m", "mins": "m", "minute": "m", "minutes": "m", "t": "m", "hour": "h", "hours": "h",
            "hr": "h", "day": "d", "days": "d", "sec": "s", "week": "w"}
MAX_SECONDS = 366 * 86400  # a bar longer than a year is a typo, and pandas overflows far beyond it
EXAMPLES = "e.g. 1m, 5m, 15m, 1h, 8h, 1d"


class TimeframeError(ValueError):
    """A timeframe string that is not one; the message carries the hint."""


def tf_seconds(tf: str) -> int:
    text = str(tf).strip()
    m = _TF.match(text)
    if not m:
        raise TimeframeError(f"bad timeframe {tf!r}: expected a number and one of s, m, h, d, w; "
                             + (_suggest(text) or EXAMPLES))
    secs = int(m.group(1)) * _SECONDS[m.group(2)]
    if not 0 < secs <= MAX_SECONDS:
        raise TimeframeError(f"bad timeframe {tf!r}: must be more than 0 and at most a year; {EXAMPLES}")
    return secs


def _suggest(text: str) -> str | None:
    m = _LOOSE.match(text.lower())
    if not m:
        return None
    unit = _ALIASES.get(m.group(2), m.group(2))
    return f"did you mean `{m.group(1)}{unit}`?" if unit in _SECONDS else None


def canonical_tf(tf: str) -> str:
    """The one name of a timeframe: `60m` -> `1h`, ` 5m` -> `5m` (raises TimeframeError)."""
    return tf_name(tf_seconds(tf))


def parse_tf(tf: str) -> "pd.Timedelta":
    import pandas as pd

    return pd.Timedelta(tf_seconds(tf), unit="s")


def tf_name(delta: "pd.Timedelta | int") -> str:
    secs = delta if isinstance(delta, int) else int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def infer_tf(index: "pd.DatetimeIndex") -> "pd.Timedelta | None":
    """The bar interval: the most common spacing (the median hides nothing on weekend-gapped
    forex), unless a sparse market's gaps outnumber its whole steps. Then the shortest spacing,
    when every spacing is a whole multiple of it (1m bars with quiet minutes missing are 1m bars
    even where 2m steps are the most common) and it is not one stray step among steps nearly all
    far longer (an hourly file with one extra 10:01 bar is 1h bars with a bar off its grid, not 1m
    bars: as 1m, each hourly bar would be known 59 minutes before it closed), nor a few bars moved
    off the common step's grid (`displaced`: 5m bars with one at 06:17:30 are not 150s bars)."""
    if len(index) < 2:
        return None
    diffs = index.to_series().diff().dropna()
    common, shortest = diffs.mode().iloc[0], diffs.min()
    steps = diffs.to_numpy().astype("timedelta64[ns]").astype("int64")  # in ns, as Timedelta.value: whatever the index's unit
    if (steps % common.value).any() and shortest.value > 0 and not (steps % shortest.value).any() \
            and not far_apart(steps, shortest.value) and not displaced(steps, common.value):
        return shortest
    return common


def displaced(steps: "np.ndarray", interval: int) -> bool:
    """Every step that is not a whole number of `interval`s (int ns) lies next to another such step,
    the two adding up to whole ones, or is the first or the last: bars of `interval` with some stamped
    off its grid (a moved bar shortens the step before it and lengthens the one after; a moved first
    or last bar has one step), not bars of a shorter timeframe with quiet ones missing, whose odd
    steps fall anywhere."""
    import numpy as np

    odd = np.flatnonzero(steps % interval).tolist()
    if odd and odd[0] == 0:
        odd.pop(0)
    if odd and odd[-1] == len(steps) - 1:
        odd.pop()
    pairs = zip(odd[::2], odd[1::2], strict=False)
    return len(odd) % 2 == 0 and all(k == j + 1 and not (steps[j] + steps[k]) % interval for j, k in pairs)


# A step this many intervals long, or longer, is a gap (the loader warns of gaps past 3 intervals).
FAR_STEPS, NEARLY_ALL = 3, 0.9


def far_apart(steps: "np.ndarray", interval: int) -> bool:
    """Nearly all `steps` (int ns) FAR_STEPS intervals long or longer, the most common one too:
    bars far longer than `interval`, which would be stored as bars of it. Not real gaps: forex
    weekends, a daily market's holidays, an illiquid market's quiet minutes (its most common step
    is still a bar or two)."""
    import numpy as np

    if not len(steps) or interval <= 0:
        return False
    values, counts = np.unique(steps, return_counts=True)
    common = values[np.argmax(counts)]  # the shortest of those tied, as Series.mode
    far = np.count_nonzero(steps >= FAR_STEPS * interval)
    return bool(common >= FAR_STEPS * interval and far >= NEARLY_ALL * len(steps))
