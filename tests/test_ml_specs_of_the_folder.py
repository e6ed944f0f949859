"""`engine train ml` and `engine select` read specs/ml/ of the folder they run in, as `engine run`
reads its specs/ there, and a run finds its models where the spec set's ML spec says
`engine train ml` puts them. Both read the engine checkout's own copy before: an edit to the
folder's regime spec was validated, ignored at training, and the next run refused the model;
a moved registry_root left the run's filter off with a note."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.cli import main
from engine.run.config import load_config
from engine.run.session import load_specset

ROOT = Path(__file__).resolve().parents[1]
FILTER = ("kind: ml\nmodel: {n_estimators: 5}\nregistry_root: var/mine\n"
          "walkforward: {train: 2d, test: 12h, min_folds: 3, min_train_samples: 100}\n")


def test_train_reads_the_folders_ml_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    ml = tmp_path / "specs" / "ml"
    ml.mkdir(parents=True)
    (ml / "filter.yaml").write_text(FILTER)
    regime = (ROOT / "specs" / "ml" / "regime.yaml").read_text()
    assert "\nadx_window: 14\n" in regime
    (ml / "regime.yaml").write_text(regime.replace("\nadx_window: 14\n", "\nadx_window: 10\n", 1))
    assert main(["train", "ml", "--symbol", "XRP-PERP", "--tf", "5m"]) == 0, capsys.readouterr().err
    [manifest] = (tmp_path / "var" / "mine").rglob("manifest.json")
    assert json.loads(manifest.read_text())["regime_config"]["adx_window"] == 10


@pytest.mark.parametrize("argv, option", [
    (["train", "ml", "--symbol", "XRP-PERP", "--tf", "5m"], "--spec"),
    (["select", "--metrics", "m.json"], "--selection"),
])
def test_a_folder_without_them_is_told_which_option_to_give(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture, argv: list[str],
                                                            option: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.json").write_text("[]")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f": no such file, the default {option} (read from the folder the command runs in" in err
    assert f"hint: {ROOT / 'specs' / 'ml'}" in err and "is the engine's own" in err
    assert not (tmp_path / "var").exists()


def test_the_run_finds_models_where_the_spec_set_puts_them(tmp_path: Path) -> None:
    from engine.run.signals import registry_root

    tree = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", tree)
    spec = tree / "ml" / "filter.yaml"
    spec.write_text(spec.read_text().replace("registry_root: var/models", "registry_root: var/models_v2", 1))
    cfg = load_config()
    assert registry_root(cfg, load_specset([str(ROOT / "specs")])) == "var/models"
    assert registry_root(cfg, load_specset([str(tree)])) == "var/models_v2"
    own = cfg.model_copy(update={"ml": cfg.ml.model_copy(update={"registry": "elsewhere"})})
    assert registry_root(own, load_specset([str(tree)])) == "elsewhere"  # the run config's, when it names one
