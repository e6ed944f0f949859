"""One rule finds the store for every command (state.db.store_url): --db, then ENGINE_DB_URL,
then the run config's `db`, then var/engine.db; `engine status`/`kill` given the inputs
`engine run` was given find the store it used."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from state.db import store_url
from state.store import Store

ROOT = Path(__file__).resolve().parents[1]
SPECS = str(ROOT / "specs")
ONE = "data:\n  crypto_spot:\n    datasets: [crypto_spot/ETH_BTC-5m]\n    primary: 15m\n    confirm: 5m\n"


def test_the_flag_beats_the_environment_which_beats_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENGINE_DB_URL", raising=False)
    assert store_url() == "sqlite:///var/engine.db"
    assert store_url(None, "var/c.db") == "sqlite:///var/c.db"
    monkeypatch.setenv("ENGINE_DB_URL", "postgresql://u@h/env")
    assert store_url(None, "var/c.db") == "postgresql://u@h/env"
    assert store_url("var/flag.db", "var/c.db") == "sqlite:///var/flag.db"
    assert store_url("postgresql://u@h/flag") == "postgresql://u@h/flag"  # --db takes a URL too


def _run(work: Path, *args: str, env: dict[str, str]) -> None:
    base = {k: v for k, v in os.environ.items() if k != "ENGINE_DB_URL"}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--stage", "1", "--no-progress",
                           "--max-bars", "60", "--run-dir", str(work / "run"), *args], cwd=ROOT,
                          capture_output=True, text=True, env={**base, **env}, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def _status(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    code = main(["status", "--json", *args, "--specs", SPECS])
    out = capsys.readouterr()
    return code, json.loads(out.out)["db"] if code == 0 else out.err


def test_run_and_status_agree_when_db_and_the_environment_disagree(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "run.yaml").write_text(ONE + f"db: {tmp_path / 'config.db'}\n")
    env_db, flag_db = tmp_path / "env.db", tmp_path / "flag.db"
    _run(tmp_path, "--config", str(tmp_path / "run.yaml"), "--db", str(flag_db),
         env={"ENGINE_DB_URL": f"sqlite:///{env_db}"})
    assert flag_db.is_file() and not env_db.exists() and not (tmp_path / "config.db").exists()
    monkeypatch.setenv("ENGINE_DB_URL", f"sqlite:///{env_db}")
    assert _status(capsys, "--db", str(flag_db)) == (0, f"sqlite:///{flag_db}")
    code, err = _status(capsys)  # the environment's store: no run there
    assert code == 1 and "no run yet" in err


def test_status_and_kill_find_the_store_a_run_config_named(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    config, db = tmp_path / "run.yaml", tmp_path / "var" / "c.db"
    config.write_text(ONE + f"db: {db}\n")
    _run(tmp_path, "--config", str(config), env={})
    assert db.is_file()
    monkeypatch.delenv("ENGINE_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # var/engine.db here is not it
    assert _status(capsys, "--config", str(config)) == (0, f"sqlite:///{db}")
    assert main(["kill", "--mode", "halt", "--config", str(config), "--specs", SPECS]) == 0
    with Store.open(path=str(db)) as s:
        assert [c.command for c in s.take_commands()] == ["halt"]
    code, err = _status(capsys)
    assert code == 1 and "no run yet" in err


def test_a_bad_config_for_status_is_one_message_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("db: [not, a, path]\n")
    code, err = _status(capsys, "--config", str(config))
    assert code == 1 and err.startswith(f"{config}:1:") and "Traceback" not in err  # as `engine run` prints it


def test_a_config_folder_is_called_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, err = _status(capsys, "--config", str(tmp_path))
    assert code == 2 and f"--config {tmp_path}: a directory; pass the run config file" in err, err
