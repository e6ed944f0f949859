"""Block CV for parameter choice: seeded splits with the right shape, and choose_params."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies import blocks
from strategies.base import Strategy
from strategies.config import Tuning
from strategies.cv import (SCORERS, BlockBootstrap, BlockPermutation, choose_params, cv_scores, from_spec,
                           parameter_grid, pearson_score, sharpe_score, too_short)
from strategies.registry import strategy_class
from test_strategies_cases import bars


@given(n=st.integers(40, 600), block=st.integers(2, 20), seed=st.integers(0, 1000))
def test_bootstrap_scores_only_out_of_bag_blocks(n, block, seed):
    cv = BlockBootstrap(n_splits=4, block_size=block, seed=seed)
    splits = list(cv.split(n))
    for train, test in splits:
        assert len(test) and not set(train) & set(test)
        assert train.max() < n and test.max() < n
    again = list(cv.split(n))
    assert all((a[0] == b[0]).all() and (a[1] == b[1]).all() for a, b in zip(splits, again))


@given(n=st.integers(40, 600), block=st.integers(2, 8), seed=st.integers(0, 1000))
def test_permutation_folds_partition_the_rows(n, block, seed):
    folds = list(BlockPermutation(n_splits=5, block_size=block, seed=seed).split(n))
    tests = np.concatenate([t for _, t in folds])
    assert sorted(tests) == list(range(n))
    for train, test in folds:
        assert len(train) + len(test) == n and not set(train) & set(test)


def test_seeds_give_different_splits():
    a = [t for _, t in BlockPermutation(5, 10, seed=1).split(500)]
    b = [t for _, t in BlockPermutation(5, 10, seed=2).split(500)]
    assert any(not np.array_equal(x, y) for x, y in zip(a, b))


def test_scorers():
    rng = np.random.default_rng(0)
    ret = pd.Series(rng.normal(size=200))
    assert pearson_score(ret, ret) == pytest.approx(1.0)
    assert pearson_score(-ret, ret) == pytest.approx(-1.0)
    assert sharpe_score(np.sign(ret), ret) > 0 > sharpe_score(-np.sign(ret), ret)


def test_choose_params_is_the_best_mean_and_reproducible():
    df = bars("eurusd_1h").iloc[:2500]
    cls = strategy_class("EmaVolStrategy")
    grid = {"fast_ema_window": [6, 24], "alpha": [0.0, 0.5]}
    cv = BlockBootstrap(n_splits=4, block_size=200, seed=7)
    base = {"vol_window": 96, "decay_span": 200}
    best, table = choose_params(cls, grid, {"eurusd": df}, cv, base_params=base)
    assert len(table) == 4 and list(table.columns[:2]) == ["fast_ema_window", "alpha"]
    top = table.loc[table["mean"].idxmax()]
    assert best == {"fast_ema_window": int(top["fast_ema_window"]), "alpha": float(top["alpha"])}
    assert choose_params(cls, grid, {"eurusd": df}, cv, base_params=base)[1].equals(table)
    scores = cv_scores(cls({**base, **best}), df, cv, "sharpe")
    assert len(scores) >= 3 and np.isfinite(scores).all()


@pytest.mark.parametrize("current", [0.1, 0.2, 0.4, 0.3])
def test_a_tie_keeps_the_current_value_of_a_parameter_the_scorer_cannot_judge(current):
    """Pearson is scale-free: every target_vol scores alike, and `tune --write` moved 0.2 to the
    first grid value. A current value outside the grid leaves grid order to decide."""
    df = bars("eurusd_1h").iloc[:1500]
    cls = strategy_class("EmaVolStrategy")
    grid = {"target_vol": [0.1, 0.2, 0.4]}
    best, table = choose_params(cls, grid, {"eurusd": df}, BlockBootstrap(n_splits=3, block_size=200, seed=7),
                                base_params={"vol_window": 96, "decay_span": 200, "target_vol": current})
    assert np.allclose(table["mean"], table["mean"].iloc[0], rtol=1e-9, atol=0.0)
    assert best == {"target_vol": current if current in grid["target_vol"] else 0.1}


def test_grid_points_that_cannot_fit_rank_last():
    df = bars("eurusd_1h").iloc[:1200]
    cls = strategy_class("VolScaleStrategy")
    best, table = choose_params(cls, [{"vol_window": 96}, {"vol_window": 5000}], {"eurusd": df},
                                BlockPermutation(n_splits=3, block_size=100, seed=0), scorer="sharpe")
    assert best == {"vol_window": 96} and np.isnan(table["mean"].iloc[1])


def test_a_point_scored_on_some_frames_only_cannot_win():
    """A window too long for the short frame leaves that point judged on the long frame alone:
    it must not beat points judged on both, however well it scores there."""
    long, short = bars("eurusd_1h").iloc[:2500], bars("eurusd_1h").iloc[2500:2900]
    cls = strategy_class("VolScaleStrategy")
    cv = BlockBootstrap(n_splits=4, block_size=100, seed=0)
    grid = [{"vol_window": 24}, {"vol_window": 600}]
    alone = choose_params(cls, grid, {"long": long}, cv)[1]
    assert alone["mean"].iloc[1] > alone["mean"].iloc[0]  # on the long frame alone, 600 wins
    best, table = choose_params(cls, grid, {"long": long, "short": short}, cv)
    assert list(table["sets"]) == [2, 1] and np.isnan(table["mean short"].iloc[1])
    assert table["mean"].iloc[1] > table["mean"].iloc[0] and best == {"vol_window": 24}


def test_frames_too_short_for_the_splits_are_named_before_splitting():
    boot, perm = BlockBootstrap(block_size=100), BlockPermutation(n_splits=5, block_size=100)
    assert too_short(200, boot) is None and "2 blocks of 100" in too_short(199, boot)
    assert too_short(401, perm) is None and "5 blocks of 100" in too_short(400, perm)
    for n, cv in [(200, boot), (401, perm)]:
        assert list(cv.split(n))  # what too_short passes, split takes
    for n, cv in [(199, boot), (400, perm)]:
        with pytest.raises(ValueError):
            list(cv.split(n))


def test_the_spec_names_the_splitter_and_a_known_scorer():
    t = Tuning(method="permutation", splits=3, block_size=50, seed=4, scorer="sharpe")
    assert from_spec(t) == BlockPermutation(n_splits=3, block_size=50, seed=4)
    assert from_spec(t.model_copy(update={"method": "bootstrap"})) == BlockBootstrap(3, 50, 4)
    assert set(Tuning.model_fields["scorer"].annotation.__args__) == set(SCORERS)


def test_parameter_grid():
    assert parameter_grid({"a": [1, 2], "b": [3]}) == [{"a": 1, "b": 3}, {"a": 2, "b": 3}]


class _LastMove(Strategy):
    """Holds sign(return of bar t) from t on: causal, but a scorer that pairs the position decided
    at t with bar t's own return would see it 'predict' that return perfectly."""

    def _position(self, bars: pd.DataFrame) -> pd.Series:
        self._fitted("unused", lambda: 1.0)  # marks the strategy fitted
        return np.sign(blocks.returns(bars["close"]))


def test_cv_scores_pair_the_position_decided_at_t_minus_1_with_bar_t_return():
    """Seed 003 strat_cv/strat_scorer, no lookahead: the position known at t-1 is held over bar t.
    On a random walk, yesterday's move says nothing about today's (|corr| small); scoring the
    unshifted position would correlate ~0.8 with the returns it already saw."""
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 2000)))
    idx = pd.date_range("2024-01-01", periods=2000, freq="h", tz="UTC")
    df = pd.DataFrame({"open": close, "high": close, "low": close, "close": close}, index=idx)
    scores = cv_scores(_LastMove(), df, BlockPermutation(n_splits=4, block_size=50, seed=0))
    assert len(scores) == 4 and max(abs(s) for s in scores) < 0.2, scores


class _NeedsRows(_LastMove):
    """Fits only on 300 distinct rows or more, as a strategy whose windows outgrow a split's rows."""

    def fit(self, bars: pd.DataFrame, sample: np.ndarray | None = None) -> "_NeedsRows":
        if sample is not None and len(np.unique(sample)) < 300:
            raise ValueError("no two consecutive bars")  # what blocks.bars_per_year says of scattered rows
        return super().fit(bars, sample)


def test_a_split_the_strategy_cannot_fit_scores_nan_and_the_others_still_count():
    close = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, 400)))
    idx = pd.date_range("2024-01-01", periods=400, freq="h", tz="UTC")
    df = pd.DataFrame({"open": close, "high": close, "low": close, "close": close}, index=idx)
    scores = cv_scores(_NeedsRows(), df, BlockPermutation(n_splits=4, block_size=50, seed=0))
    assert np.isnan(scores).sum() == 0  # 300 train rows each: all fit
    scores = cv_scores(_NeedsRows(), df, BlockBootstrap(n_splits=6, block_size=100, seed=3))
    assert np.isnan(scores).any() and np.isfinite(scores).any(), scores


def test_a_frame_no_point_scores_on_binds_no_point():
    """A data set too short for every candidate's windows tells nothing: the others still choose."""
    long, tiny = bars("eurusd_1h").iloc[:2500], bars("eurusd_1h").iloc[2500:2720]
    cls = strategy_class("VolScaleStrategy")
    cv = BlockBootstrap(n_splits=4, block_size=100, seed=0)
    grid = [{"vol_window": 300}, {"vol_window": 600}]  # both longer than the tiny frame
    alone = choose_params(cls, grid, {"long": long}, cv)[0]
    best, table = choose_params(cls, grid, {"long": long, "tiny": tiny}, cv)
    assert table["mean tiny"].isna().all() and best == alone
