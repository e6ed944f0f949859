"""A day-partitioned parquet store: root/symbol=S/tf=T/date=YYYY-MM-DD/part.parquet.

Re-importing overlapping data replaces the stored bars at the same timestamps (last
write wins) and says how many it replaced and how many of those had other values,
so importing the same file twice leaves the store byte-for-byte unchanged (the second
import writes no day at all). A series keeps one set of columns: a write with other
columns is refused rather than leaving NaN bid/ask/volume in the merged days. The
timeframe is stored under its canonical name (`60m` is `1h`). An import is all or
nothing: every changed day is written to a temporary file beside its place first, then
all are swapped in; a failure (or Ctrl-C) on the way puts back what was there. Bars open
on the timeframe's epoch grid (the loader refuses others), and reading a series checks
that again, so a store an older version filled with off-grid bars is refused, not run.
A day file that cannot be read is a DataError naming it.

One import of a series at a time, and no read of it meanwhile: both hold the series' lock file
(`.locks/<symbol>@<tf>.lock` under the root) for their whole course. Two imports at once would each
merge their bars into the days as they read them, and the later swap would drop the other's bars;
a read between two swaps would mix old days and new. One that cannot have the lock within
LOCK_WAIT_S is refused (DATA_BUSY), nothing written. A read of a store this user cannot write
(no lock file can be made there) reads without it, and checks for a running import before and after.

What the store reads is its layout only: `symbol=`, `tf=` and `date=` folders, `part.parquet`,
`label` and `unfinished.*` files. Anything else under the root (notes, folders without those
prefixes, other files in a day folder) is not the store's and is ignored by every command alike. A folder that
claims to be the store's but whose name the store would not write (`date=garbage`,
`date=2022-13-45`, `tf=60m`, `symbol=` and a name that is not a symbol) is a DataError naming
it, as is a day file holding bars of another day than its folder's: either would put bars
where no read looks, or read them under the wrong day.

An import killed outright (SIGKILL, power loss) cannot put the store back, but it loses no
day; the next `engine data import` of that series clears what it left (see clear_leftovers).
One killed while swapping its days in may leave some in and some not: it swaps only while an
`unfinished.<pid>-<hex>` file in the series' folder names the import command (and its process's
start time, so a later process given the same pid, as a container's PID 1 is after a restart, is not
taken for it), so until that same import (same file and options) is run again and completes, reads
refuse the series (a run would trade a partial one) and `engine data list` marks it, both naming that
command to re-run (see unfinished). An import of another file does not complete it: the days the
killed one never swapped in would still be missing.

Bars are stored by their open whatever the file's stamps, and a series records the
`--label` its files were imported with (a `label` file beside its days): a write under the
other label, or one whose bars equal the stored bars one bar away or a zone's offset away
(the series was stored under another `--tz`, or none), is refused before anything is written.
Each would store the same bars again apart, which no later import can undo (a replaced bar
comes back, a bar only the shifted file had stays).
"""
from __future__ import annotations

import errno
import os
import re
import secrets
import shlex
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import islice
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd

from engine.data import DEFAULT_STORE
from engine.data.errors import DataError
from engine.data.loader import (GRID_HINT, JUMP_HINT, bar_line, check_values, first_jump, first_off_grid,
                               grid_message, moved_by)
from engine.data.quoted import SIDE_OHLC
from engine.data.timeframes import canonical_tf, parse_tf

DEFAULT_ROOT = Path(DEFAULT_STORE)
_LABEL_FILE = "label"
_LOCKS = ".locks"
LOCK_WAIT_S = 30.0  # how long an import or a read waits for another import of the series to finish
# What _commit writes beside a file (`<name><token>.tmp|.old`, token `.<pid>-<8 hex>`).
_LEFTOVER = re.compile(rf"^(?:part\.parquet|{_LABEL_FILE})\.(\d+)-[0-9a-f]{{8}}\.(?:tmp|old)$")
# What _commit writes in the series' folder while it swaps days in (`unfinished.<pid>-<8 hex>`).
_UNFINISHED = "unfinished"
_MARKER = re.compile(rf"^{_UNFINISHED}\.(\d+)-[0-9a-f]{{8}}$")
# The marker's last line: its process's start time (/proc/<pid>/stat field 22), where known.
_STARTED = re.compile(r"^started (\d+)$")
# The tokens of the commits this process is making: only those are ours among files named by our pid.
_OURS: set[str] = set()
T = TypeVar("T")
# Zones are UTC-12:00 to UTC+14:00 in quarter hours: the same bars read in two of them are this far apart at most.
_ZONE_REACH = pd.Timedelta(hours=26)
_ZONE_STEP = pd.Timedelta(minutes=15)
# Letters and digits first, then the punctuation real symbols use (ETH/BTC, BTC-PERP, ES.c.0).
_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_.:+-]{0,63}$")


def check_symbol(symbol: str) -> str:
    """The symbol, or ValueError: empty, padded or path-like names would make odd store folders."""
    if not _SYMBOL.match(symbol) or ".." in symbol:
        raise ValueError(f"bad symbol {symbol!r}: a symbol starts with a letter or digit and holds only "
                         "letters, digits and / _ . : + - (e.g. ETH/BTC, BTC-PERP)")
    return symbol


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int  # rows in the incoming frame
    replaced: int  # stored bars at an incoming timestamp, replaced by the incoming bar
    differed: int  # of those, bars whose values were not the same
    first_differed: pd.Timestamp | None  # the earliest of them
    days_written: int  # day files created or changed


@dataclass(frozen=True, slots=True)
class Unfinished:
    """An import of a series that began swapping its days in and has not finished: `running` when
    its process is alive (it is swapping now), else it was killed and the series may be partial."""
    path: Path
    command: str  # the import command, to run again
    running: bool


@dataclass(frozen=True, slots=True)
class Series:
    symbol: str
    tf: str
    days: int
    rows: int
    first: str
    last: str
    unfinished: Unfinished | None = None  # an import swapping days into it, or killed while doing so


class ParquetStore:
    def __init__(self, root: str | Path = DEFAULT_ROOT):
        self.root = Path(root)

    def folder(self, symbol: str, tf: str) -> Path:
        """The series' folder: removing it removes the series."""
        # quote() keeps `ETH/BTC` a single path segment
        return self.root / f"symbol={quote(symbol, safe='')}" / f"tf={quote(canonical_tf(tf), safe='')}"

    def _days(self, symbol: str, tf: str) -> list[Path]:
        self.check_root()
        return _day_files(self.folder(symbol, tf))

    def check_root(self) -> None:
        """A store root that is a file holds no series and can take none: say so, not "no series"."""
        if self.root.is_file():
            raise DataError(str(self.root), 1, "is a file, not a store folder",
                            f"name the folder `engine data import --store` wrote (default {DEFAULT_STORE})")

    def label(self, symbol: str, tf: str) -> str | None:
        """The label the series' files were imported with; None for a new series (or one stored
        before labels were recorded)."""
        path = self.folder(symbol, tf) / _LABEL_FILE
        return path.read_text(encoding="utf-8").strip() if path.exists() else None

    def columns(self, symbol: str, tf: str) -> list[str] | None:
        """The stored series' columns, or None when nothing is stored."""
        import pyarrow.parquet as pq

        days = self._days(symbol, tf)
        if not days:
            return None
        return [c for c in _guarded(days[0], pq.read_schema).names if c != "ts" and not c.startswith("__")]

    def write(self, df: pd.DataFrame, symbol: str, tf: str, label: str = "open",
              command: str | None = None) -> ImportResult:
        """Merge open-stamped bars `df` into the series; `label` is what the file's stamps marked,
        `command` the import command that completes the write if it is killed half-way (the
        series' unfinished marker names it)."""
        check_symbol(symbol)
        source = str(df.attrs.get("source", "<frame>"))
        _check_grid(df, parse_tf(tf), source)
        with self._locked(symbol, tf):
            return self._write(df, symbol, tf, label, source, command)

    def _write(self, df: pd.DataFrame, symbol: str, tf: str, label: str, source: str,
               command: str | None) -> ImportResult:
        self._check_columns(df, symbol, tf, source)
        self._check_label(symbol, tf, label, source)
        # A frame without attrs: they hold Diagnostics, which pandas deep-copies on every copy,
        # groupby and concat (minutes for a file with many gap warnings).
        df = pd.DataFrame(df, copy=False)
        self._check_shift(df, symbol, tf, label, source)
        base = self.folder(symbol, tf)
        days, result = _merged_days(df, base)
        _check_seams(df, days, self._days(symbol, tf), source)
        redo = command or shlex.join(["engine", "data", "import", source, "--symbol", symbol, "--tf",
                                      canonical_tf(tf), "--label", label, "--store", str(self.root.resolve())])
        try:
            _commit([*_label_file(base, label), *days], base, redo)
        except OSError as e:
            raise DataError(str(self.root), 1, f"cannot write the store: {e.strerror or e} "
                            f"({e.filename or self.root}); nothing was written",
                            "--store must name a folder you can create and write to") from None
        for killed in self.unfinished(symbol, tf):  # those this import, run again, completed
            if not killed.running and _same_import(killed.command, redo):
                killed.path.unlink(missing_ok=True)
        return result

    def unfinished(self, symbol: str, tf: str) -> list[Unfinished]:
        """The imports of the series that began swapping days in and have not finished."""
        self.check_root()
        out = []
        for path in sorted(self.folder(symbol, tf).glob(f"{_UNFINISHED}.*")):
            m = _MARKER.match(path.name)
            if m and path.is_file():
                with suppress(OSError):  # removed meanwhile: that import finished
                    lines = path.read_text(encoding="utf-8").strip().splitlines()
                    started = _STARTED.match(lines.pop()) if lines and _STARTED.match(lines[-1]) else None
                    command = "\n".join(lines).strip() or "the import of this series"
                    running = _alive(int(m[1]), path.name[len(_UNFINISHED):], int(started[1]) if started else None)
                    out.append(Unfinished(path, command, running))
        return out

    def check_finished(self, symbol: str, tf: str) -> None:
        """A DataError for a series an import is swapping days into, or was killed while doing so:
        it may hold some of that import's days and not others, which a run must not trade."""
        for u in self.unfinished(symbol, tf):
            series = f"{symbol} {canonical_tf(tf)}"
            if u.running:
                raise DataError(str(u.path), 1, f"an import is swapping its days into the stored {series} series "
                                "right now", "run again once it has finished; if you know no import of it runs "
                                f"(it was killed), remove {u.path} and run it again to complete it: {u.command}",
                                code="DATA_UNFINISHED")
            raise DataError(str(u.path), 1, f"an import of the stored {series} series was killed before it "
                            "finished: the series may hold some of its days and not others",
                            f"run it again to complete it: {u.command}", code="DATA_UNFINISHED")

    def _check_columns(self, df: pd.DataFrame, symbol: str, tf: str, source: str) -> None:
        stored = self.columns(symbol, tf)
        if stored is not None and sorted(stored) != sorted(df.columns):
            raise DataError(source, 1, f"columns {list(df.columns)} differ from the stored {symbol} "
                            f"{canonical_tf(tf)} series' {stored}; merging them would leave missing values",
                            self._columns_hint(stored, df.columns, symbol, tf))

    def _columns_hint(self, stored: list[str], columns: pd.Index, symbol: str, tf: str) -> str:
        if set(columns) - set(stored) == set(SIDE_OHLC):  # stored by an engine that kept only the closing bid/ask
            return (f"the stored series has only each side's close (an older engine stored it so): remove "
                    f"{self.folder(symbol, tf)} and import its bid and ask files again to keep each side's "
                    "open, high and low")
        return ("import it under another symbol or timeframe, or give the same columns "
                "(a bid file needs its --ask file)")

    def _check_label(self, symbol: str, tf: str, label: str, source: str) -> None:
        stored = self.label(symbol, tf)
        if stored is not None and stored != label:
            raise DataError(source, 1, f"the stored {symbol} {canonical_tf(tf)} series was imported with --label "
                            f"{stored}, this file with --label {label}; nothing was written",
                            f"a series keeps one stamp convention, so a mislabelled file cannot store its bars "
                            f"again one bar apart: import with --label {stored}, or remove "
                            f"{self.folder(symbol, tf)} and import the whole series again", code="DATA_LABEL")

    def _check_shift(self, df: pd.DataFrame, symbol: str, tf: str, label: str, source: str) -> None:
        """Refuse bars that are the stored bars moved: one bar away (the file is stamped at the other
        end) or by a zone's offset (the series was stored under another --tz or none)."""
        if df.empty:
            return
        step = parse_tf(tf)
        reach = max(step, _ZONE_REACH)
        lo, hi = df.index[0] - reach, df.index[-1] + reach
        old = [f for f in (_read(p) for p in self._days(symbol, tf) if _day_in(p, lo, hi)) if f is not None]
        if not old:
            return
        moved = _moves(pd.concat(old), df, step)
        if moved:
            raise self._shift_error(moved, step, symbol, tf, label, source)

    def _shift_error(self, moved: dict[pd.Timedelta, int], step: pd.Timedelta, symbol: str, tf: str, label: str,
                     source: str) -> DataError:
        offset, series = next(iter(moved)), f"{symbol} {canonical_tf(tf)}"  # the commonest offset
        if abs(offset) != step:
            return DataError(source, 1, f"{_moved_text(moved, series)}: the stored series was imported in another "
                             "time zone or with another --tz (without one, a file's times are read as UTC); "
                             "nothing was written",
                             f"import it with the --tz the series was stored with, or remove "
                             f"{self.folder(symbol, tf)} and import the whole series again with the right --tz",
                             code="DATA_SHIFTED")
        word = "later" if offset > pd.Timedelta(0) else "earlier"
        what, hint = self._shift_advice(symbol, tf, label, late=offset < pd.Timedelta(0))
        # Intraday bars of whole hours are also what two zones a bar apart make; days are off the
        # UTC grid in any zone but UTC, which the loader refuses.
        if step < pd.Timedelta(days=1) and step % pd.Timedelta(hours=1) == pd.Timedelta(0):
            what += f"; or the two were read in time zones {step // pd.Timedelta(hours=1)} h apart (--tz)"
            hint += "; if the stored series was imported with another --tz (or none), import this file with that one"
        return DataError(source, 1, f"{moved[offset]} of this file's bars equal the stored {series} bar one bar "
                         f"{word}: {what}; nothing was written", hint, code="DATA_SHIFTED")

    def _shift_advice(self, symbol: str, tf: str, label: str, *, late: bool) -> tuple[str, str]:
        """What a file stamped one bar off the stored bars is, and the way out that _check_label
        lets through: a series keeps the label it was first imported with, so `--label X` is a
        way out only for a series that recorded none (stored before labels were)."""
        off, back = ("later", "earlier") if late else ("earlier", "later")
        # Stamps one bar later than the opens are the closes, one bar earlier than the closes the opens.
        fits = {(True, "open"): "close", (False, "close"): "open"}.get((late, label))
        what = f"this file's stamps are one bar {off} than the stored bars'"
        what += (f": it labels its bars by their {fits}; the series holds {label}-labelled bars" if fits else
                 f", which are labelled by their {label} (--label {label})")
        folder = self.folder(symbol, tf)
        if fits and self.label(symbol, tf) is None:
            return what, f"import it with --label {fits}"
        restamp = f"re-stamp the file one bar {back} (to its bars' {label}s) and import it again"
        if fits:
            return what, f"{restamp}, or remove {folder} and import the whole series with --label {fits}"
        return what, f"{restamp}; if the stored series is the mislabelled one, remove {folder} and import it again"

    def read(self, symbol: str, tf: str, start: str | None = None, end: str | None = None) -> pd.DataFrame:
        """Bars with start <= ts < end (ISO dates or timestamps, UTC)."""
        lo = pd.Timestamp(start, tz="UTC") if start else None
        hi = pd.Timestamp(end, tz="UTC") if end else None
        step = parse_tf(tf)
        with self._locked(symbol, tf, reading=True):
            self.check_finished(symbol, tf)
            frames = [self._checked_day(p, step, symbol, tf) for p in self._days(symbol, tf) if _day_in(p, lo, hi)]
            self.check_finished(symbol, tf)  # unlocked (a read-only store), an import may have begun meanwhile
        if not frames:
            raise DataError(str(self.root), 1, f"no stored bars for {symbol} {tf}", self.holding())
        df = pd.concat(frames).sort_index()
        _check_day_seams(df, self.folder(symbol, tf))
        if lo is not None:
            df = df[df.index >= lo]
        if hi is not None:
            df = df[df.index < hi]
        df.attrs.update(symbol=symbol, tf=canonical_tf(tf), source=str(self.folder(symbol, tf)), warnings=[])
        return df

    @contextmanager
    def _locked(self, symbol: str, tf: str, reading: bool = False) -> Iterator[None]:
        """The series' lock held for the block; DATA_BUSY when another import keeps it past LOCK_WAIT_S."""
        lock = self._lock(symbol, tf, reading)
        try:
            yield
        finally:
            if lock is not None:
                lock.release()

    def _lock(self, symbol: str, tf: str, reading: bool) -> Any:
        """The series' lock, acquired; None for a read of nothing stored (no lock file, nor store
        folder, made by a read) or of a store this user cannot write (check_finished then guards it)."""
        from filelock import FileLock, Timeout

        if reading and not self.folder(symbol, tf).is_dir():
            return None
        path = self.root / _LOCKS / f"{quote(symbol, safe='')}@{quote(canonical_tf(tf), safe='')}.lock"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = FileLock(path, timeout=LOCK_WAIT_S)
            lock.acquire()
        except Timeout:
            raise DataError(str(path), 1, f"another import of {symbol} {canonical_tf(tf)} has held the series for "
                            f"{LOCK_WAIT_S:g} s{'' if reading else '; nothing was written'}",
                            "run this again once that import has finished (an import waits for another, so "
                            "none loses the other's bars)", code="DATA_BUSY") from None
        except OSError as e:
            if reading:
                return None
            raise DataError(str(self.root), 1, f"cannot write the store: {e.strerror or e} "
                            f"({e.filename or self.root}); nothing was written",
                            "--store must name a folder you can create and write to") from None
        return lock

    def _checked_day(self, path: Path, step: pd.Timedelta, symbol: str, tf: str) -> pd.DataFrame:
        """A stored day whose bars open on the grid: older versions stored off-grid stamps, which
        resampling would bin with later bars (a bar built from prices after its close). And
        bars of its folder's day: a file copied or a folder renamed would hide its bars from reads
        of their day and show them twice, or out of order, to a read of the whole series. And
        prices the import would take: a day file changed since would trade a price of 0."""
        df = _read(path)
        if df is None:  # removed since _days listed it: a read without that day would have a hole
            raise DataError(str(path), 1, "this stored day file was removed while it was being read (an import "
                            "that failed and put the store back, or the series' folder removed meanwhile)",
                            "run the command again once nothing else writes to the store; if that day should be "
                            f"there, import the file holding {path.parent.name[5:]} again")
        i = first_off_grid(df.index, step)
        if i is not None:
            raise DataError(str(path), i + 1, f"stored {grid_message(df.index[i], step)}",
                            f"an older engine stored these bars; remove {self.folder(symbol, tf)} and import the "
                            "series again (the import now refuses off-grid bars)")
        day = path.parent.name[5:]
        elsewhere = np.flatnonzero(df.index.normalize() != pd.Timestamp(day, tz="UTC"))
        if elsewhere.size:
            raise DataError(str(path), int(elsewhere[0]) + 1, f"stored bar {df.index[elsewhere[0]]} is not of "
                            f"{day}, the day its folder names: the file was copied or its folder renamed",
                            f"remove {path.parent} and import the file holding {day} again")
        check_values(df, path)
        return df

    def list(self) -> list[Series]:
        out = []
        for symbol, tf, tf_dir in self._series():
            days = _day_files(tf_dir)
            rows = sum(_guarded(p, _rows) for p in days)
            unfinished = min(self.unfinished(symbol, tf), key=lambda u: u.running, default=None)  # killed first
            out.append(Series(symbol, tf, len(days), rows, days[0].parent.name[5:], days[-1].parent.name[5:],
                              unfinished))
        return out

    def symbols(self) -> set[str]:
        """The stored symbols, from folder names alone: a damaged day file or a misnamed folder
        does not hide them, nor stop an import of another series (they only feed a warning)."""
        self.check_root()
        return {unquote(p.parents[2].name[7:]) for p in self.root.glob("symbol=*/tf=*/date=*/part.parquet")}

    def _series(self) -> list[tuple[str, str, Path]]:
        """(symbol, tf, folder) of each series with at least one day file; a DataError for a
        folder named as the store's that the store would not have written."""
        self.check_root()
        out = []
        for d in sorted(p for p in self.root.glob("symbol=*/tf=*") if p.is_dir()):
            symbol, tf = _series_names(d)
            if _day_files(d):
                out.append((symbol, tf, d))
        return out

    def clear_leftovers(self, symbol: str, tf: str) -> list[Path]:
        """Remove, and return, the files an import of the series killed outright left (its
        process is gone): its temporary files and its `.old` copies, and the day folders it made.

        No day is lost to such a kill, so nothing needs restoring: _commit copies a stored day to
        `.old` (it never moves it away) and then renames the new file over it, so `part.parquet`
        is at every instant the whole old day or the whole new one, and `.old` is never its only
        copy. What a kill during the swap can leave is some days swapped in and some not; the
        swapped days hold the stored bars merged with the file's, so importing the file again
        completes the import (the day's `.old` copy is only the bars that file replaced)."""
        self.check_root()
        base = self.folder(symbol, tf)
        stale = [p for p in sorted((*base.glob(f"{_LABEL_FILE}.*"), *base.glob("date=*/part.parquet.*")))
                 if (m := _LEFTOVER.match(p.name)) and not _alive(int(m[1]), _token(p.name))]
        for path in stale:
            path.unlink(missing_ok=True)
            if path.parent != base:
                with suppress(OSError):  # a day folder the killed import made holds nothing else
                    path.parent.rmdir()
        return stale

    def holding(self) -> str:
        """What the store holds, for a hint (folder names only: no day file is read)."""
        held = [f"{symbol}@{tf}" for symbol, tf, _ in self._series()]
        return (f"it holds {', '.join(held)} (engine data list --store {self.root})" if held else
                f"it holds no series: engine data import FILE --symbol S --tf T --store {self.root}")


def _day_files(series: Path) -> list[Path]:
    """The series' day files, by day; a `date=` entry not named after a real day is a DataError."""
    for entry in series.glob("date=*"):
        if not _day_name(entry.name):
            raise DataError(str(entry), 1, f"{entry.name!r} is not a day of the store: the store names a day's "
                            "folder date=YYYY-MM-DD, a real UTC date, and reads no other",
                            "rename it to the day its bars open on (date=2024-01-31) or remove it")
    return sorted(series.glob("date=*/part.parquet"))


def _day_name(name: str) -> bool:
    """Whether `name` is date=YYYY-MM-DD of a real day, the one name the store gives a day."""
    text = name.removeprefix("date=")
    try:
        return date.fromisoformat(text).isoformat() == text  # not 20240131 nor 2024-W05-3
    except ValueError:
        return False


def _series_names(folder: Path) -> tuple[str, str]:
    """The symbol and timeframe a `symbol=S/tf=T` folder holds; a DataError for one the store
    would not have named so (a read of S@T looks only where folder() says)."""
    symbol, tf = unquote(folder.parent.name[7:]), unquote(folder.name[3:])
    try:
        right = ParquetStore(folder.parent.parent).folder(check_symbol(symbol), tf)
    except ValueError as e:  # a bad symbol, or a TimeframeError
        why, hint = str(e), "rename it to symbol=SYMBOL/tf=TIMEFRAME as `engine data import` writes them, or remove it"
    else:
        if right == folder:
            return symbol, canonical_tf(tf)
        name = f"{right.parent.name}/{right.name}"
        why, hint = f"the store keeps {symbol} {canonical_tf(tf)} in {name}", f"rename it to {name} or remove it"
    raise DataError(str(folder), 1, f"{folder.parent.name}/{folder.name} is not a series folder the store reads: "
                    f"{why}", hint)


def _alive(pid: int, token: str, started: int | None = None) -> bool:
    """Whether the process that wrote the files of `token` (`.<pid>-<hex>`) runs, so they are still
    in use; True when unsure. Our own pid is another process's (before a restart, in a container
    where each is PID 1) unless we made the token; a live `pid` that started at another time than
    `started` is another process given that pid."""
    if token in _OURS:
        return True
    if pid == os.getpid():
        return False
    if os.name != "posix":  # on Windows signal 0 is not a probe
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        pass
    now = _start_time(pid)
    return started is None or now is None or now == started


def _start_time(pid: int) -> int | None:
    """When process `pid` started (clock ticks since boot, /proc/<pid>/stat field 22); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        return int(stat[stat.rindex(")") + 2:].split()[19])  # the name, field 2, may hold spaces and ")"
    except (OSError, ValueError, IndexError):
        return None


def _token(name: str) -> str:
    """`.<pid>-<hex>` of a leftover's name (`part.parquet.<pid>-<hex>.tmp`)."""
    return "." + name.rsplit(".", 2)[-2]


def _same_import(marker_command: str, command: str) -> bool:
    """Whether the marker's command is `command`, the store aside: the marker lies in the store, which
    may have been named otherwise (a relative path, an older engine's) or moved since."""
    try:
        return _without_store(shlex.split(marker_command)) == _without_store(shlex.split(command))
    except ValueError:  # not a command line: never this one
        return False


def _without_store(words: list[str]) -> list[str]:
    out, skip = [], False
    for word in words:
        if skip or word == "--store" or word.startswith("--store="):
            skip = word == "--store"
            continue
        out.append(word)
    return out


def _read(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    df = _guarded(path, pd.read_parquet)
    if not isinstance(df.index, pd.DatetimeIndex):
        raise _unreadable(path, "it holds no bar times (its index is not a datetime)")
    if df.index.tz is None:  # the store writes UTC: a naive time could be of any zone
        raise _unreadable(path, "its bar times have no zone (the store writes them in UTC)")
    text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if text:
        raise _unreadable(path, f"its column `{text[0]}` holds {df[text[0]].dtype}, not numbers")
    df.index = df.index.tz_convert("UTC").as_unit("ns")
    steps = np.diff(df.index.asi8)
    back = np.flatnonzero(steps <= 0)
    if back.size:  # a read would show a bar twice (resampling counts its volume twice) or out of order
        i = int(back[0]) + 1
        what = "repeats the bar before it" if steps[i - 1] == 0 else "is earlier than the bar before it"
        raise DataError(str(path), i + 1, f"this stored day file's bar {df.index[i]} {what}: the file was changed "
                        "after it was imported", f"remove that day's folder ({path.parent}) and import the file "
                        f"holding {path.parent.name[5:]} again")
    return df


def _guarded(path: Path, read: Callable[[Path], T]) -> T:
    """read(path), a damaged day file (truncated, overwritten, not parquet) as a DataError naming it."""
    import pyarrow as pa

    try:
        return read(path)
    except (OSError, ValueError, pa.ArrowException) as e:
        raise _unreadable(path, str(e).strip()) from None


def _unreadable(path: Path, why: str) -> DataError:
    return DataError(str(path), 1, f"cannot read this stored day file: {why}",
                     f"remove that day's folder ({path.parent}) and import the file holding "
                     f"{path.parent.name[5:]} again, or remove the series' folder and import it all again")


def _check_grid(df: pd.DataFrame, step: pd.Timedelta, source: str) -> None:
    """The store takes only bars on the grid (engine.data.loader checks files; this, any frame)."""
    i = first_off_grid(df.index, step)
    if i is not None:
        raise DataError(source, 1, grid_message(df.index[i], step) + "; nothing was written", GRID_HINT)


def _merged_days(df: pd.DataFrame, base: Path) -> tuple[list[tuple[Path, pd.DataFrame]], ImportResult]:
    """The day files to write (each merged with the stored day; unchanged days left out), and
    what the write replaces. Reads only."""
    replaced = differed = 0
    first: pd.Timestamp | None = None
    out: list[tuple[Path, pd.DataFrame]] = []
    for day, part in df.groupby(df.index.normalize()):
        path = base / f"date={day:%Y-%m-%d}" / "part.parquet"
        old = _read(path)
        if old is None:
            out.append((path, part.sort_index()))
            continue
        same_ts = old.index.intersection(part.index)
        replaced += len(same_ts)
        changed = _changed(old.loc[same_ts, part.columns], part.loc[same_ts])
        differed += len(changed)
        first = changed[0] if len(changed) and first is None else first
        merged = pd.concat([old[~old.index.isin(part.index)], part]).sort_index()
        if not _same(old, merged):
            out.append((path, merged))
    return out, ImportResult(len(df), replaced, differed, first, len(out))


def _check_seams(df: pd.DataFrame, days: list[tuple[Path, pd.DataFrame]], stored: list[Path], source: str) -> None:
    """The file's bars against the stored bars they will sit next to, as the import checks them
    against each other: a file in other units (x100, pips) appended to a series is refused at its
    line, before anything is written. Each day it changes, with the last bar before it and the
    first stored bar after it."""
    written = dict(days)
    order = sorted({*stored, *written}, key=lambda p: p.parent.name)
    for k, path in enumerate(order):
        if path not in written:
            continue
        parts = [_edge(order[k - 1], written, -1)] if k else []
        parts.append(written[path])
        if k + 1 < len(order) and order[k + 1] not in written:
            parts.append(_edge(order[k + 1], written, 0))
        seam = pd.concat([p for p in parts if p is not None])
        i = first_jump(seam)
        if i is not None:
            raise _seam_error(df, seam, i, source)


def _edge(path: Path, written: dict[Path, pd.DataFrame], at: int) -> pd.DataFrame | None:
    """The first (`at` 0) or last (-1) bar of a day, as the write leaves it."""
    day = written.get(path)
    day = _read(path) if day is None else day
    return None if day is None or day.empty else day.iloc[[at]]


def _seam_error(df: pd.DataFrame, seam: pd.DataFrame, i: int, source: str) -> DataError:
    at, before = seam.index[i], seam.index[i - 1]
    mine = at if at in df.index else before
    line = bar_line(Path(source), df.index.get_loc(mine)) if mine in df.index else 1
    which = "its open is" if mine == at else "the stored bar after it opens"
    return DataError(source, line, f"price jump against the stored series: {which} {moved_by(seam, i)} the close "
                     f"of the bar before ({before}: close={seam['close'].iat[i - 1]:g}, {at}: open="
                     f"{seam['open'].iat[i]:g}); nothing was written", JUMP_HINT)


def _check_day_seams(df: pd.DataFrame, base: Path) -> None:
    """A day's first bar against the last bar of the day before (a day file edited since, or a
    series an older engine stored): each day is checked on its own as it is read."""
    i = first_jump(df)
    if i is None:
        return
    at = df.index[i]
    path = base / f"date={at:%Y-%m-%d}" / "part.parquet"
    row = int((df.index[:i] >= at.normalize()).sum()) + 1
    raise DataError(str(path), row, f"price jump: the open is {moved_by(df, i)} the close of the bar before "
                    f"({df.index[i - 1]}: close={df['close'].iat[i - 1]:g}, {at}: open={df['open'].iat[i]:g})",
                    f"{JUMP_HINT}; then import that day's file again")


def _label_file(base: Path, label: str) -> list[tuple[Path, str]]:
    """The series' label file to write: only for a series that has none yet."""
    path = base / _LABEL_FILE
    return [] if path.exists() else [(path, label + "\n")]


def _moves(stored: pd.DataFrame, df: pd.DataFrame, step: pd.Timedelta) -> dict[pd.Timedelta, int]:
    """{offset: how many of the file's bars equal the stored bar at their stamp + offset} for the (at
    most 3) commonest offsets a mislabelled file (one bar) or another zone (quarter hours up to
    _ZONE_REACH) moves bars by, when those bars outnumber the ones equal at their own stamp and are
    at least half of those with a stored bar at one of these offsets; else empty. Only bars whose
    values occur once in the file and once in `stored` count: a quiet market's bars equal their
    neighbours, which says nothing about where they belong. One join on the values, not one
    comparison per offset."""
    mine, theirs = _distinct(df, df.columns), _distinct(stored, df.columns)
    span = stored.index.asi8
    mine = mine[(mine >= span.min()) & (mine <= span.max())]  # bars past the stored ones are new
    at = theirs.index.get_indexer(mine.index)
    found = at >= 0
    counts = pd.Series(theirs.to_numpy()[at[found]] - mine.to_numpy()[found]).value_counts()
    same = int(counts.get(0, 0))
    # Commonest first. A file across a daylight-saving change moves by two offsets; more would be chance.
    moved = dict(islice(((pd.Timedelta(int(d)), int(n)) for d, n in counts.items()
                         if d and _moves_by(pd.Timedelta(int(d)), step)), 3))
    if sum(moved.values()) <= same:
        return {}
    stamps = mine.to_numpy()
    near = np.zeros(len(stamps), dtype=bool)
    for offset in moved:
        near |= np.isin(stamps + offset.value, span)
    return moved if 2 * sum(moved.values()) >= near.sum() else {}


def _distinct(frame: pd.DataFrame, columns: pd.Index) -> pd.Series:
    """Each bar's stamp (ns) by a hash of its values, for the values that occur only once; values
    as floats, so an integer volume stored as a float is the same bar (NaN equals NaN)."""
    values = pd.DataFrame(frame[columns].to_numpy(dtype=float))
    stamps = pd.Series(frame.index.as_unit("ns").asi8, index=pd.util.hash_pandas_object(values, index=False).to_numpy())
    return stamps[~stamps.index.duplicated(keep=False)]


def _moves_by(offset: pd.Timedelta, step: pd.Timedelta) -> bool:
    """Whether bars `offset` from where they are stored could be one bar off or in another zone."""
    return abs(offset) == step or (abs(offset) <= _ZONE_REACH and offset % _ZONE_STEP == pd.Timedelta(0))


def _moved_text(moved: dict[pd.Timedelta, int], series: str) -> str:
    """'120 of this file's bars equal the stored S bars 2 h later and 80 3 h later', `moved` most first."""
    (offset, n), *rest = moved.items()
    return (f"{n} of this file's bars equal the stored {series} bars {_away(offset)}"
            + "".join(f" and {k} {_away(o)}" for o, k in rest))


def _away(offset: pd.Timedelta) -> str:
    hours, minutes = divmod(int(abs(offset).total_seconds()) // 60, 60)
    amount = " ".join(f"{n} {unit}" for n, unit in ((hours, "h"), (minutes, "min")) if n)
    return f"{amount} {'later' if offset > pd.Timedelta(0) else 'earlier'}"


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _changed(old: pd.DataFrame, new: pd.DataFrame) -> pd.DatetimeIndex:
    """Timestamps whose stored bar is not the incoming one (NaN equals NaN)."""
    a, b = old.to_numpy(dtype=float), new.to_numpy(dtype=float)
    differs = ((a != b) & ~(pd.isna(a) & pd.isna(b))).any(axis=1)
    return old.index[differs]


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return a.shape == b.shape and list(a.columns) == list(b.columns) and a.index.equals(b.index) and a.equals(b)


def _day_in(path: Path, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> bool:
    day = pd.Timestamp(path.parent.name[5:], tz="UTC")
    return (lo is None or day + pd.Timedelta(days=1) > lo) and (hi is None or day < hi)


def _commit(files: list[tuple[Path, pd.DataFrame | str]], base: Path, command: str) -> None:
    """Write every file to a temporary one beside its place, then swap them all in; on any
    failure, Ctrl-C included, put back what was there and remove what this made. While it swaps,
    an unfinished marker in `base` names `command`: a kill leaves it (see ParquetStore.unfinished)."""
    token = f".{os.getpid()}-{secrets.token_hex(4)}"
    _OURS.add(token)
    try:
        _swap(files, base, command, token)
    finally:
        _OURS.discard(token)  # from here on a marker it left is a killed (failed) import's


def _swap(files: list[tuple[Path, pd.DataFrame | str]], base: Path, command: str, token: str) -> None:
    made: list[Path] = []  # folders, temporary files and backups this commit created, in order
    swapped: list[tuple[Path, Path | None]] = []  # (file, the backup of what it replaced)
    marker = base / f"{_UNFINISHED}{token}"
    try:
        staged = [(_stage(path, content, token, made), path) for path, content in files]
        if staged:  # written before the first swap: a kill from here on can leave the series part new
            _write_marker(marker, command)
        for tmp, path in staged:
            backup = path.with_name(path.name + token + ".old") if path.exists() else None
            if backup is not None:
                made.append(backup)
                # A copy, never a move: `path` is only ever replaced atomically, so a kill at any
                # point leaves each day whole, old or new (clear_leftovers then removes the copy).
                shutil.copy2(path, backup)
            swapped.append((path, backup))
            os.replace(tmp, path)
    except BaseException:
        _undo(swapped, made, marker)
        raise
    marker.unlink(missing_ok=True)  # every file swapped in: the backups left are only copies
    for _, backup in swapped:
        if backup is not None:
            backup.unlink()


def _write_marker(marker: Path, command: str) -> None:
    """The marker, on disk with its directory entry before any swap: after a power loss, a renamed day
    must not be there without it."""
    started = _start_time(os.getpid())
    with marker.open("w", encoding="utf-8") as f:
        f.write(command + "\n" + (f"started {started}\n" if started is not None else ""))
        f.flush()
        os.fsync(f.fileno())
    if os.name == "posix":  # a directory cannot be opened for fsync on Windows
        fd = os.open(marker.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _stage(path: Path, content: pd.DataFrame | str, token: str, made: list[Path]) -> Path:
    missing: list[Path] = []
    for folder in (path.parent, *path.parent.parents):
        if folder.is_dir():
            break
        if folder.exists():
            raise NotADirectoryError(errno.ENOTDIR, "a file is where the store needs a folder", str(folder))
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir()
        made.append(folder)
    tmp = path.with_name(path.name + token + ".tmp")  # not part.parquet: no reader sees it
    made.append(tmp)
    if isinstance(content, str):
        tmp.write_text(content, encoding="utf-8")
    else:
        content.to_parquet(tmp)
    return tmp


def _undo(swapped: list[tuple[Path, Path | None]], made: list[Path], marker: Path) -> None:
    """Best effort: each step on its own, so one that fails does not stop the others. The
    unfinished marker goes only when every swapped file was put back: else the series may be
    partial, and the marker says so."""
    restored = True
    for path, backup in reversed(swapped):
        try:
            if backup is not None:
                os.replace(backup, path)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            restored = False
    if restored:
        with suppress(OSError):
            marker.unlink(missing_ok=True)
    for p in reversed(made):  # files before the folders that hold them
        with suppress(OSError):
            if p.is_dir():
                p.rmdir()
            else:
                p.unlink(missing_ok=True)
