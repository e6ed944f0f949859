import json
from pathlib import Path

import pytest
from ml_helpers import random_bars

from engine.cli import main
from strategies.ml.registry import slug

ROOT = Path(__file__).resolve().parents[1]


def test_train_rl_says_it_is_not_available_in_words_a_user_reads(capsys):
    """QA D5: `engine --help` promised `rl: PPO` and the command answered "not implemented in this
    issue": rl/ holds no trainer, so help does not offer it and the refusal names what does train."""
    assert main(["train", "rl"]) == 2
    err = capsys.readouterr().err
    assert "not available yet" in err and "issue" not in err and "engine train ml" in err
    with pytest.raises(SystemExit):
        main(["--help"])
    train = next(line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("train"))
    assert "ml" in train and "rl" not in train and "PPO" not in train


def test_train_ml_registers_versions(tmp_path, capsys):
    data = tmp_path / "TEST-5m.csv"
    random_bars(2500, seed=8, drift=0.0001).to_csv(data, index_label="ts")
    spec = tmp_path / "filter.yaml"
    spec.write_text("kind: ml\nmodel: {n_estimators: 5}\n"
                    "walkforward: {train: 2d, test: 12h, min_folds: 3, min_train_samples: 100}\n")
    args = ["train", "ml", "--symbol", "TEST", "--tf", "5m", "--data", str(data),
            "--registry", str(tmp_path / "reg"), "--spec", str(spec)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "registered TEST 5m v1" in out and "AUC" in out and "all" in out
    assert main(args) == 0
    assert "v2" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "reg" / slug("TEST") / "5m" / "v2" / "manifest.json").read_text())
    assert len(manifest["data_hash"]) == 64 and manifest["features"] and manifest["metrics"]["folds"]
    assert json.loads((tmp_path / "reg" / slug("TEST") / "5m" / "index.json").read_text())["active"] == 1


def test_train_ml_records_the_feature_and_regime_specs_it_was_given(tmp_path):
    data = tmp_path / "TEST-5m.csv"
    random_bars(2500, seed=8).to_csv(data, index_label="ts")
    spec = tmp_path / "filter.yaml"
    spec.write_text("kind: ml\nmodel: {n_estimators: 5}\n"
                    "features: {macd_fast: 8, macd_signal: 5, volume_mean_window: 30, spread_ratio_window: 20}\n"
                    "walkforward: {train: 2d, test: 12h, min_folds: 3, min_train_samples: 100}\n")
    regime = tmp_path / "regime.yaml"
    regime.write_text((ROOT / "specs" / "ml" / "regime.yaml").read_text().replace("ema_window: 50", "ema_window: 30"))
    assert main(["train", "ml", "--symbol", "TEST", "--tf", "5m", "--data", str(data), "--registry",
                 str(tmp_path / "reg"), "--spec", str(spec), "--regime", str(regime)]) == 0
    manifest = json.loads((tmp_path / "reg" / slug("TEST") / "5m" / "v1" / "manifest.json").read_text())
    assert manifest["regime_config"]["ema_window"] == 30 and "sessions" not in manifest["regime_config"]
    recorded = manifest["feature_config"]
    assert (recorded["macd_fast"], recorded["macd_slow"], recorded["macd_signal"]) == (8, 26, 5)
    assert (recorded["volume_mean_window"], recorded["spread_ratio_window"]) == (30, 20)


def test_train_ml_bad_regime_spec_is_a_positioned_error(tmp_path, capsys):
    regime = tmp_path / "regime.yaml"
    regime.write_text("kind: regime\nadx_window: 1\n")
    assert main(["train", "ml", "--symbol", "ETH/BTC", "--tf", "5m", "--regime", str(regime)]) == 1
    assert f"{regime}:2:13: error SCHEMA_VALUE `adx_window`" in capsys.readouterr().err


def test_train_ml_bad_spec_is_a_positioned_error(tmp_path, capsys):
    spec = tmp_path / "filter.yaml"
    spec.write_text("kind: ml\nmodel:\n  n_estimators: -1\n")
    assert main(["train", "ml", "--symbol", "ETH/BTC", "--tf", "5m", "--spec", str(spec)]) == 1
    assert f"{spec}:3:17: error SCHEMA_VALUE `model.n_estimators`" in capsys.readouterr().err  # validate's words


def test_select_from_given_metrics(tmp_path, capsys):
    rows = [{"symbol": s, "tf": "1h", "trades": t, "sharpe": sh, "profit_factor": 1.5, "max_drawdown": 0.1,
             "winrate": 0.5} for s, t, sh in [("A", 30, 2.0), ("B", 30, 1.0), ("C", 3, 3.0)]]
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps(rows))
    out = tmp_path / "active.json"
    assert main(["select", "--top-k", "5", "--min-trades", "25", "--metrics", str(metrics), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["symbols"] == ["A", "B"]
    assert "ACTIVE" in capsys.readouterr().out


def test_select_walks_forward_with_the_given_ml_and_regime_specs(tmp_path, monkeypatch):
    from strategies.ml import dataset

    data = tmp_path / "TEST-5m.csv"
    random_bars(2500, seed=8).to_csv(data, index_label="ts")
    spec = tmp_path / "filter.yaml"
    spec.write_text("kind: ml\nmodel: {n_estimators: 5}\nfeatures: {macd_fast: 8}\n"
                    "walkforward: {train: 2d, test: 12h, min_folds: 3, min_train_samples: 100}\n")
    regime = tmp_path / "regime.yaml"
    regime.write_text((ROOT / "specs" / "ml" / "regime.yaml").read_text().replace("ema_window: 50", "ema_window: 30"))
    seen = []
    real = dataset.training_frame
    monkeypatch.setattr(dataset, "training_frame", lambda bars, cfg, reg=None: seen.append((cfg, reg))
                        or real(bars, cfg, reg))
    out = tmp_path / "active.json"
    assert main(["select", "--data", str(data), "--registry", str(tmp_path / "reg"), "--out", str(out),
                 "--spec", str(spec), "--regime", str(regime), "--min-trades", "0"]) == 0
    [(cfg, reg)] = seen  # no registered model: a fresh walk-forward, under the given specs
    assert cfg.features.macd_fast == 8 and reg.ema_window == 30
    assert json.loads(out.read_text())["symbols"] == ["TEST"]


def test_select_bad_regime_spec_is_a_positioned_error(tmp_path, capsys):
    regime = tmp_path / "regime.yaml"
    regime.write_text("kind: regime\nadx_window: 1\n")
    assert main(["select", "--data", "crypto_spot/ETH_BTC-5m", "--out", str(tmp_path / "a.json"),
                 "--regime", str(regime)]) == 1
    assert f"{regime}:2:13: error SCHEMA_VALUE `adx_window`" in capsys.readouterr().err


def test_select_reads_the_given_selection_spec(tmp_path, capsys):
    """`engine run` reads the selection spec from its --specs; select is given the same file."""
    rows = [{"symbol": s, "tf": "1h", "trades": 30, "sharpe": sh, "profit_factor": 1.5, "max_drawdown": 0.1,
             "winrate": w} for s, sh, w in [("A", 2.0, 0.3), ("B", 1.0, 0.9)]]
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps(rows))
    out = tmp_path / "picked.json"
    spec = tmp_path / "selection.yaml"
    spec.write_text(f"kind: selection\ntop_k: 1\nweights: {{winrate: 1.0}}\nfallback_file: {out}\n")
    assert main(["select", "--metrics", str(metrics), "--selection", str(spec)]) == 0
    assert json.loads(out.read_text())["symbols"] == ["B"]  # its top_k, its weights, its fallback_file
    spec.write_text("kind: selection\ntop_k: 0\n")
    assert main(["select", "--metrics", str(metrics), "--selection", str(spec)]) == 1
    assert f"{spec}:2:8: error SCHEMA_VALUE `top_k`" in capsys.readouterr().err


TRAIN = ["train", "ml", "--symbol", "ETH/BTC", "--tf", "5m"]


@pytest.mark.parametrize("command, option", [(TRAIN, "--spec"), (TRAIN, "--regime"), (["select"], "--spec"),
                                             (["select"], "--regime"), (["select"], "--selection")])
def test_a_missing_spec_file_is_a_usage_error(tmp_path, capsys, command, option):
    with pytest.raises(SystemExit) as e:
        main([*command, option, str(tmp_path / "nope.yaml")])
    assert e.value.code == 2
    assert f"argument {option}: {tmp_path / 'nope.yaml'}: no such file or folder" in capsys.readouterr().err
