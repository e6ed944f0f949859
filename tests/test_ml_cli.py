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


def test_select_until_ranks_on_nothing_at_or_after_it(tmp_path, monkeypatch):
    """Without --until, select ranked on every bar, and so on the outcomes a run then replays."""
    import pandas as pd

    from strategies import selection

    bars = random_bars(2500, seed=8)
    cut = bars.index[1800]
    later = bars.copy()
    later.loc[later.index >= cut, ["open", "high", "low", "close"]] *= 1.05  # other outcomes from the cut on
    spec = tmp_path / "filter.yaml"
    spec.write_text("kind: ml\nmodel: {n_estimators: 5}\n"
                    "walkforward: {train: 2d, test: 12h, min_folds: 3, min_train_samples: 100}\n")
    ranked = []
    real = selection.rank
    monkeypatch.setattr(selection, "rank", lambda rows, *a: ranked.append(rows) or real(rows, *a))
    for name, frame, until in (("a", bars, cut), ("b", later, cut), ("c", bars, None)):
        data = tmp_path / name / "TEST-5m.csv"
        data.parent.mkdir()
        frame.to_csv(data, index_label="ts")
        out = tmp_path / name / "active.json"
        assert main(["select", "--data", str(data), "--registry", str(tmp_path / "reg"), "--out", str(out),
                     "--spec", str(spec), "--min-trades", "0", *(["--until", cut.isoformat()] if until else [])]) == 0
        seen = pd.Timestamp(json.loads(out.read_text())["ranked_until"])
        assert (seen < cut) if until else (seen >= cut)
    assert ranked[0] == ranked[1] and ranked[0] != ranked[2]


def test_select_names_a_data_set_it_does_not_know_as_such(tmp_path, capsys):
    """It was read as a model file's missing key: `no "no bundled data set ..." in what was read`."""
    assert main(["select", "--data", "FOO/BAR", "--out", str(tmp_path / "a.json"), "--registry",
                 str(tmp_path / "reg")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("engine select: no bundled data set or file 'FOO/BAR'") and "older engine" not in err
    assert not (tmp_path / "a.json").exists()


@pytest.mark.parametrize("given", ["data", "metrics"])
def test_select_with_nothing_to_rank_writes_no_empty_set(tmp_path, capsys, given):
    """It wrote {"symbols": []} with exit 0: a run given that file enters nothing."""
    out = tmp_path / "a.json"
    if given == "data":
        data = tmp_path / "TEST-5m.csv"
        random_bars(30, seed=8).to_csv(data, index_label="ts")  # too short to walk forward
        args = ["--data", str(data), "--registry", str(tmp_path / "reg")]
    else:
        (tmp_path / "m.json").write_text("[]")
        args = ["--metrics", str(tmp_path / "m.json")]
    assert main(["select", *args, "--out", str(out)]) == 1
    assert "engine select: nothing to rank: " in capsys.readouterr().err and not out.exists()


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


GOOD = {"symbol": "LTC/BTC", "tf": "5m", "trades": 30, "winrate": 0.6, "profit_factor": 1.5, "sharpe": 1.2,
        "max_drawdown": 0.05}


@pytest.mark.parametrize("text, said", [
    ('[{"symbol": "ETH/BTC", "tf": "5m", "trades": 30, "winrate": 0.1, "profit_factor": Infinity, "sharpe": 1,'
     ' "max_drawdown": 0.9}]', ":1:83: error METRICS `Infinity` is not a number"),
    ('[\n  {"symbol": "ETH/BTC", "tf": "5m",\n   "trades": "thirty"}\n]', ":3:14: error METRICS row 1: `trades`"),
    ('[{"symbol": "ETH/BTC"}]', ":1:2: error METRICS row 1: `trades`: field required"),
    ('[{"symbol": "ETH/BTC", "trades": 30, "winrate": 1.5, "profit_factor": 1, "sharpe": 1, "max_drawdown": 0}]',
     "row 1: `winrate`: input should be less than or equal to 1"),
])
def test_select_refuses_a_metrics_row_it_cannot_rank_at_its_line(tmp_path, capsys, text, said):
    """An infinite Sharpe outranked every real row and became the active set; a text where a number
    goes was a TypeError traceback; a missing metric was `engine select: trades`."""
    metrics = tmp_path / "m.json"
    metrics.write_text(text[:-1] + f", {json.dumps(GOOD)}]")  # beside a sane row
    out = tmp_path / "active.json"
    assert main(["select", "--metrics", str(metrics), "--top-k", "1", "--out", str(out)]) == 1
    assert (f"{metrics}{said}" if said.startswith(":") else said) in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("out, said", [("adir", "--out {d}/adir is a folder"),
                                       ("afile/x.json", "--out {d}/afile/x.json: {d}/afile is a file, not a folder")])
def test_select_out_that_cannot_be_a_file_is_a_usage_error_in_words(tmp_path, capsys, out, said):
    """They printed `engine select: 21` and `engine select: 17`, bare errno values."""
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("")
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps([GOOD]))
    assert main(["select", "--metrics", str(metrics), "--out", str(tmp_path / out)]) == 2
    assert said.format(d=tmp_path) in capsys.readouterr().err


def test_select_state_url_never_shows_its_password(tmp_path, capsys):
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps([GOOD]))
    assert main(["select", "--metrics", str(metrics), "--state", "postgresql://u:s3cretpw@127.0.0.1:1/x"]) != 0
    err = capsys.readouterr().err
    assert "--state postgresql://u:***@127.0.0.1:1/x" in err and "s3cretpw" not in err


@pytest.mark.parametrize("state, said", [
    ("postgresql://u:s3cretpw@127.0.0.1:1/x", "cannot open the state store postgresql://u:***@127.0.0.1:1/x"),
    ("notdb.db", "notdb.db is not a usable SQLite store"),
    ("adir", "the state store adir cannot be opened"),
])
def test_train_state_that_cannot_be_opened_is_refused_before_training(tmp_path, capsys, monkeypatch, state, said):
    """A URL became folders named after it (its password in a file name), exit 0; a folder or a
    file that is no database was a traceback after the whole training."""
    from strategies.ml import dataset

    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    (tmp_path / "notdb.db").write_text("hello")
    monkeypatch.setattr(dataset, "load", lambda *a, **k: pytest.fail("trained before the store was checked"))
    here = [f"--{k}={ROOT / 'specs' / 'ml' / f}" for k, f in (("spec", "filter.yaml"), ("regime", "regime.yaml"))]
    assert main([*TRAIN, *here, "--registry", "reg", "--state", state]) == 2
    err = capsys.readouterr().err
    assert said in err and "s3cretpw" not in err and "Traceback" not in err
    assert {p.name for p in tmp_path.iterdir()} == {"adir", "notdb.db"}  # nothing made


def test_train_registry_that_is_a_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    assert main([*TRAIN, "--registry", str(tmp_path / "afile")]) == 2
    assert f"--registry {tmp_path}/afile: {tmp_path}/afile is a file, not a folder" in capsys.readouterr().err
