"""A number's allowed range as a spec or schema states it, worded for a diagnostic: what a value
must be (`an integer of at least 1`, `a fraction from 0.001 to 0.5`) and one valid value to
suggest, so that a bad value's message states the real bounds and its hint a value that passes.
Light (no pydantic): the spec linter and the schema's error messages both use it."""
from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

_PERCENT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*")


def number(x: float) -> str:
    """`0.05`, `24`; a whole number in full (`1000000`, not `1e+06`), as a spec writes it."""
    if math.isfinite(x) and x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:g}"


@dataclass(frozen=True)
class Bounds:
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False
    noun: str = ""  # "fraction", "duration": what the value is; default "integer" or "number"

    def contains(self, x: float) -> bool:
        if not math.isfinite(x) or (self.integer and x != int(x)):
            return False
        above = self.lo is None or (x > self.lo if self.lo_open else x >= self.lo)
        below = self.hi is None or (x < self.hi if self.hi_open else x <= self.hi)
        return above and below

    @property
    def empty(self) -> bool:
        """No value fits: a lower bound above the upper one (min and max written the wrong way
        round), or equal with either end open. Its `text` would read `from 0.9 to 0.5`."""
        if self.lo is None or self.hi is None:
            return False
        return self.lo > self.hi or (self.lo == self.hi and (self.lo_open or self.hi_open))

    def text(self, show: Callable[[float], str] = number) -> str:
        """`from 1 to 10`, `at least 1`, `above 0 and below 1`, or "" when unbounded."""
        lo = None if self.lo is None else f"{'above' if self.lo_open else 'at least'} {show(self.lo)}"
        hi = None if self.hi is None else f"{'below' if self.hi_open else 'at most'} {show(self.hi)}"
        if lo and hi and not (self.lo_open or self.hi_open):
            return f"from {show(self.lo)} to {show(self.hi)}"  # type: ignore[arg-type]
        return " and ".join(p for p in (lo, hi) if p)

    def what(self, show: Callable[[float], str] = number) -> str:
        """`an integer of at least 1`, `a fraction from 0.001 to 0.5`, `a number`."""
        noun = self.noun or ("integer" if self.integer else "number")
        text = self.text(show)
        joiner = " " if text.startswith("from") else " of " if text.startswith("at") else " "
        return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}" + (joiner + text if text else "")

    def example(self, preferred: Any = None) -> float | None:
        """`preferred` when it is a valid number (a spec's default), else a value inside the range."""
        if isinstance(preferred, (int, float)) and not isinstance(preferred, bool) and self.contains(preferred):
            return preferred
        lo, hi = self.lo, self.hi
        if lo is not None and hi is not None:
            x = _round((lo + hi) / 2, self)
        elif lo is not None:
            x = lo + (1 if self.lo_open else 0)
        elif hi is not None:
            x = hi - (1 if self.hi_open else 0)
        else:
            return None
        if self.integer:
            x = math.ceil(x) if self.contains(math.ceil(x)) else math.floor(x)
        return x if self.contains(x) else None

    def hint(self, value: Any, preferred: Any = None, show: Callable[[float], str] = number) -> str:
        """`write a fraction from 0.001 to 0.5, e.g. 0.05`; `5%` in a range within 0..1 reads as 0.05."""
        percent = _PERCENT.fullmatch(value) if isinstance(value, str) else None
        if percent and self.hi is not None and self.hi <= 1 and self.contains(float(percent.group(1)) / 100):
            return f"write {number(float(percent.group(1)) / 100)} for {value.strip()} ({self.what(show)})"
        example = self.example(preferred)
        return f"write {self.what(show)}" + (f", e.g. {show(example)}" if example is not None else "")


def typed_bounds(type_name: str, lo: float | None, hi: float | None) -> Bounds:
    """The range a value of a declared type must lie in: `lo` and `hi`, within 0..1 for a
    fraction; the one reading of a parameter's and a catalogue argument's `min`/`max`."""
    if type_name == "fraction":
        lo, hi = max(lo if lo is not None else 0.0, 0.0), min(hi if hi is not None else 1.0, 1.0)
    noun = type_name if type_name in ("fraction", "duration") else ""
    return Bounds(lo, hi, integer=type_name == "int", noun=noun)


def _round(x: float, bounds: Bounds) -> float:
    """A 1-2-5 number (0.2, 5, 10) near `x` inside `bounds`, which reads better than 0.2505."""
    if x <= 0:
        return 0.0 if bounds.contains(0.0) else x
    scale = 10.0 ** math.floor(math.log10(x))
    inside = [c * scale for c in (1, 2, 5, 10) if bounds.contains(c * scale)]
    return float(number(min(inside, key=lambda c: abs(c - x)))) if inside else x


def yaml_word(value: Any) -> str:
    """A parsed YAML value as its writer reads it: `the string `five``, `the number `5``."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean `{str(value).lower()}`"
    if isinstance(value, (int, float)):
        return f"the number `{value}`"
    if isinstance(value, str):
        return f"the string `{value}`"
    if isinstance(value, (datetime.date, datetime.datetime)):  # YAML reads an unquoted 2024-01-01 as one
        return f"the date `{value.isoformat()}`"
    return "a list" if isinstance(value, list) else "a mapping"
