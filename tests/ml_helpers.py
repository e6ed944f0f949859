"""Synthetic bars for the ML tests: a seeded random walk with a UTC DatetimeIndex of bar opens."""
from __future__ import annotations

import numpy as np
import pandas as pd


def random_bars(n: int = 600, seed: int = 0, freq: str = "5min", start: str = "2024-01-01",
                drift: float = 0.0, vol: float = 0.002, spread: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(drift, vol, n)))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0, vol, (2, n))) * close
    df = pd.DataFrame({
        "open": open_, "high": np.maximum(open_, close) + wick[0], "low": np.minimum(open_, close) - wick[1],
        "close": close, "volume": rng.uniform(10, 100, n),
    }, index=pd.date_range(start, periods=n, freq=freq, tz="UTC", name="ts"))
    if spread:
        half = rng.uniform(0.0001, 0.0005, n) * close
        df["bid"], df["ask"] = close - half, close + half
    return df


class MemoryKV(dict):
    """A state store's kv, in memory: what ModelRegistry records an activation in."""

    def put_json(self, key: str, value: object) -> None:
        self[key] = value

    def get_json(self, key: str, default: object = None) -> object:
        return self.get(key, default)
