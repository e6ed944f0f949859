"""Leak-safe, multi-timeframe features for the ML filter.

Convention (the contract every consumer relies on):
    the feature row at index t is computed from bars 0 .. t-1 only, i.e. from
    data up to and including the CLOSE of bar t-1. It is therefore known at the
    OPEN of bar t, which is when the filter decides. Labels (labels.py) start at
    bar t, so a feature row never overlaps its own label.

How it is enforced:
  * primary-timeframe indicators are computed causally (bar t uses bars <= t)
    and the whole frame is shifted by one row;
  * a higher timeframe (HTF, a whole multiple of the primary one; others are
    skipped) is built by engine.data.resample into left-labelled buckets
    (`index.floor(tf)`); the HTF indicators of bucket B use buckets <= B, and
    row t receives the value of the last bucket BEFORE the bucket of t. Every
    primary bar of that bucket lies before t, so a HTF value is used only after
    that HTF bar has closed (this holds with gaps in the data too).
tests/test_ml_features.py proves it: altering bars t, t+1, ... never changes any
feature at rows <= t.

Input: a DataFrame with a sorted, unique DatetimeIndex (bar open times, UTC)
and lower-case open/high/low/close/volume; optional bid/ask (or spread) columns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from engine.data.bars import interval_of
from engine.data.resample import resample
from engine.data.timeframes import parse_tf
from strategies.ml import indicators as ind
from strategies.ml.config import FeatureConfig, RegimeConfig
from strategies.regime import load_regime_config, regime_flags

REQUIRED = ("open", "high", "low", "close", "volume")


def check_bars(bars: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED if c not in bars.columns]
    if missing:
        raise ValueError(f"bars lack column(s) {missing}; expected lower-case {list(REQUIRED)}")
    if not isinstance(bars.index, pd.DatetimeIndex):
        raise ValueError("bars need a DatetimeIndex (bar open times, UTC)")
    if not bars.index.is_monotonic_increasing or not bars.index.is_unique:
        raise ValueError("bars index must be sorted and unique")


def _base(bars: pd.DataFrame, cfg: FeatureConfig) -> dict[str, pd.Series]:
    """Causal indicators of one timeframe, scale-free so symbols and timeframes compare."""
    o, h, lo, c, v = (bars[k] for k in REQUIRED)
    out: dict[str, pd.Series] = {}
    for w in cfg.ema_windows:
        out[f"ema{w}_dist"] = c / ind.ema(c, w) - 1.0
    out["rsi"] = ind.rsi(c, cfg.rsi_window)
    out["natr"] = ind.atr(h, lo, c, cfg.atr_window) / c
    out.update(ind.adx(h, lo, c, cfg.adx_window).to_dict("series"))
    macd = ind.macd(c, cfg.macd_fast, cfg.macd_slow, cfg.macd_signal)
    out.update((k, s / c) for k, s in macd.to_dict("series").items())
    out.update(ind.bollinger(c, cfg.bb_window, cfg.bb_dev).to_dict("series"))
    mean_vol = v.rolling(cfg.volume_mean_window, min_periods=1).mean().replace(0.0, np.nan)
    obv = ind.obv(c, v)
    for n in cfg.volume_delta_windows:
        out[f"vol_delta{n}"] = v.diff(n) / mean_vol
        out[f"obv_delta{n}"] = obv.diff(n) / (mean_vol * n)
    logc = np.log(c)
    for n in cfg.return_windows:
        out[f"ret{n}"] = logc.diff(n)
    out["range"] = (h - lo) / c
    out["body"] = (c - o) / c
    return out


def _spread(bars: pd.DataFrame, cfg: FeatureConfig) -> dict[str, pd.Series]:
    if {"bid", "ask"} <= set(bars.columns):
        mid = (bars["bid"] + bars["ask"]) / 2.0
        rel = (bars["ask"] - bars["bid"]) / mid
    elif "spread" in bars.columns:
        rel = bars["spread"] / bars["close"]
    else:
        return {}
    mean = rel.rolling(cfg.spread_ratio_window, min_periods=1).mean().replace(0.0, np.nan)
    return {"spread": rel, "spread_ratio": rel / mean}


def _primary(bars: pd.DataFrame, cfg: FeatureConfig, regime_cfg: RegimeConfig) -> pd.DataFrame:
    cols = _base(bars, cfg) | _spread(bars, cfg)
    flags = regime_flags(bars, regime_cfg).astype(float)
    cols.update((f"regime_{k}", s) for k, s in flags.items())
    return pd.DataFrame(cols, index=bars.index)


def _higher(bars: pd.DataFrame, tf: str, cfg: FeatureConfig) -> pd.DataFrame:
    freq = parse_tf(tf)
    htf = resample(bars, tf)  # left-labelled buckets; partial buckets at either end are dropped
    feats = pd.DataFrame(_base(htf, cfg), index=htf.index).shift(1)  # last CLOSED bucket before this one
    aligned = feats.reindex(bars.index.floor(freq))
    aligned.index = bars.index
    return aligned.add_prefix(f"{tf}_")


def build_features(bars: pd.DataFrame, cfg: FeatureConfig | None = None,
                   regime_cfg: RegimeConfig | None = None) -> pd.DataFrame:
    """Feature frame aligned to `bars.index`; row t sees bars up to t-1 (see module doc)."""
    check_bars(bars)
    cfg = cfg or FeatureConfig()
    regime_cfg = regime_cfg or load_regime_config()
    bars = bars.astype({k: float for k in REQUIRED})
    parts = [_primary(bars, cfg, regime_cfg).shift(1)]
    base = interval_of(bars)
    for tf in cfg.higher_timeframes:
        if parse_tf(tf) > base and parse_tf(tf) % base == pd.Timedelta(0):
            parts.append(_higher(bars, tf, cfg))
    out = pd.concat(parts, axis=1)
    return out.replace([np.inf, -np.inf], np.nan).astype("float32")
