import numpy as np
import pandas as pd
from hypothesis import given, strategies as st

from strategies.ml.config import WalkForwardConfig
from strategies.ml.walkforward import plan_windows, purged_train_mask, walk_forward


def _samples(n: int, horizon: int, freq: str = "1h"):
    t0 = pd.date_range("2024-01-01", periods=n, freq=freq, tz="UTC")
    t1 = t0 + pd.Timedelta(freq) * (horizon - 1)
    return t0, t1


@given(horizon=st.integers(1, 30), embargo=st.integers(0, 20))
def test_no_training_label_overlaps_its_test_fold(horizon, embargo):
    t0, t1 = _samples(3000, horizon)
    cfg = WalkForwardConfig(train="4w", test="1w", embargo_bars=embargo, min_folds=1, min_train_samples=10)
    folds = walk_forward(t0, t1, cfg)
    assert folds
    for f in folds:
        test_lo, test_hi = t0[f.test_idx].min(), t1[f.test_idx].max()
        assert (t1[f.train_idx] < test_lo).all()
        assert not ((t0[f.train_idx] <= test_hi) & (t1[f.train_idx] >= test_lo)).any()
        assert f.purged >= min(horizon - 1, 4 * 7 * 24)


def test_seed_windows_four_weeks_then_one_week_rolling():
    t0, t1 = _samples(24 * 7 * 10, 1)
    folds = walk_forward(t0, t1, WalkForwardConfig(embargo_bars=0, min_folds=1, min_train_samples=10))
    assert len(folds) == 6
    assert folds[0].test_start - folds[0].train_start == pd.Timedelta("28D")
    assert folds[1].test_start - folds[0].test_start == pd.Timedelta("7D")



def test_training_window_rolls_and_test_folds_do_not_overlap():
    """Seed 004 'train 4 weeks -> test 1 week, rolling': each fold trains on the 4 weeks before
    its test window only (not an expanding history), and no sample is tested twice."""
    t0, t1 = _samples(24 * 7 * 10, 1)
    folds = walk_forward(t0, t1, WalkForwardConfig(embargo_bars=0, min_folds=1, min_train_samples=10))
    tested = np.concatenate([f.test_idx for f in folds])
    assert len(tested) == len(set(tested.tolist()))
    for f in folds:
        assert (t0[f.train_idx] >= f.train_start).all() and f.test_start - f.train_start == pd.Timedelta("28D")
        assert (t0[f.test_idx] >= f.test_start).all() and (t0[f.test_idx] < f.test_end).all()
    assert len(folds[-1].train_idx) == len(folds[0].train_idx) == 28 * 24

def test_short_data_shrinks_windows_keeping_the_ratio():
    train, test, scale = plan_windows(pd.Timedelta("20D"), WalkForwardConfig(min_folds=4))
    assert scale < 1 and train / test == 4
    t0, t1 = _samples(24 * 20, 3)
    assert len(walk_forward(t0, t1, WalkForwardConfig(min_folds=4, min_train_samples=10))) >= 4


@given(embargo=st.integers(0, 30))
def test_embargo_leaves_a_gap_before_each_test_window(embargo):
    """No training label ends within `embargo_bars` bars before its test window (review 8: in a
    forward walk the embargo dropped nothing, whatever its value)."""
    t0, t1 = _samples(24 * 7 * 6, 3)
    folds = walk_forward(t0, t1, WalkForwardConfig(embargo_bars=embargo, min_folds=1, min_train_samples=10))
    assert folds
    for f in folds:
        gap = t0[f.test_idx].min() - t1[f.train_idx].max()
        assert gap > pd.Timedelta(hours=embargo)
        assert gap <= pd.Timedelta(hours=embargo + 1)  # and no more than that is dropped


def test_embargo_drops_samples_just_after_the_test_window():
    t0, t1 = _samples(100, 1)
    everything = np.ones(100, bool)
    keep = purged_train_mask(t0, t1, everything, t0[40], t0[49], t0[49] + pd.Timedelta("5h"))
    assert not keep[40:55].any()
    assert keep[:40].all() and keep[55:].all()
