"""A model's regime features against the run's regime spec: train/serve skew is refused at start.

`engine train ml` records the regime settings the features were built with; `engine run`
computes them with the regime spec of its --specs and refuses a model trained under other
settings, or one that does not record them (its settings are unknown), in one line.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_run_ml import MODEL, ROUTING, SYMBOL, registry, run_config, spec_set  # noqa: F401 (registry: a fixture)

from engine.cli import main
from engine.run.assemble import assemble
from engine.run.config import load_config
from engine.run.session import RefusedToStart
from strategies.ml.config import RegimeConfig, load_spec
from strategies.ml.registry import slug
from strategies.regime import NOT_RECORDED, changed_settings, flag_settings, regime_flags

ROOT = Path(__file__).resolve().parents[1]


def spec_tree(tmp: Path, old: str = "", new: str = "") -> Path:
    """A copy of the repo's specs with `old` replaced by `new` in specs/ml/regime.yaml."""
    tree = Path(shutil.copytree(ROOT / "specs", tmp / "specs"))
    regime = tree / "ml" / "regime.yaml"
    text = regime.read_text()
    assert old in text
    regime.write_text(text.replace(old, new, 1))
    return tree


def start(work: Path, registry: Path, specs: Path):
    return assemble(load_config(run_config(work, registry)), spec_set(work, specs), 1, ROUTING, work / "run")


def legacy(tmp: Path, registry: Path) -> Path:
    """A copy of the registry whose v1 was saved before models recorded their regime settings."""
    old = Path(shutil.copytree(registry, tmp / "legacy"))
    manifest = old / slug(SYMBOL) / "5m" / "v1" / "manifest.json"
    data = json.loads(manifest.read_text())
    del data["regime_config"]
    manifest.write_text(json.dumps(data))
    return old


def test_training_records_the_regime_settings_the_features_read(registry):
    manifest = json.loads((registry / slug(SYMBOL) / "5m" / "v1" / "manifest.json").read_text())
    assert manifest["regime_config"] == flag_settings(load_spec("regime", RegimeConfig))
    assert "sessions" not in manifest["regime_config"] and manifest["regime_config"]["vol_lookback"] == 500


def test_an_edited_regime_spec_refuses_the_model_naming_the_key(tmp_path, registry):
    specs = spec_tree(tmp_path, "adx_window: 14", "adx_window: 21")
    with pytest.raises(RefusedToStart) as e:
        start(tmp_path / "w", registry, specs)
    msg = str(e.value)
    assert msg.startswith(f"{specs / 'ml' / 'regime.yaml'}:3:13: model {MODEL} was trained under other regime "
                          "settings (`adx_window` trained 14, now 21)"), msg
    assert f"--regime {specs / 'ml' / 'regime.yaml'} --activate" in msg and "put the trained values back" in msg


def test_the_cli_refuses_in_one_line(tmp_path, registry, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    specs = spec_tree(tmp_path, "high_vol_quantile: 0.8", "high_vol_quantile: 0.9")
    cfg = run_config(tmp_path / "w", registry)
    assert main(["run", "--stage", "1", "--no-progress", "--config", str(cfg), "--specs", str(specs),
                 "--run-dir", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "`high_vol_quantile` trained 0.8, now 0.9" in err and "Traceback" not in err


def test_unchanged_settings_start_with_the_runs_regime_spec(tmp_path, registry, monkeypatch):
    """Sessions are no feature setting; the features use the run's spec, never the repo's specs/ml."""
    specs = spec_tree(tmp_path, "us: {start_hour: 13, end_hour: 21}", "us: {start_hour: 12, end_hour: 21}")
    import strategies.ml.config

    monkeypatch.setattr(strategies.ml.config, "SPEC_DIR", tmp_path / "not-the-repo-specs")
    runner = start(tmp_path / "w", registry, specs)
    assert any(MODEL in note for note in runner.session.notes)
    probs = runner.decider.filters.inputs[SYMBOL].prob[MODEL]
    assert (probs == probs).any()  # computed: some are not NaN


def test_a_model_that_does_not_record_its_settings_is_refused(tmp_path, registry):
    with pytest.raises(RefusedToStart, match=f"model {MODEL} does not record the regime settings .* saved before "
                                             r".* retrain it under .*engine train ml --symbol ETH/BTC --tf 5m"):
        start(tmp_path / "w", legacy(tmp_path, registry), ROOT / "specs")


def test_changed_settings_name_keys_only_one_side_has():
    cfg = load_spec("regime", RegimeConfig)
    trained = {**flag_settings(cfg), "retired": 3}
    del trained["ema_window"]
    assert changed_settings(flag_settings(cfg), cfg) == []
    assert changed_settings(trained, cfg) == [("ema_window", NOT_RECORDED, 50), ("retired", 3, NOT_RECORDED)]


def test_sessions_do_not_shape_the_regime_flags():
    from ml_helpers import random_bars

    bars = random_bars(800, seed=3)
    cfg = load_spec("regime", RegimeConfig)
    other = cfg.model_copy(update={"sessions": {}})
    assert regime_flags(bars, cfg).equals(regime_flags(bars, other))
    assert flag_settings(cfg) == flag_settings(other)


def test_a_model_saved_before_lookback_min_bars_starts_with_identical_features(tmp_path, registry):
    """The key's absence is no difference: the model gets the value its features had then."""
    old = Path(shutil.copytree(registry, tmp_path / "old"))
    manifest = old / slug(SYMBOL) / "5m" / "v1" / "manifest.json"
    data = json.loads(manifest.read_text())
    assert data["regime_config"].pop("lookback_min_bars") == 100
    manifest.write_text(json.dumps(data))
    probs = start(tmp_path / "old-run", old, ROOT / "specs").decider.filters.inputs[SYMBOL].prob[MODEL]
    now = start(tmp_path / "run", registry, ROOT / "specs").decider.filters.inputs[SYMBOL].prob[MODEL]
    assert (probs == probs).any() and np.array_equal(probs, now, equal_nan=True)
