"""Literal durations in specs: "30s", "15m", "2h", "7d", "1w" and combinations such as "1h30m".

Units are whole-number multiples written largest first; a bare number is rejected
because "30" could mean seconds or minutes and a spec must not be ambiguous.
"""
from __future__ import annotations

import re
from typing import Any

from engine.spec.bounds import yaml_word

UNITS: dict[str, int] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[wdhms])+")
EXAMPLES = "30s, 15m, 2h, 7d, 1w or a combination such as 1h30m"


def parse_duration(text: str) -> float:
    """Seconds in a literal duration; raises ValueError with a message fit for a diagnostic."""
    s = text.strip() if isinstance(text, str) else text
    if not isinstance(s, str) or not _WHOLE.fullmatch(s):
        raise ValueError(f"`{text}` is not a duration: write {EXAMPLES}")
    parts = _PART.findall(s)
    units = [u for _, u in parts]
    order = list(UNITS)
    if len(set(units)) != len(units) or units != sorted(units, key=order.index):
        raise ValueError(f"`{text}` is not a duration: give each unit once, largest first (e.g. 1h30m)")
    return float(sum(float(n) * UNITS[u] for n, u in parts))


def format_duration(seconds: float) -> str:
    """`seconds` as a literal duration, largest unit first (900 -> "15m", 5400 -> "1h30m"), which
    parse_duration reads back; a fraction of a second stays on the seconds ("1m0.5s")."""
    # To the µs first: a fraction that would print as "1.000000s" is carried into the minute
    # instead (3599.9999999 -> "1h", not "59m60s").
    rest, frac = divmod(round(float(seconds), 6), 1.0)
    parts = []
    for unit, size in UNITS.items():
        n, rest = divmod(rest, size)
        n += frac if unit == "s" else 0.0
        if n:
            parts.append(f"{n:.6f}".rstrip("0").rstrip(".") + unit)  # to the µs, never an exponent
    return "".join(parts) or "0s"


def duration_problem(value: Any) -> tuple[str, str] | None:
    """Why `value` is no literal duration, as (what is wrong, a hint); None when it is one.
    One wording for every spec that takes a duration: a YAML number (`15`) is refused, as a
    bare number could be seconds, minutes or days."""
    if not isinstance(value, str):
        return f"must be a duration, not {yaml_word(value)}", f"write {EXAMPLES}"
    try:
        parse_duration(value)
    except ValueError as e:  # "`X` is not a duration: <what to write>"
        return f"`{value}` is not a duration", str(e).partition(" is not a duration: ")[2]
    return None


def looks_like_duration(text: str) -> bool:
    """True when text is meant as a literal (starts with a digit) rather than an expression."""
    return text.strip()[:1].isdigit()
