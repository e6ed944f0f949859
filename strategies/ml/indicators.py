"""Thin wrappers over the `ta` library (0.11) used by features and regimes.

Why wrap: `ta` fills its warm-up with 0.0 for ATR and ADX (an ATR of 0 reads
as "no volatility", an ADX of 0 as "no trend"), and it may emit pandas
FutureWarnings under pandas 3. Here warm-up values are NaN and warnings from
`ta` are silenced at the call, not globally. Every indicator at bar t uses
bars up to and including t only (causal); the feature builder shifts them.
"""
from __future__ import annotations

import warnings
from typing import Callable, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")


def _quiet(fn: Callable[[], T]) -> T:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn()


def _warm(s: pd.Series, bars: int) -> pd.Series:
    s = s.astype(float).copy()
    s.iloc[:bars] = np.nan
    return s


def ema(close: pd.Series, window: int) -> pd.Series:
    from ta.trend import EMAIndicator

    return _warm(_quiet(lambda: EMAIndicator(close, window).ema_indicator()), window - 1)


def rsi(close: pd.Series, window: int) -> pd.Series:
    from ta.momentum import RSIIndicator

    return _warm(_quiet(lambda: RSIIndicator(close, window).rsi()), window)


def atr(high: pd.Series, low: pd.Series, close: pd.Series, window: int) -> pd.Series:
    from ta.volatility import AverageTrueRange

    if len(close) < window:  # ta indexes past the end on short series
        return pd.Series(np.nan, index=close.index)
    return _warm(_quiet(lambda: AverageTrueRange(high, low, close, window).average_true_range()), window - 1)


def adx(high: pd.Series, low: pd.Series, close: pd.Series, window: int) -> pd.DataFrame:
    """ADX, +DI and -DI; NaN during the 2 x window warm-up."""
    from ta.trend import ADXIndicator

    if len(close) <= 2 * window:  # ta indexes past the end on short series
        nan = pd.Series(np.nan, index=close.index)
        return pd.DataFrame({"adx": nan, "adx_pos": nan, "adx_neg": nan})
    ind = _quiet(lambda: ADXIndicator(high, low, close, window))
    out = pd.DataFrame({"adx": _quiet(ind.adx), "adx_pos": _quiet(ind.adx_pos), "adx_neg": _quiet(ind.adx_neg)})
    return out.apply(lambda s: _warm(s, 2 * window))


def macd(close: pd.Series, fast: int, slow: int, signal: int) -> pd.DataFrame:
    """MACD line (EMA fast - EMA slow), its signal EMA and their difference; NaN while warming."""
    from ta.trend import MACD

    ind = MACD(close, window_slow=slow, window_fast=fast, window_sign=signal)
    return pd.DataFrame({"macd": _quiet(ind.macd), "macd_signal": _quiet(ind.macd_signal),
                         "macd_diff": _quiet(ind.macd_diff)})


def bollinger(close: pd.Series, window: int, dev: float) -> pd.DataFrame:
    """Band width (as a fraction of the middle band) and %B."""
    from ta.volatility import BollingerBands

    ind = BollingerBands(close, window, dev)
    out = pd.DataFrame({"bb_width": _quiet(ind.bollinger_wband) / 100.0, "bb_pband": _quiet(ind.bollinger_pband)})
    return out.apply(lambda s: _warm(s, window - 1))


def obv(close: pd.Series, volume: pd.Series) -> pd.Series:
    from ta.volume import OnBalanceVolumeIndicator

    return _quiet(lambda: OnBalanceVolumeIndicator(close, volume).on_balance_volume()).astype(float)
