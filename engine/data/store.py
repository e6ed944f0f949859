"""A day-partitioned parquet store: root/symbol=S/tf=T/date=YYYY-MM-DD/part.parquet.

Re-importing overlapping data de-duplicates on timestamp, last write wins, so
importing the same file twice leaves the store byte-for-byte unchanged (the
second import writes no day at all). Each day file is replaced atomically.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import pandas as pd

DEFAULT_ROOT = Path("var/store")


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int  # rows in the incoming frame
    duplicates: int  # incoming rows whose timestamp was already stored (the stored copy is dropped)
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

    def _dir(self, symbol: str, tf: str) -> Path:
        # quote() keeps `ETH/BTC` a single path segment
        return self.root / f"symbol={quote(symbol, safe='')}" / f"tf={quote(tf, safe='')}"

    def write(self, df: pd.DataFrame, symbol: str, tf: str) -> ImportResult:
        base = self._dir(symbol, tf)
        duplicates = days_written = 0
        for day, part in df.groupby(df.index.normalize()):
            path = base / f"date={day:%Y-%m-%d}" / "part.parquet"
            old = _read(path)
            if old is not None:
                duplicates += int(part.index.isin(old.index).sum())
                merged = pd.concat([old, part])
                merged = merged[~merged.index.duplicated(keep="last")].sort_index()
            else:
                merged = part.sort_index()
            if old is not None and _same(old, merged):
                continue
            _write_atomic(merged, path)
            days_written += 1
        return ImportResult(len(df), duplicates, days_written)

    def read(self, symbol: str, tf: str, start: str | None = None, end: str | None = None) -> pd.DataFrame:
        """Bars with start <= ts < end (ISO dates or timestamps, UTC)."""
        days = sorted(self._dir(symbol, tf).glob("date=*/part.parquet"))
        lo = pd.Timestamp(start, tz="UTC") if start else None
        hi = pd.Timestamp(end, tz="UTC") if end else None
        frames = [f for f in (_read(p) for p in days if _day_in(p, lo, hi)) if f is not None]
        if not frames:
            raise KeyError(f"no stored bars for {symbol} {tf} under {self.root}")
        df = pd.concat(frames).sort_index()
        if lo is not None:
            df = df[df.index >= lo]
        if hi is not None:
            df = df[df.index < hi]
        df.attrs.update(symbol=symbol, tf=tf, source=str(self._dir(symbol, tf)), warnings=[])
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


def _read(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    df = pd.read_parquet(path)
    df.index = df.index.as_unit("ns")
    return df


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return a.shape == b.shape and list(a.columns) == list(b.columns) and a.index.equals(b.index) and a.equals(b)


def _day_in(path: Path, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> bool:
    day = pd.Timestamp(path.parent.name[5:], tz="UTC")
    return (lo is None or day + pd.Timedelta(days=1) > lo) and (hi is None or day < hi)


def _write_atomic(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    clean = df.copy()
    clean.attrs = {}  # attrs hold Diagnostics; they are not data
    clean.to_parquet(tmp)
    os.replace(tmp, path)
