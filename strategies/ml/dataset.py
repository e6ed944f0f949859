"""Bars in, a training table out: bundled data sets (engine.data.bundled), series imported
into the parquet store (`store:SYMBOL@TF`, resolved as a run config's data sets are) or
files, and features joined to labels."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.data.store import DEFAULT_ROOT
from strategies.ml.config import MLConfig, RegimeConfig
from strategies.ml.features import build_features
from strategies.ml.labels import make_labels


def bar_datasets() -> list[str]:
    """Bundled data sets a filter can be trained on (OHLCV bars, not funding or mark prices)."""
    from engine.data.bundled import DATASETS

    return [n for n, d in DATASETS.items() if d.loader != "funding" and "mark" not in n]


def resolve(name: str, tf: str | None = None) -> str | None:
    """A bundled data-set name from a name, its short form (ETH_BTC-5m) or a symbol (+ tf)."""
    from engine.data.bundled import DATASETS
    from engine.data.timeframes import canonical_tf

    names = bar_datasets()
    if name in DATASETS:
        return name
    short = [n for n in names if n.split("/", 1)[1].lower() == name.lower()]
    by_symbol = [n for n in names if DATASETS[n].symbol.lower() == name.lower()
                 and (tf is None or DATASETS[n].tf == canonical_tf(tf))]  # 60m is 1h
    found = short or by_symbol
    return found[0] if len(found) == 1 else None


def load(name_or_path: str, tf: str | None = None,
         store_root: str | Path = DEFAULT_ROOT) -> tuple[str, str, pd.DataFrame]:
    """(symbol, tf, bars) for a bundled data set, a `store:SYMBOL@TF` series or a bars file."""
    from engine.data import bundled, sources
    from engine.data.loader import load_bars

    if name_or_path.startswith(sources.STORE_PREFIX):
        return _load_stored(name_or_path, tf, Path(store_root))
    name = resolve(name_or_path, tf)
    if name is not None:
        d = bundled.get(name)
        return d.symbol, d.tf, bundled.load(name)
    if not Path(name_or_path).exists():
        raise KeyError(_unknown(name_or_path, tf))
    bars = load_bars(name_or_path, tf=tf)
    return Path(name_or_path).name.split("-")[0], bars.attrs.get("tf") or tf or "?", bars


def _unknown(name: str, tf: str | None) -> str:
    """Why `name` found nothing: a symbol bundled at other timeframes than `tf` names those, as
    the symbol itself is right."""
    from engine.data.bundled import DATASETS

    other = sorted({DATASETS[n].tf for n in bar_datasets() if DATASETS[n].symbol.lower() == name.lower()})
    if other and tf is None:
        return f"{name} is bundled at {', '.join(other)}: say which with --tf {' or '.join(other)}"
    if other:
        return (f"{name} is bundled at {', '.join(other)}, not {tf}: give --tf {' or '.join(other)}, or its bars "
                f"at {tf} as --data (a file, or store:{name}@{tf} after `engine data import`)")
    return (f"no bundled data set or file {name!r}; bundled: {', '.join(bar_datasets())}; "
            "or an imported series as store:SYMBOL@TF")


def _load_stored(name: str, tf: str | None, store_root: Path) -> tuple[str, str, pd.DataFrame]:
    """An imported series, checked by the run config's own resolver: a bad name, a series the
    store does not hold or one of another timeframe than asked is a DataError at the store root."""
    from engine.data import sources
    from engine.data.errors import DataError
    from engine.data.store import ParquetStore
    from engine.data.timeframes import canonical_tf

    try:
        src = sources.describe(sources.check_name(name), store_root)
    except sources.SourceError as e:
        raise DataError(str(store_root), 1, str(e), e.hint, code="DATA_STORE") from None
    if tf is not None and canonical_tf(tf) != src.tf:
        raise DataError(str(store_root), 1, f"{name} holds {src.tf} bars, not {tf}",
                        f"pass --tf {src.tf}; {ParquetStore(store_root).holding()}", code="DATA_STORE")
    return src.symbol, src.tf, sources.load(src.name, store_root)


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
