"""The resume `engine status`, `kill` and `promote` suggest names the --config the run started
with (the store keeps it): a run given `--config slow.yaml` was suggested a resume without it,
which the config check refused without naming the file."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parents[1]
SPECS = str(ROOT / "specs")
SLOW = """checkpoint_every: 50
data:
  crypto_spot:
    datasets: [crypto_spot/ETH_BTC-5m]
    primary: 15m
    confirm: 5m
"""  # differs from the embedded defaults: a resume without it is refused


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ENGINE_DB_URL", raising=False)


def _engine(*argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ENGINE_DB_URL"}
    return subprocess.run([sys.executable, "-m", "engine.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=600)


def _suggested(text: str) -> list[str]:
    words = shlex.split(text.split("`")[1] if "`" in text else text)
    assert words[:2] == ["engine", "run"], text
    return words[1:]


def test_status_kill_and_promote_suggest_the_runs_config_and_the_resume_it_names_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config, db = tmp_path / "slow run.yaml", tmp_path / "e.db"  # a space: the command must quote it
    config.write_text(SLOW)
    first = _engine("run", "--stage", "1", "--no-progress", "--config", str(config), "--db", str(db),
                    "--run-dir", str(tmp_path / "run"), "--max-bars", "120")
    assert first.returncode == 0, first.stderr[-2000:]
    assert main(["status", "--json", "--db", str(db), "--specs", SPECS]) == 0
    resume = _suggested(json.loads(capsys.readouterr().out)["engine"]["resume"])
    assert resume[resume.index("--config") + 1] == str(config) and resume[-1] == "--resume"
    assert main(["kill", "--mode", "close-only", "--db", str(db), "--specs", SPECS]) == 0
    assert str(config) in capsys.readouterr().out  # the command is queued for that resume
    without = [w for i, w in enumerate(resume) if w != "--config" and resume[i - 1] != "--config"]
    refused = _engine(*without, "--max-bars", "240")
    assert refused.returncode == 1 and f"(--config {shlex.quote(str(config))})" in refused.stderr, refused.stderr
    done = _engine(*resume, "--max-bars", "240", "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_resume_found_through_another_config_names_the_store(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Status given a config only to find the store: the run's own config may name another store."""
    from engine.commands.run import CONFIG_FILE_KEY
    from engine.run.checkpoint import KEY
    from state.store import Store

    db, finder = tmp_path / "e.db", tmp_path / "finder.yaml"
    finder.write_text(f"db: {db}\n")
    with Store.open(path=str(db)) as s:
        s.put_json(KEY, {"cursor": 120, "clock": 1516515300.0, "stage": 1})
        s.put_json(CONFIG_FILE_KEY, {"path": None})  # the run was given no --config
    assert main(["status", "--json", "--config", str(finder), "--specs", SPECS]) == 0
    resume = _suggested(json.loads(capsys.readouterr().out)["engine"]["resume"])
    assert "--config" not in resume and resume[resume.index("--db") + 1] == f"sqlite:///{db}"


def test_a_resume_names_the_specs_the_run_was_given(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The specs status reads its commands from need not be the run's: the run's own come back."""
    from engine.commands.run import CONFIG_FILE_KEY
    from engine.run.checkpoint import KEY
    from state.store import Store

    db, theirs = tmp_path / "e.db", str(tmp_path / "my specs")
    with Store.open(path=str(db)) as s:
        s.put_json(KEY, {"cursor": 120, "clock": 1516515300.0, "stage": 1})
        s.put_json(CONFIG_FILE_KEY, {"path": None, "specs": [theirs]})
    assert main(["status", "--json", "--db", str(db), "--specs", SPECS]) == 0
    resume = _suggested(json.loads(capsys.readouterr().out)["engine"]["resume"])
    assert resume[resume.index("--specs") + 1] == theirs
