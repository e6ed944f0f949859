"""What a run, `engine train` and `engine select` do with a model they should not trust.

A run judged bars with a model trained on them (its replay's KPIs flattered by look-ahead);
damaged registry files were tracebacks; a version folder a crash left unindexed wedged every
later training; a state-store activation left stale by one made without the store won over the
index; `--tf 60m` did not find the bundled 1h data `--tf 1h` finds."""
from __future__ import annotations

import json
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
