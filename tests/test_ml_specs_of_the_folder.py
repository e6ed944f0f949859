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


def _moved(tmp_path: Path) -> Path:
    """A copy of the specs whose ML spec keeps its models in var/models_v2."""
    tree = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", tree)
    spec = tree / "ml" / "filter.yaml"
    spec.write_text(spec.read_text().replace("registry_root: var/models", "registry_root: var/models_v2", 1))
    return tree


def _registry(cfg, tree: Path) -> str:
    from engine.run.config import with_specs

    return with_specs(cfg, None, load_specset([str(tree)])).ml.registry


def test_the_run_finds_models_where_the_spec_set_puts_them(tmp_path: Path) -> None:
    tree, cfg = _moved(tmp_path), load_config()
    assert _registry(cfg, ROOT / "specs") == "var/models" and _registry(cfg, tree) == "var/models_v2"
    own = cfg.model_copy(update={"ml": cfg.ml.model_copy(update={"registry": "elsewhere"})})
    assert _registry(own, tree) == "elsewhere"  # the run config's, when it names one


def test_a_registry_root_moved_under_a_stopped_run_is_a_change_its_resume_refuses(tmp_path: Path) -> None:
    """Resolved into the config its digest holds: else the resume loaded other models under the
    same names (another v1, another threshold). A run saved when the config held var/models itself
    resumes under the shipped spec."""
    from engine.run.checkpoint import config_changes, config_digest
    from engine.run.config import with_specs

    cfg = load_config()
    saved = config_digest(with_specs(cfg, None, load_specset([str(ROOT / "specs")])))
    assert config_changes(saved, with_specs(cfg, None, load_specset([str(_moved(tmp_path))]))) == ["ml.registry"]
    before = config_digest(cfg.model_copy(update={"ml": cfg.ml.model_copy(update={"registry": "var/models"})}))
    assert config_changes(before, with_specs(cfg, None, load_specset([str(ROOT / "specs")]))) == []


def test_the_runs_training_hint_trains_where_the_run_looks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.run.config import with_specs
    from engine.run.signals import train_command

    monkeypatch.chdir(ROOT)
    cfg = load_config()
    shipped = load_specset(["specs"])
    assert train_command(with_specs(cfg, None, shipped), shipped) == "engine train ml --symbol SYMBOL --tf TF"
    tree = _moved(tmp_path)
    moved = load_specset([str(tree)])
    assert train_command(with_specs(cfg, None, moved), moved, "ETH/BTC", "5m", activate=True) == (
        f"engine train ml --symbol ETH/BTC --tf 5m --spec {tree}/ml/filter.yaml --regime {tree}/ml/regime.yaml "
        "--activate")
    own = cfg.model_copy(update={"ml": cfg.ml.model_copy(update={"registry": "elsewhere"})})
    assert train_command(own, shipped).endswith("--registry elsewhere")
