"""Timeframe strings (`1m`, `5m`, `15m`, `1h`, `8h`, `1d`) as pandas offsets."""
from __future__ import annotations

import re

import pandas as pd

_UNITS = {"s": "s", "m": "min", "h": "h", "d": "D", "w": "W"}
_TF = re.compile(r"^(\d+)([smhdw])$")


def parse_tf(tf: str) -> pd.Timedelta:
    m = _TF.match(tf.strip())
    if not m:
        raise ValueError(f"bad timeframe {tf!r}: expected a number and one of s, m, h, d, w (e.g. 15m)")
    return pd.Timedelta(int(m.group(1)), unit=_UNITS[m.group(2)])


def tf_name(delta: pd.Timedelta) -> str:
    secs = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def infer_tf(index: pd.DatetimeIndex) -> pd.Timedelta | None:
    """The most common spacing (the median hides nothing on weekend-gapped forex)."""
    if len(index) < 2:
        return None
    diffs = index.to_series().diff().dropna()
    return diffs.mode().iloc[0]
