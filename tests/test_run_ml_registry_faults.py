"""What a run, `engine train` and `engine select` do with a model they should not trust.

A run judged bars with a model trained on them (its replay's KPIs flattered by look-ahead);
damaged registry files were tracebacks; a version folder a crash left unindexed wedged every
later training; a state-store activation left stale by one made without the store won over the
index; `--tf 60m` did not find the bundled 1h data `--tf 1h` finds."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from engine.cli import main
from engine.run.session import RefusedToStart
from strategies.ml import dataset
from strategies.ml.registry import ModelRegistry, RegistryError, slug
from ml_helpers import MemoryKV
from tests.test_run_ml import FILTER, MODEL, SYMBOL, _middle, make_runner, rejected, train_on_every_bar

LINE = slug(SYMBOL) + "/5m"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return train_on_every_bar(tmp_path_factory)


def test_a_run_judges_no_bar_its_model_was_trained_on(tmp_path, trained):
    runner = make_runner(tmp_path, trained, exploration=False)
    assert any(f"model {MODEL} was trained on {SYMBOL} bars up to" in n and "refused" in n for n in runner.session.notes)
    runner.run()
    judged = [why for _, rule, why in rejected(runner) if rule == "ml_filter"]
    assert judged and all("trained on this bar's outcome" in why for why in judged)
    assert not runner.trades  # every entry needed the model's judgement, and none was in sample


def test_in_sample_allow_judges_them_and_says_the_kpis_are_in_sample(tmp_path, trained):
    runner = make_runner(tmp_path, trained, exploration=False, in_sample="allow")
    assert any("KPIs up to then are in-sample" in n for n in runner.session.notes)
    runner.run()
    assert runner.trades and {t.model_version for t in runner.trades} == {MODEL}


def test_train_until_trains_on_the_bars_before_it(tmp_path):
    (tmp_path / "filter.yaml").write_text(FILTER)
    assert main(["train", "ml", "--symbol", SYMBOL, "--tf", "5m", "--registry", str(tmp_path / "reg"),
                 "--spec", str(tmp_path / "filter.yaml"), "--until", _middle()]) == 0
    end = json.loads((tmp_path / "reg" / LINE / "v1" / "manifest.json").read_text())["data"]["end"]
    assert end < _middle()


def _damaged(trained: Path, tmp_path: Path, damage: str) -> Path:
    reg = tmp_path / "reg"
    shutil.copytree(trained, reg)
    line = reg / LINE
    {"model truncated": lambda: (line / "v1" / "model.json").write_text('{"learner": trunc'),
     "model deleted": lambda: (line / "v1" / "model.json").unlink(),
     "manifest not JSON": lambda: (line / "v1" / "manifest.json").write_text("{bad"),
     "index not JSON": lambda: (line / "index.json").write_text("garbage")}[damage]()
    return reg


@pytest.mark.parametrize("damage, file", [("model truncated", "v1/model.json"), ("model deleted", "v1/model.json"),
                                          ("manifest not JSON", "v1/manifest.json"), ("index not JSON", "index.json")])
def test_a_damaged_registry_file_refuses_the_run_naming_it(tmp_path, trained, damage, file):
    """Each was a traceback (XGBoostError, JSONDecodeError)."""
    reg = _damaged(trained, tmp_path, damage)
    with pytest.raises(RefusedToStart, match=f"{reg / LINE / file}: cannot "):
        make_runner(tmp_path / "w", reg, in_sample="allow")


def _manifest_edited(trained: Path, tmp_path: Path, edit) -> Path:
    reg = tmp_path / "reg"
    shutil.copytree(trained, reg)
    path = reg / LINE / "v1" / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    return reg


@pytest.mark.parametrize("edit, said", [
    (lambda m: m.update(threshold=0.2), "threshold: Input should be greater than or equal to 0.5 (it is 0.2)"),
    (lambda m: m.update(threshold=float("nan")), "threshold: Input should be a finite number"),
    (lambda m: m.pop("threshold"), "threshold: Field required"),
    (lambda m: m["data"].update(end="garbage"), "data.end: Value error, not an ISO 8601 time"),
    (lambda m: m.pop("metrics"), "metrics: Field required"),
    (lambda m: m["metrics"].update(overall={}), "metrics.overall.precision: Field required"),
    (lambda m: m["labels"].update(horizon="x"), "labels.horizon: Input should be a valid integer"),
])
def test_a_manifest_a_run_cannot_act_on_refuses_it_at_the_start(tmp_path, trained, edit, said):
    """rev31: a threshold under 0.5 passed every entry (a probability is then both BUY and SELL) and
    NaN reached the journal; a missing field was a traceback, at the start or after the whole replay
    (metrics, labels) with no report written."""
    reg = _manifest_edited(trained, tmp_path, edit)
    with pytest.raises(RefusedToStart, match=f"{reg / LINE / 'v1' / 'manifest.json'}: not a usable model manifest: "):
        make_runner(tmp_path / "w", reg, in_sample="allow")
    with pytest.raises(RegistryError) as e:
        ModelRegistry(reg).load(SYMBOL, "5m")
    assert said in e.value.what


@pytest.mark.parametrize("damage, said, trains", [
    (lambda line: (line / "index.json").unlink(), "missing, while", True),
    (lambda line: (line / "index.json").write_text(json.dumps({"symbol": SYMBOL, "tf": "5m", "versions": [1],
                                                               "active": 9})),
     "the active version v9 is not one of its versions [1]", False),
])
def test_an_index_lost_or_naming_no_version_it_lists_refuses_the_run(tmp_path, trained, capsys, damage, said, trains):
    """rev31: a lost index read as a line never trained, so the run traded with the filter off;
    `active: 9` beside `versions: [1]` was accepted, and training registered v2 under it. Training
    past a lost index starts a new one (rev32: what a crash between a line's first version and its
    index leaves must not wedge training); the run then uses what it activates."""
    reg = tmp_path / "reg"
    shutil.copytree(trained, reg)
    damage(reg / LINE)
    with pytest.raises(RefusedToStart, match=re.escape(said)):
        make_runner(tmp_path / "w", reg, in_sample="allow")
    (tmp_path / "filter.yaml").write_text(FILTER)
    capsys.readouterr()
    assert main(["train", "ml", "--symbol", SYMBOL, "--tf", "5m", "--registry", str(reg),
                 "--spec", str(tmp_path / "filter.yaml"), "--activate"]) == (0 if trains else 1)
    assert (reg / LINE / "v2").exists() == trains and (said in capsys.readouterr().err) != trains
    if trains:
        assert ModelRegistry(reg).versions(SYMBOL, "5m") == [2] and ModelRegistry(reg).active_version(SYMBOL, "5m") == 2


def test_train_refuses_a_damaged_index_before_training(tmp_path, trained, capsys):
    reg = _damaged(trained, tmp_path, "index not JSON")
    (tmp_path / "filter.yaml").write_text(FILTER)
    assert main(["train", "ml", "--symbol", SYMBOL, "--tf", "5m", "--registry", str(reg),
                 "--spec", str(tmp_path / "filter.yaml")]) == 1
    out = capsys.readouterr()
    assert f"{reg / LINE / 'index.json'}: cannot read the model index" in out.err and "AUC" not in out.out


def test_select_leaves_out_a_symbol_whose_model_a_run_would_refuse(tmp_path, trained, capsys):
    reg = _damaged(trained, tmp_path, "model truncated")
    active = tmp_path / "active.json"
    assert main(["select", "--registry", str(reg), "--data", "crypto_spot/ETH_BTC-5m", "--out", str(active)]) in (0, 1)
    assert "skipped (its registered model cannot be used" in capsys.readouterr().out
    assert not active.exists() or SYMBOL not in json.loads(active.read_text())["symbols"]


class Booster:
    def save_model(self, path: str) -> None:
        Path(path).write_text("{}")


def test_a_version_folder_a_crash_left_unindexed_is_not_renamed_over(tmp_path):
    """register() picked v2 again and os.replace failed on the folder: every training after died."""
    reg = ModelRegistry(tmp_path)
    reg.register("ETH/BTC", "5m", Booster(), {"threshold": 0.5})
    (tmp_path / LINE / "v2").mkdir()
    (tmp_path / LINE / "v2" / "model.json").write_text("{}")  # swapped in; the index never written
    assert reg.register("ETH/BTC", "5m", Booster(), {"threshold": 0.5}) == 3
    assert reg.versions("ETH/BTC", "5m") == [1, 3]


def test_a_store_activation_the_index_contradicts_is_refused(tmp_path):
    """`--activate` without `--state` left the store's older choice in place, and the store won."""
    kv = MemoryKV()
    ModelRegistry(tmp_path, store=kv).register("ETH/BTC", "5m", Booster(), {"threshold": 0.5}, activate=True)
    ModelRegistry(tmp_path).register("ETH/BTC", "5m", Booster(), {"threshold": 0.5}, activate=True)
    with pytest.raises(RegistryError, match="the index says v2 is active, the state store v1"):
        ModelRegistry(tmp_path, store=kv).active_version("ETH/BTC", "5m")
    assert ModelRegistry(tmp_path / "other", store=kv).active_version("ETH/BTC", "5m") is None


def test_train_finds_bundled_data_by_any_name_of_its_timeframe():
    assert dataset.resolve("EUR/USD", "60m") == dataset.resolve("EUR/USD", "1h") == "forex/EURUSD-1h"
