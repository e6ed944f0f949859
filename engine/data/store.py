"""A day-partitioned parquet store: root/symbol=S/tf=T/date=YYYY-MM-DD/part.parquet.

Re-importing overlapping data replaces the stored bars at the same timestamps (last
write wins) and says how many it replaced and how many of those had other values,
so importing the same file twice leaves the store byte-for-byte unchanged (the second
import writes no day at all). A series keeps one set of columns: a write with other
columns is refused rather than leaving NaN bid/ask/volume in the merged days. The
timeframe is stored under its canonical name (`60m` is `1h`). Each day file is
replaced atomically.

Bars are stored by their open whatever the file's stamps, and a series records the
`--label` its files were imported with (a `label` file beside its days): a write under the
other label, or one whose bars equal the stored bars one bar away, is refused before
anything is written. Either would store the same bars again one bar apart, which no
later import can undo (a replaced bar comes back, a bar only the shifted file had stays).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import pandas as pd

from engine.data import DEFAULT_STORE
from engine.data.errors import DataError
from engine.data.timeframes import canonical_tf, parse_tf

DEFAULT_ROOT = Path(DEFAULT_STORE)
_LABEL_FILE = "label"
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
class Series:
    symbol: str
    tf: str
    days: int
    rows: int
    first: str
    last: str


class ParquetStore:
    def __init__(self, root: str | Path = DEFAULT_ROOT):
        self.root = Path(root)

    def folder(self, symbol: str, tf: str) -> Path:
        """The series' folder: removing it removes the series."""
        # quote() keeps `ETH/BTC` a single path segment
        return self.root / f"symbol={quote(symbol, safe='')}" / f"tf={quote(canonical_tf(tf), safe='')}"

    def _days(self, symbol: str, tf: str) -> list[Path]:
        return sorted(self.folder(symbol, tf).glob("date=*/part.parquet"))

    def label(self, symbol: str, tf: str) -> str | None:
        """The label the series' files were imported with; None for a new series (or one stored
        before labels were recorded)."""
        path = self.folder(symbol, tf) / _LABEL_FILE
        return path.read_text(encoding="utf-8").strip() if path.exists() else None

    def columns(self, symbol: str, tf: str) -> list[str] | None:
        """The stored series' columns, or None when nothing is stored."""
        import pyarrow.parquet as pq

        days = self._days(symbol, tf)
        return [c for c in pq.read_schema(days[0]).names if c != "ts" and not c.startswith("__")] if days else None

    def write(self, df: pd.DataFrame, symbol: str, tf: str, label: str = "open") -> ImportResult:
        """Merge open-stamped bars `df` into the series; `label` is what the file's stamps marked."""
        check_symbol(symbol)
        source = str(df.attrs.get("source", "<frame>"))
        self._check_columns(df, symbol, tf, source)
        self._check_label(symbol, tf, label, source)
        # A frame without attrs: they hold Diagnostics, which pandas deep-copies on every copy,
        # groupby and concat (minutes for a file with many gap warnings).
        df = pd.DataFrame(df, copy=False)
        self._check_shift(df, symbol, tf, label, source)
        base = self.folder(symbol, tf)
        try:
            _record_label(base, label)
            return self._write_days(df, base)
        except OSError as e:
            raise DataError(str(self.root), 1, f"cannot write the store: {e.strerror or e} ({e.filename or self.root})",
                            "--store must name a folder you can create and write to") from None

    def _check_columns(self, df: pd.DataFrame, symbol: str, tf: str, source: str) -> None:
        stored = self.columns(symbol, tf)
        if stored is not None and sorted(stored) != sorted(df.columns):
            raise DataError(source, 1, f"columns {list(df.columns)} differ from the stored {symbol} "
                            f"{canonical_tf(tf)} series' {stored}; merging them would leave missing values",
                            "import it under another symbol or timeframe, or give the same columns "
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
        """Refuse bars that are the stored bars one bar away: the file is stamped at the other end."""
        if df.empty:
            return
        step = parse_tf(tf)
        lo, hi = df.index[0] - step, df.index[-1] + step
        old = [f for f in (_read(p) for p in self._days(symbol, tf) if _day_in(p, lo, hi)) if f is not None]
        if not old:
            return
        stored = pd.concat(old)
        same = _matching(stored, df, pd.Timedelta(0))[0]
        for offset, word in ((step, "later"), (-step, "earlier")):
            hits, near = _matching(stored, df, offset)
            # Quiet bars equal their neighbours too, but then also the stored bar at their own stamp.
            if hits > same and 2 * hits >= near:
                what, hint = self._shift_advice(symbol, tf, label, late=offset < pd.Timedelta(0))
                raise DataError(source, 1, f"{hits} of this file's bars equal the stored {symbol} {canonical_tf(tf)} "
                                f"bar one bar {word}: {what}; nothing was written", hint, code="DATA_SHIFTED")

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

    def _write_days(self, df: pd.DataFrame, base: Path) -> ImportResult:
        replaced = differed = days_written = 0
        first: pd.Timestamp | None = None
        for day, part in df.groupby(df.index.normalize()):
            path = base / f"date={day:%Y-%m-%d}" / "part.parquet"
            old = _read(path)
            if old is not None:
                same_ts = old.index.intersection(part.index)
                replaced += len(same_ts)
                changed = _changed(old.loc[same_ts, part.columns], part.loc[same_ts])
                differed += len(changed)
                first = changed[0] if len(changed) and first is None else first
                merged = pd.concat([old[~old.index.isin(part.index)], part]).sort_index()
                if _same(old, merged):
                    continue
            else:
                merged = part.sort_index()
            _write_atomic(merged, path)
            days_written += 1
        return ImportResult(len(df), replaced, differed, first, days_written)

    def read(self, symbol: str, tf: str, start: str | None = None, end: str | None = None) -> pd.DataFrame:
        """Bars with start <= ts < end (ISO dates or timestamps, UTC)."""
        lo = pd.Timestamp(start, tz="UTC") if start else None
        hi = pd.Timestamp(end, tz="UTC") if end else None
        frames = [f for f in (_read(p) for p in self._days(symbol, tf) if _day_in(p, lo, hi)) if f is not None]
        if not frames:
            raise DataError(str(self.root), 1, f"no stored bars for {symbol} {tf}", self.holding())
        df = pd.concat(frames).sort_index()
        if lo is not None:
            df = df[df.index >= lo]
        if hi is not None:
            df = df[df.index < hi]
        df.attrs.update(symbol=symbol, tf=canonical_tf(tf), source=str(self.folder(symbol, tf)), warnings=[])
        return df

    def list(self) -> list[Series]:
        out = []
        for tf_dir in sorted(self.root.glob("symbol=*/tf=*")):
            days = sorted(tf_dir.glob("date=*/part.parquet"))
            if not days:
                continue
            rows = sum(_rows(p) for p in days)
            out.append(Series(unquote(tf_dir.parent.name[7:]), unquote(tf_dir.name[3:]), len(days), rows,
                              days[0].parent.name[5:], days[-1].parent.name[5:]))
        return out

    def holding(self) -> str:
        """What the store holds, for a hint."""
        held = [f"{s.symbol}@{s.tf}" for s in self.list()]
        return (f"it holds {', '.join(held)} (engine data list --store {self.root})" if held else
                f"it holds no series: engine data import FILE --symbol S --tf T --store {self.root}")


def _read(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    df = pd.read_parquet(path)
    df.index = df.index.as_unit("ns")
    return df


def _record_label(base: Path, label: str) -> None:
    path = base / _LABEL_FILE
    if not path.exists():
        base.mkdir(parents=True, exist_ok=True)
        path.write_text(label + "\n", encoding="utf-8")


def _matching(stored: pd.DataFrame, df: pd.DataFrame, offset: pd.Timedelta) -> tuple[int, int]:
    """How many incoming bars equal the stored bar at their stamp + offset, and how many have one there."""
    at = df.index + offset
    held = at.isin(stored.index)
    mine = df[held]
    theirs = stored.loc[at[held], df.columns].set_axis(mine.index)
    return len(mine) - len(_changed(mine, theirs)), len(mine)


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


def _write_atomic(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    df.to_parquet(tmp)
    os.replace(tmp, path)
