"""The bundled real datasets by logical name, so the default run needs no paths.

Each entry says how to load it (plain bars, separate bid+ask files merged, or
funding rates), the engine symbol it trades as, its domain, and which end of the
bar its timestamps mark (`label`). The engine indexes every bar by its OPEN, so a
close-labelled file is shifted back one interval at load; the evidence for each
label is in bundled/PROVENANCE.md. Symbols match adapters/paper/contracts.yaml.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from engine.diagnostics import did_you_mean
from engine.domain import Domain

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).with_name("bundled")
Loader = Literal["bars", "bid_ask", "funding"]
Label = Literal["open", "close"]  # which end of the bar the file's timestamp marks


@dataclass(frozen=True, slots=True)
class Dataset:
    name: str
    loader: Loader
    files: tuple[str, ...]  # relative to ROOT; bid first for bid_ask
    symbol: str
    domain: Domain
    tf: str
    label: Label = "open"

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(ROOT / f for f in self.files)


def _d(name: str, loader: Loader, files: tuple[str, ...], symbol: str, domain: Domain, tf: str,
       label: Label = "open") -> Dataset:
    return Dataset(name, loader, files, symbol, domain, tf, label)


S, P, F = Domain.CRYPTO_SPOT, Domain.CRYPTO_PERP, Domain.FOREX
DATASETS: dict[str, Dataset] = {d.name: d for d in (
    _d("crypto_spot/ETH_BTC-5m", "bars", ("crypto_spot/ETH_BTC-5m.feather",), "ETH/BTC", S, "5m"),
    _d("crypto_spot/ADA_BTC-5m", "bars", ("crypto_spot/ADA_BTC-5m.feather",), "ADA/BTC", S, "5m"),
    _d("crypto_spot/LTC_BTC-5m", "bars", ("crypto_spot/LTC_BTC-5m.feather",), "LTC/BTC", S, "5m"),
    _d("crypto_spot/XRP_ETH-5m", "bars", ("crypto_spot/XRP_ETH-5m.feather",), "XRP/ETH", S, "5m"),
    _d("crypto_perp/BTC-PERP-1m", "bars", ("crypto_perp/BTC-PERP-1m-2022-01.csv.gz",), "BTC-PERP", P, "1m",
       "close"),
    _d("crypto_perp/XRP-PERP-5m", "bars", ("crypto_perp/XRP_USDT_USDT-5m-futures.feather",), "XRP-PERP", P, "5m"),
    _d("crypto_perp/XRP-PERP-1h", "bars", ("crypto_perp/XRP_USDT_USDT-1h-futures.feather",), "XRP-PERP", P, "1h"),
    _d("crypto_perp/XRP-mark-1h", "bars", ("crypto_perp/XRP_USDT_USDT-1h-mark.feather",), "XRP-PERP", P, "1h"),
    _d("crypto_perp/XRP-mark-8h", "bars", ("crypto_perp/XRP_USDT_USDT-8h-mark.feather",), "XRP-PERP", P, "8h"),
    _d("crypto_perp/XRP-funding-8h", "funding", ("crypto_perp/XRP_USDT_USDT-8h-funding_rate.feather",),
       "XRP-PERP", P, "8h"),
    _d("forex/GBPUSD-1m", "bid_ask", ("forex/gbpusd-m1-bid-2012.csv.gz", "forex/gbpusd-m1-ask-2012.csv.gz"),
       "GBP/USD", F, "1m"),
    _d("forex/USDJPY-1m", "bid_ask", ("forex/usdjpy-m1-bid-2013.csv.gz", "forex/usdjpy-m1-ask-2013.csv.gz"),
       "USD/JPY", F, "1m"),
    _d("forex/EURUSD-1h", "bars", ("forex/EURUSD-1h.csv",), "EUR/USD", F, "1h"),
    _d("futures/6EH4-1m", "bars", ("futures/6EH4-1m-2024-01.csv.gz",), "6EH4", F, "1m", "close"),
)}


def get(name: str) -> Dataset:
    if name not in DATASETS:
        hint = did_you_mean(name, DATASETS) or f"bundled datasets: {', '.join(DATASETS)}"
        raise KeyError(f"unknown bundled dataset {name!r}; {hint}")
    return DATASETS[name]


def load(name: str) -> pd.DataFrame:
    """The dataset as a validated frame indexed by bar open (pandas is imported only here)."""
    from engine.data import loader

    d = get(name)
    if d.loader == "funding":
        return loader.load_funding(d.paths[0], d.symbol)
    if d.loader == "bid_ask":
        df = loader.load_bid_ask(d.paths[0], d.paths[1], d.symbol, d.tf)
    else:
        df = loader.load_bars(d.paths[0], d.symbol, d.tf)
    return to_open(df, d.tf, d.label)


def to_open(df: pd.DataFrame, tf: str, label: Label) -> pd.DataFrame:
    """Bars indexed by their open: close-stamped ones (`label` close) shifted back one `tf`.
    The frame's warnings keep the file's lines. Also `engine data import --label close`."""
    from engine.data.timeframes import parse_tf

    if label == "close":
        df.index = df.index - parse_tf(tf)
    return df
