"""A run's data-set names: a bundled data set (`crypto_spot/ETH_BTC-5m`) or a series
imported into the parquet store (`store:ETH/BTC@5m`, read from the domain's store folder).

`describe` says what a name is (symbol, domain, timeframe) without loading bars, so the
run config can be checked before anything runs; `load` gives the bars indexed by open.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.domain import Domain

if TYPE_CHECKING:
    import pandas as pd

STORE_PREFIX = "store:"


class SourceError(ValueError):
    """A data-set name that names nothing usable."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class Source:
    name: str
    symbol: str
    domain: Domain | None  # None: a stored symbol the contract catalogue does not know
    tf: str


def store_key(name: str) -> tuple[str, str] | None:
    """(symbol, tf) of a `store:SYMBOL@TF` name, None for a bundled name. Spaces around the
    parts are dropped (`store: ETH/BTC@5m`): no symbol or timeframe holds one."""
    if not name.startswith(STORE_PREFIX):
        return None
    symbol, at, tf = (part.strip() for part in name[len(STORE_PREFIX):].rpartition("@"))
    if not at or not symbol or not tf:
        raise SourceError(f"bad stored data set {name!r}: write it as store:SYMBOL@TF, e.g. store:ETH/BTC@5m")
    return symbol, tf


def check_name(name: str) -> str:
    """The name with a canonical timeframe (store:ETH/BTC@60m -> @1h); SourceError when malformed
    or not bundled. Needs neither the store nor pandas: the schema check of the run config."""
    from engine.data.bundled import DATASETS
    from engine.data.timeframes import TimeframeError, canonical_tf
    from engine.diagnostics import did_you_mean

    key = store_key(name)
    if key is None:
        if name not in DATASETS:
            hint = did_you_mean(name, DATASETS) or f"bundled: {', '.join(DATASETS)}"
            raise SourceError(f"unknown data set {name!r}; {hint}; or an imported series as store:SYMBOL@TF")
        return name
    try:
        return f"{STORE_PREFIX}{key[0]}@{canonical_tf(key[1])}"
    except TimeframeError as e:
        raise SourceError(f"{name!r}: {e}") from None


def describe(name: str, store_root: str | Path) -> Source:
    """What a checked name is; SourceError when the store does not hold it."""
    from engine.data import bundled

    key = store_key(name)
    if key is None:
        d = bundled.get(name)
        return Source(name, d.symbol, d.domain, d.tf)
    from engine.data import DEFAULT_STORE
    from engine.data.errors import DataError
    from engine.data.store import ParquetStore
    from engine.data.timeframes import canonical_tf

    symbol, tf = key[0], canonical_tf(key[1])
    store = ParquetStore(store_root)
    if store.root.is_file():
        raise SourceError(f"the store {store_root} is a file, not a store folder",
                          f"point store: at the folder `engine data import --store` wrote (default {DEFAULT_STORE})")
    try:  # a damaged day file: said at the config's line, naming the file
        if store.columns(symbol, tf) is None:
            raise SourceError(f"the store {store_root} has no {symbol} {tf} series", store.holding())
        store.check_finished(symbol, tf)  # a killed import's half: refused, not traded
    except DataError as e:
        raise SourceError(f"{e.file}: {e.message}", e.hint) from None
    return Source(name, symbol, _catalogue_domain(symbol), tf)


def _catalogue_domain(symbol: str) -> Domain | None:
    from adapters.paper.catalogue import Catalogue

    cat = Catalogue.load()
    return cat.get(symbol).domain if symbol in cat else None


def load(name: str, store_root: str | Path) -> pd.DataFrame:
    """The bars of a data set as a validated frame indexed by bar open."""
    from engine.data import bundled

    key = store_key(name)
    if key is None:
        return bundled.load(name)
    from engine.data.store import ParquetStore

    return ParquetStore(store_root).read(*key)
