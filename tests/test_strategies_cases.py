"""Shared fixtures of the strategy tests (no tests here): real bundled bars and, per
strategy class, parameters with windows shrunk so the whole set stays fast. Shrinking
happens through params only; every code path is the production one."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from engine.data.loader import load_bars
from strategies.base import Strategy
from strategies.registry import CLASSES, strategy_class

BUNDLED = Path(__file__).resolve().parents[1] / "engine" / "data" / "bundled"
DATASETS = {
    "eurusd_1h": BUNDLED / "forex" / "EURUSD-1h.csv",
    "ethbtc_5m": BUNDLED / "crypto_spot" / "ETH_BTC-5m.feather",
}

_DECAY = dict(decay_span=200)
CASES: dict[str, dict] = {
    "VolScaleStrategy": dict(vol_window=96),
    "WedThuStrategy": dict(vol_window=96),
    "EmaVolStrategy": dict(vol_window=96, fast_ema_window=12, **_DECAY),
    "AccelVolStrategy": dict(vol_window=96, fast_ema_window=12, diff_multiplier=0.5, **_DECAY),
    "BreakVolStrategy": dict(vol_window=96, breakout_window=48, smooth_window=6, **_DECAY),
    "BlockVolStrategy": dict(vol_window=96, block_window=24, smooth_window=6, **_DECAY),
    "BuySellVolStrategy": dict(vol_window=96, volume_window=12, smooth_window=6),
    "RevStrategy": dict(vol_window=96, reversal_window=6, reversal_threshold=0.3),
    "OrthAlphaStrategy": dict(vol_window=96, forward_window=12, regression_window=150, fast_ema_window=12,
                              **_DECAY),
    "WeightedOrthAlphaStrategy": dict(vol_window=96, forward_window=12, regression_window=150,
                                      fast_ema_window=12, **_DECAY),
}
assert set(CASES) == set(CLASSES), "every registered strategy needs a test case"


@lru_cache(maxsize=None)
def _load(name: str) -> pd.DataFrame:
    return load_bars(DATASETS[name])


def bars(name: str, strategy: str | None = None) -> pd.DataFrame:
    """A fresh copy of a bundled data set, with a taker-buy proxy for BuySellVol.

    No bundled data has Binance's taker_buy_base_vol, so BuySellVol's maths is exercised on
    a deterministic proxy derived from the real bars (volume x close location in the bar's
    range). It is a test input only; the strategy itself refuses bars without the column."""
    df = _load(name).copy()
    if strategy == "BuySellVolStrategy":
        rng = (df["high"] - df["low"]).where(df["high"] > df["low"])
        df["taker_buy_base_vol"] = df["volume"] * ((df["close"] - df["low"]) / rng).fillna(0.5)
    return df


def make(name: str, weight: float = 1.0, **overrides) -> Strategy:
    return strategy_class(name)({**CASES[name], **overrides}, weight=weight, name=name)
