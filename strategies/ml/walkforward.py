"""Purged walk-forward validation (seed 004: train 4 weeks -> test 1 week, rolling).

Each fold trains on the `train` window just before its test window, then the
windows roll forward by `test`. Two leak guards, after López de Prado:
  * purge:   a training sample whose label horizon [t0, t1] reaches into the
             test window [test_start, test_end] is dropped (its label would
             have seen test-period prices);
  * embargo: `embargo_bars` bars around the test window that no training label
             may reach (serially correlated features and returns leak across the
             boundary). In this forward walk it is the gap between the last
             training label and the test window, as a model trained, then put to
             work a while later, would see; `purged_train_mask` also drops
             samples starting that close after a test window, for any layout that
             trains on data after a test fold.
Bundled data sets are shorter than 4 + 1 weeks: `plan_windows` then shrinks both
windows by the same factor (4:1 kept) so that `min_folds` folds fit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from strategies.ml.config import WalkForwardConfig, duration_seconds


@dataclass(frozen=True)
class Fold:
    number: int
    train_idx: np.ndarray  # positions into the sample arrays
    test_idx: np.ndarray
    train_start: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp
    purged: int  # training samples dropped by purge and embargo


def plan_windows(span: pd.Timedelta, cfg: WalkForwardConfig) -> tuple[pd.Timedelta, pd.Timedelta, float]:
    """(train, test, scale): the configured windows, scaled down when the data is too short."""
    train, test = duration_seconds(cfg.train), duration_seconds(cfg.test)
    needed = train + cfg.min_folds * test
    scale = min(1.0, span.total_seconds() / needed)
    return pd.Timedelta(seconds=train * scale), pd.Timedelta(seconds=test * scale), scale


def purged_train_mask(t0: pd.DatetimeIndex, t1: pd.DatetimeIndex, candidate: np.ndarray,
                      test_start: pd.Timestamp, test_end: pd.Timestamp,
                      embargo_end: pd.Timestamp) -> np.ndarray:
    """`candidate` minus samples whose [t0, t1] overlaps [test_start, test_end] (the caller moves
    test_start back by the embargo before the window) or that start in the embargo after it."""
    overlaps = (t0 <= test_end) & (t1 >= test_start)
    embargoed = (t0 > test_end) & (t0 <= embargo_end)
    return candidate & ~np.asarray(overlaps) & ~np.asarray(embargoed)


def walk_forward(t0: pd.DatetimeIndex, t1: pd.DatetimeIndex, cfg: WalkForwardConfig) -> list[Fold]:
    """Folds over samples with decision times `t0` (sorted) and label end times `t1`."""
    t0, t1 = pd.DatetimeIndex(t0), pd.DatetimeIndex(t1)
    if len(t0) < 2:
        return []
    train_len, test_len, _ = plan_windows(t0[-1] - t0[0], cfg)
    bar = pd.Series(t0).diff().median()
    folds: list[Fold] = []
    test_start = t0[0] + train_len
    while test_start < t0[-1]:
        test_end = min(test_start + test_len, t0[-1] + bar)
        in_test = np.asarray((t0 >= test_start) & (t0 < test_end))
        window = np.asarray((t0 >= test_start - train_len) & (t0 < test_start))
        # the test window ends where its last label does
        last_t1 = t1[in_test].max() if in_test.any() else test_end
        embargo = bar * cfg.embargo_bars
        keep = purged_train_mask(t0, t1, window, test_start - embargo, last_t1, last_t1 + embargo)
        if in_test.any() and keep.sum() >= cfg.min_train_samples:
            folds.append(Fold(len(folds) + 1, np.flatnonzero(keep), np.flatnonzero(in_test),
                              test_start - train_len, test_start, test_end, int(window.sum() - keep.sum())))
        test_start = test_end
    return folds
