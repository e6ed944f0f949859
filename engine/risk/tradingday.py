"""The trading day: when the book's day rolls (risk spec `limits.trading_day`).

A day starts at a wall-clock time of an IANA zone, DST included (FTMO's daily loss resets at
midnight Prague time, forex's day at 17:00 New York), so a day may last 23 or 25 hours. Times are
bar closes: a bar belongs to the day it opens in, so the one closing exactly at a boundary is the
last of the day that ends there, and the next day starts from the marks at the boundary (a bar
with a boundary inside it is judged at that boundary: engine/run/daytimes.py). A day
is (end of the day before, its own end]: day `d` starts at the start time on local date `d`
(days since 1970-01-01) and ends at it on date `d + 1`. Light (stdlib only): the run's loop and
the quiet-bar screen share it, and `engine validate` loads the schema beside it.
"""
from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Sequence
from zoneinfo import ZoneInfo

from engine.zones import utc

_EPOCH = date(1970, 1, 1)


class TradingDays:
    """Day numbers and boundaries of one zone and start time, for the run's day roll."""

    def __init__(self, zone: str, starts: str):
        hh, _, mm = starts.partition(":")
        self._zone, self._starts = ZoneInfo(zone), time(int(hh), int(mm))
        # A run asks for the same few boundaries on every quiet stretch: one computation each.
        self.end_of = lru_cache(maxsize=1024)(self._end_of)

    def _end_of(self, day: int) -> float:
        """The instant day `day` ends: the start time on the local date after it. A start time a
        DST change skips or repeats is read with the offset before the change (fold 0), so
        boundaries stay one per date and in order."""
        local = datetime.combine(_EPOCH + timedelta(days=day + 1), self._starts, tzinfo=self._zone)
        return local.timestamp()

    def day_of(self, t: float) -> int:
        """The day the time `t` (seconds, UTC) belongs to: end_of(day - 1) < t <= end_of(day)."""
        day = (utc(t).astimezone(self._zone).date() - _EPOCH).days
        while t <= self.end_of(day - 1):
            day -= 1
        while t > self.end_of(day):
            day += 1
        return day

    def new_days(self, times: Sequence[float], day: int) -> list[int]:
        """The indexes of the rising `times` that start a new day, the day before the first of
        them being `day` (-1: none yet, so the first time starts one)."""
        out: list[int] = []
        if not times:
            return out
        i = 0
        if day < 0:
            out.append(0)
            day = self.day_of(times[0])
        last = times[-1]
        while last > (end := self.end_of(day)):  # (the usual case: no new day in these rows)
            i = bisect_right(times, end, i)
            out.append(i)
            day = self.day_of(times[i])
        return out
