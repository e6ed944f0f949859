"""Bars in, a training table out: the bundled data sets by name, and features joined to labels.

Loading goes through engine.data.loader (validation, file:row errors). The
catalogue below names the bundled files that are OHLCV bars a filter can be
trained on (funding-rate and mark-price files are not).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from strategies.ml.config import MLConfig, RegimeConfig
from strategies.ml.features import build_features
from strategies.ml.labels import make_labels

BUNDLED = Path(__file__).resolve().parents[2] / "engine" / "data" / "bundled"


@dataclass(frozen=True)
class DataSet:
    name: str
    symbol: str
    tf: str
    domain: str
    files: tuple[str, ...]  # one bars file, or (bid, ask)


CATALOGUE: tuple[DataSet, ...] = (
    DataSet("ADA_BTC-5m", "ADA/BTC", "5m", "crypto_spot", ("crypto_spot/ADA_BTC-5m.feather",)),
    DataSet("ETH_BTC-5m", "ETH/BTC", "5m", "crypto_spot", ("crypto_spot/ETH_BTC-5m.feather",)),
    DataSet("LTC_BTC-5m", "LTC/BTC", "5m", "crypto_spot", ("crypto_spot/LTC_BTC-5m.feather",)),
    DataSet("XRP_ETH-5m", "XRP/ETH", "5m", "crypto_spot", ("crypto_spot/XRP_ETH-5m.feather",)),
    DataSet("BTC-PERP-1m", "BTC-PERP", "1m", "crypto_perp", ("crypto_perp/BTC-PERP-1m-2022-01.csv.gz",)),
    DataSet("XRP_USDT-5m", "XRP/USDT:USDT", "5m", "crypto_perp",
            ("crypto_perp/XRP_USDT_USDT-5m-futures.feather",)),
    DataSet("EURUSD-1h", "EURUSD", "1h", "forex", ("forex/EURUSD-1h.csv",)),
    DataSet("GBPUSD-1m", "GBPUSD", "1m", "forex",
            ("forex/gbpusd-m1-bid-2012.csv.gz", "forex/gbpusd-m1-ask-2012.csv.gz")),
    DataSet("USDJPY-1m", "USDJPY", "1m", "forex",
            ("forex/usdjpy-m1-bid-2013.csv.gz", "forex/usdjpy-m1-ask-2013.csv.gz")),
    DataSet("6EH4-1m", "6EH4", "1m", "futures", ("futures/6EH4-1m-2024-01.csv.gz",)),
)


def find(name_or_symbol: str, tf: str | None = None) -> DataSet | None:
    """A catalogue entry by data-set name, or by symbol (and timeframe)."""
    key = name_or_symbol.lower()
    for ds in CATALOGUE:
        if ds.name.lower() == key:
            return ds
    for ds in CATALOGUE:
        if ds.symbol.lower() == key and (tf is None or ds.tf == tf):
            return ds
    return None


def load_dataset(ds: DataSet) -> pd.DataFrame:
    from engine.data.loader import load_bars, load_bid_ask

    paths = [BUNDLED / f for f in ds.files]
    if len(paths) == 2:
        return load_bid_ask(paths[0], paths[1], symbol=ds.symbol, tf=ds.tf)
    return load_bars(paths[0], symbol=ds.symbol, tf=ds.tf)


def load(name_or_path: str, tf: str | None = None) -> tuple[str, str, pd.DataFrame]:
    """(symbol, tf, bars) for a catalogue name/symbol or a file path."""
    from engine.data.loader import load_bars

    ds = find(name_or_path, tf)
    if ds is not None:
        return ds.symbol, ds.tf, load_dataset(ds)
    bars = load_bars(name_or_path, tf=tf)
    return Path(name_or_path).name.split("-")[0], bars.attrs.get("tf") or tf or "?", bars


def training_frame(bars: pd.DataFrame, cfg: MLConfig,
                   regime_cfg: RegimeConfig | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(X, labels) on the rows where the label is defined and the primary features are warm."""
    X = build_features(bars, cfg.features, regime_cfg)
    lab = make_labels(bars, cfg.labels)
    # Warm once the slowest primary indicators are; other NaNs (HTF warm-up, no volume) stay:
    # xgboost treats NaN as missing.
    warm = [f"ema{max(cfg.features.ema_windows)}_dist", "adx"]
    keep = lab["y"].notna() & X[warm].notna().all(axis=1)
    return X[keep], lab[keep]
