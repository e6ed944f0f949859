import numpy as np
import pandas as pd
import pytest
from ml_helpers import MemoryKV, random_bars

from strategies.ml.config import (DecayConfig, FeatureConfig, LabelConfig, MLConfig, ModelParams,
                                  ThresholdConfig, WalkForwardConfig)
from strategies.ml.dataset import training_frame
from strategies.ml.decay import DecayTracker
from strategies.ml.model import auc, choose_threshold, evaluate, fit, oos_trades, predict, run_walk_forward, sides
from strategies.ml.registry import ModelRegistry, frame_hash, slug

CFG = MLConfig(kind="ml", features=FeatureConfig(higher_timeframes=["1h"]),
               labels=LabelConfig(horizon=6, vol_window=20),
               walkforward=WalkForwardConfig(train="2d", test="12h", min_folds=3, min_train_samples=100),
               model=ModelParams(n_estimators=10, max_depth=2, min_child_weight=1),
               thresholds=ThresholdConfig(per_symbol={"TEST": 0.52}, min_trades=5))


@pytest.fixture(scope="module")
def data():
    return training_frame(random_bars(1500, seed=5, drift=0.0002), CFG)


@pytest.fixture(scope="module")
def result(data):
    return run_walk_forward(*data, CFG, "TEST")


def test_walk_forward_reports_fold_and_overall_metrics(result):
    assert len(result.folds) >= 3
    for key in ("auc", "accuracy", "precision", "trades", "brier"):
        assert key in result.overall
    assert set(result.oos["fold"]) == {f.fold.number for f in result.folds}
    assert result.threshold in CFG.thresholds.search_grid or result.threshold == 0.52



def test_each_fold_model_is_fitted_on_past_rows_only(data, monkeypatch):
    """Seed 004 walk-forward: the model scored on a test fold is fitted on that fold's purged
    training rows only, all of whose labels end before the fold's first test sample."""
    import strategies.ml.model as model

    seen, real_fit = [], model.fit
    monkeypatch.setattr(model, "fit", lambda X, y, params: seen.append(X.index) or real_fit(X, y, params))
    X, lab = data
    res = model.run_walk_forward(X, lab, CFG, "TEST")
    assert len(seen) == len(res.folds) >= 3
    for rows, fr in zip(seen, res.folds):
        test_rows = X.index[fr.fold.test_idx]
        assert rows.equals(X.index[fr.fold.train_idx]) and not rows.isin(test_rows).any()
        assert (pd.DatetimeIndex(lab["t1"].loc[rows]) < test_rows.min()).all()

def test_training_is_deterministic_with_one_thread(data):
    X, lab = data
    a = predict(fit(X, lab["y"].to_numpy(), CFG.model), X.iloc[:50])
    b = predict(fit(X, lab["y"].to_numpy(), CFG.model), X.iloc[:50])
    assert np.array_equal(a, b)


def test_symmetric_sides_and_metrics():
    assert list(sides(np.array([0.7, 0.5, 0.3, 0.6]), 0.6)) == [1, 0, -1, 1]
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    m = evaluate(np.array([0.9, 0.1, 0.5]), np.array([1, 1, 0]), np.array([0.01, 0.02, 0.0]), 0.6)
    assert m["trades"] == 2 and m["precision"] == 0.5 and np.isclose(m["total_ret"], -0.01)


@pytest.mark.parametrize("grid", [[0.3, 0.55], [0.55, 1.0]])
def test_a_searched_threshold_is_held_to_the_bounds_of_a_written_one(tmp_path, capsys, grid):
    """Below 0.5 a probability passes as BUY and as SELL (p >= thr, p <= 1 - thr) while
    validation counts it as one: the grid may not offer what `default` may not be."""
    from engine.cli import main

    spec = tmp_path / "filter.yaml"
    spec.write_text(f"kind: ml\nthresholds:\n  search_grid: [{', '.join(map(str, grid))}]\n")
    assert main(["validate", str(spec)]) == 1
    bad = grid.index(0.3 if 0.3 in grid else 1.0)
    assert f"filter.yaml:3:{17 + 6 * bad}: error SCHEMA_VALUE `thresholds.search_grid.{bad}`" in capsys.readouterr().out


def test_threshold_falls_back_to_table_without_enough_trades():
    thr, why = choose_threshold(np.full(10, 0.5), np.ones(10), np.ones(10), [0.55, 0.6], 5, 0.58)
    assert thr == 0.58 and "table" in why


def test_oos_trades_hold_one_position_at_a_time():
    idx = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC")
    oos = pd.DataFrame({"prob": [0.9, 0.9, 0.1, 0.9], "ret": [0.01, 0.02, -0.03, 0.01],
                        "t1": idx[[2, 2, 3, 3]], "thr": 0.6}, index=idx)
    trades = oos_trades(oos)
    assert list(trades.index) == [idx[0], idx[3]]  # 01:00 and 02:00 fall inside the first trade


def test_validation_trades_do_not_depend_on_later_outcomes(data, result):
    """Each fold trades at the threshold chosen on the folds before it: rewriting the last folds'
    outcomes so that another threshold wins changes no earlier fold's validation trade (review 8:
    one threshold tuned on every fold's outcomes, later weeks' included, decided them all)."""
    X, lab = data
    last = result.oos[result.oos["fold"] >= result.oos["fold"].max() - 1]  # the very last is short
    grid = CFG.thresholds.search_grid
    favoured = max(grid) if result.threshold != max(grid) else min(grid)
    taken, loose = sides(last["prob"].to_numpy(), favoured), sides(last["prob"].to_numpy(), min(grid))
    rewritten = lab.copy()
    rewritten.loc[last.index, "ret"] = np.where(taken != 0, taken, np.where(loose != 0, -loose, 0.0))
    other = run_walk_forward(X, rewritten, CFG, "TEST")
    assert other.threshold != result.threshold  # the rewrite does move the model's threshold
    before = result.oos.index < last.index[0]
    assert oos_trades(result.oos[before]).equals(oos_trades(other.oos[before]))
    assert (result.oos.loc[before, "thr"] == other.oos.loc[before, "thr"]).all()
    assert result.oos.groupby("fold")["thr"].first().iloc[0] == 0.52  # the first fold: the table value


def test_registry_versions_active_and_load_by_version(tmp_path, data, result):
    X, lab = data
    booster = fit(X, lab["y"].to_numpy(), CFG.model)
    kv = MemoryKV()
    reg = ModelRegistry(tmp_path, store=kv, clock=lambda: 1_700_000_000.0)
    manifest = {"features": list(X.columns), "threshold": result.threshold, "labels": CFG.labels.model_dump(),
                "metrics": {"overall": result.overall}, "data_hash": frame_hash(X, lab[["y"]])}
    v1 = reg.register("ETH/BTC", "5m", booster, manifest, activate=True)
    v2 = reg.register("ETH/BTC", "5m", booster, manifest)
    assert (v1, v2) == (1, 2)
    assert reg.active_version("ETH/BTC", "5m") == 1 and kv[f"ml/active/{tmp_path.resolve()}/ETH/BTC/5m"] == {"version": 1}
    (tmp_path / slug("ETH/BTC") / "5m" / "v9").mkdir()  # a stray newer folder must never be picked
    loaded = reg.load("ETH/BTC", "5m")
    assert loaded.version == 1 and loaded.manifest["created_at"].startswith("2023-11-14")
    assert np.allclose(predict(loaded.booster, X.iloc[:20]), predict(booster, X.iloc[:20]))
    reg.activate("ETH/BTC", "5m", 2)
    assert reg.load("ETH/BTC", "5m").version == 2
    with pytest.raises(LookupError):
        reg.load("ETH/BTC", "5m", version=9)
    with pytest.raises(LookupError):
        ModelRegistry(tmp_path).load("LTC/BTC", "5m")


def test_data_hash_changes_with_the_data(data):
    X, lab = data
    changed = X.copy()
    changed.iloc[0, 0] += 1
    assert frame_hash(X) != frame_hash(changed) and frame_hash(X) == frame_hash(X.copy())


def test_decay_flags_retraining_on_worse_hit_rate_or_brier():
    cfg = DecayConfig(window=50, min_samples=20, max_hit_rate_drop=0.05, max_brier_rise=0.02)
    good = DecayTracker(0.55, 0.24, cfg)
    bad = DecayTracker(0.55, 0.24, cfg)
    rng = np.random.default_rng(0)
    for _ in range(50):
        up = bool(rng.random() < 0.5)
        good.record(0.6 if up else 0.4, up, 1 if up else -1)
        bad.record(0.7 if not up else 0.3, up, -1 if up else 1)
    assert not good.status().retrain
    s = bad.status()
    assert s.retrain and "hit rate" in s.reason and "Brier" in s.reason
    assert not DecayTracker(0.55, 0.24, cfg).status().retrain  # warming up
