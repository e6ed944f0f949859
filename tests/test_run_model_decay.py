"""A run's model decay check (strategies/ml/decay.py): what it counts, and what it flags.

The model is trained with `engine train ml` on the first half of bundled ETH/BTC
5m bars, then a stage-1 run replays the whole data set, so its predictions after
the first half resolve as the run goes on.
"""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rich.console import Console

from engine.cli import main
from engine.commands.run import _show_decay
from engine.data import sources
from tests.test_run_ml import FILTER, MODEL, SYMBOL, finish, make_runner, train_on_every_bar

HALF = FILTER.replace("train: 4w", "train: 2w")


@pytest.fixture(scope="module")
def half_registry(tmp_path_factory) -> Path:
    """A model trained on the first half of the bars a run replays (v1, active)."""
    work = tmp_path_factory.mktemp("half")
    bars = sources.load("crypto_spot/ETH_BTC-5m", "var/store")
    bars.iloc[: len(bars) // 2].reset_index().to_csv(work / "half.csv", index=False)
    (work / "filter.yaml").write_text(HALF)
    assert main(["train", "ml", "--symbol", SYMBOL, "--tf", "5m", "--registry", str(work / "reg"),
                 "--spec", str(work / "filter.yaml"), "--data", str(work / "half.csv"), "--activate"]) == 0
    return work / "reg"


@pytest.fixture(scope="module")
def full_registry(tmp_path_factory) -> Path:
    return train_on_every_bar(tmp_path_factory)


def _manifest(registry: Path) -> Path:
    return next(registry.rglob("manifest.json"))


def test_predictions_inside_the_training_data_are_not_counted(tmp_path, full_registry):
    """Trained on every bar the run replays, and let judge them (ml.in_sample: allow): nothing out of
    sample, so nothing to judge yet."""
    decay = finish(make_runner(tmp_path, full_registry, in_sample="allow"))["model_decay"][MODEL]
    assert decay["samples"] == 0 and not decay["retrain"] and decay["reason"] == "warming up (0/30 samples)"


def test_a_run_judges_the_model_on_what_resolved_after_its_data(tmp_path, half_registry):
    runner = make_runner(tmp_path, half_registry)
    report = finish(runner)
    decay = report["model_decay"][MODEL]
    overall = json.loads(_manifest(half_registry).read_text())["metrics"]["overall"]
    assert decay["samples"] == 100  # the window: far more than 100 predictions resolved
    assert decay["validation_brier"] == pytest.approx(overall["brier"])
    assert 0.0 < decay["brier"] < 1.0 and not decay["retrain"]
    [row] = runner.session.store.journal_entries("ml", "decay")
    assert row.payload["model"] == MODEL and row.reason == f"model {MODEL}: within tolerance"


def test_a_model_worse_than_its_validation_is_flagged_for_retraining(tmp_path, half_registry):
    reg = tmp_path / "reg"
    shutil.copytree(half_registry, reg)
    manifest = json.loads(_manifest(reg).read_text())
    manifest["metrics"]["overall"]["brier"] = 0.1  # far better than any ETH/BTC 5m model predicts
    _manifest(reg).write_text(json.dumps(manifest))
    runner = make_runner(tmp_path, reg)
    decay = finish(runner)["model_decay"][MODEL]
    assert decay["retrain"] and decay["reason"].startswith("Brier ") and "> validation 0.1000 + 0.02" in decay["reason"]
    console = Console(record=True, width=400, file=io.StringIO())
    _show_decay({MODEL: decay}, console, runner.session)
    line = console.export_text()
    # the run's registry is not its ML spec's registry_root: the command trains into the run's
    assert line.startswith(f"warning: model {MODEL} has decayed (Brier ") \
        and f"`engine train ml --symbol ETH/BTC --tf 5m --registry {reg} --activate`" in line


def test_only_labels_known_by_the_run_s_end_count():
    from strategies.ml.decay import resolved

    idx = pd.date_range("2024-01-01", periods=6, freq="5min", tz="UTC")
    step = pd.Timedelta("5min")
    labels = pd.DataFrame({"y": [1.0, 0.0, 1.0, np.nan, 1.0, 0.0], "t1": idx + 2 * step}, index=idx)
    prob = pd.Series([0.6, 0.4, np.nan, 0.7, 0.2, 0.9], index=idx)
    rows = resolved(prob, labels, step, after=idx[0], until=idx[4] + step)
    # idx[0] is in-sample, idx[2] has no prediction, idx[3] no label; idx[4]'s exit bar closes after `until`
    assert list(rows.index) == [idx[1]] and rows["prob"].tolist() == [0.4] and rows["y"].tolist() == [0.0]
