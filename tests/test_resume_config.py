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

from cli_support import ONE_DATASET, ROOT, engine_env, engine_process
from engine.cli import main

SPECS = str(ROOT / "specs")
pytestmark = pytest.mark.usefixtures("at_root")


def _suggested(text: str, folder: Path | None = ROOT) -> list[str]:
    """The `engine run` arguments of a suggested `cd FOLDER && engine run ...` (run where the run ran;
    `folder` None: a run stored before its folder was, suggested without the `cd`)."""
    words = shlex.split(text.split("`")[1] if "`" in text else text)
    if folder is not None:
        assert words[:3] == ["cd", str(folder), "&&"], text
        words = words[3:]
    assert words[:2] == ["engine", "run"], text
    return words[1:]


def test_status_kill_and_promote_suggest_the_runs_config_and_the_resume_it_names_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config, db = tmp_path / "slow run.yaml", tmp_path / "e.db"  # a space: the command must quote it
    config.write_text(ONE_DATASET)
    first = engine_process("run", "--stage", "1", "--no-progress", "--config", str(config), "--db", str(db),
                           "--run-dir", str(tmp_path / "run"), "--max-bars", "120")
    assert first.returncode == 0, first.stderr[-2000:]
    assert main(["status", "--json", "--db", str(db), "--specs", SPECS]) == 0
    resume = _suggested(json.loads(capsys.readouterr().out)["engine"]["resume"])
    assert resume[resume.index("--config") + 1] == str(config) and resume[-1] == "--resume"
    assert main(["kill", "--mode", "close-only", "--db", str(db), "--specs", SPECS]) == 0
    assert str(config) in capsys.readouterr().out  # the command is queued for that resume
    without = [w for i, w in enumerate(resume) if w != "--config" and resume[i - 1] != "--config"]
    refused = engine_process(*without, "--max-bars", "240")
    assert refused.returncode == 1 and f"(--config {shlex.quote(str(config))})" in refused.stderr, refused.stderr
    done = engine_process(*resume, "--max-bars", "240", "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_resume_found_through_another_config_names_the_store(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Status given a config only to find the store: the run's own config may name another store."""
    from engine.run.keys import CHECKPOINT_KEY, CONFIG_FILE_KEY
    from state.store import Store

    db, finder = tmp_path / "e.db", tmp_path / "finder.yaml"
    finder.write_text(f"db: {db}\n")
    with Store.open(path=str(db)) as s:
        s.put_json(CHECKPOINT_KEY, {"cursor": 120, "clock": 1516515300.0, "stage": 1})
        s.put_json(CONFIG_FILE_KEY, {"path": None})  # the run was given no --config
    assert main(["status", "--json", "--config", str(finder), "--specs", SPECS]) == 0
    resume = _suggested(json.loads(capsys.readouterr().out)["engine"]["resume"], None)
    assert "--config" not in resume and resume[resume.index("--db") + 1] == str(db)


def test_a_resume_whose_config_is_broken_now_names_the_store(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The run's config, edited since into one this build refuses: the suggestion names the store
    outright rather than failing on that config (its errors are the resume's to report)."""
    from engine.run.keys import CHECKPOINT_KEY, CONFIG_FILE_KEY
    from state.store import Store

    db, broken, finder = tmp_path / "e.db", tmp_path / "run.yaml", tmp_path / "finder.yaml"
    broken.write_text("db: [not, a, path]\n")
    finder.write_text(f"db: {db}\n")
    with Store.open(path=str(db)) as s:
        s.put_json(CHECKPOINT_KEY, {"cursor": 120, "clock": 1516515300.0, "stage": 1})
        s.put_json(CONFIG_FILE_KEY, {"path": str(broken)})
    assert main(["status", "--json", "--config", str(finder), "--specs", SPECS]) == 0
    resume = _suggested(json.loads(capsys.readouterr().out)["engine"]["resume"], None)
    assert resume[resume.index("--db") + 1] == str(db)


def test_a_resume_names_the_specs_the_run_was_given(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The specs status reads its commands from need not be the run's: the run's own come back."""
    from engine.run.keys import CHECKPOINT_KEY, CONFIG_FILE_KEY
    from state.store import Store

    db, theirs = tmp_path / "e.db", str(tmp_path / "my specs")
    with Store.open(path=str(db)) as s:
        s.put_json(CHECKPOINT_KEY, {"cursor": 120, "clock": 1516515300.0, "stage": 1})
        s.put_json(CONFIG_FILE_KEY, {"path": None, "specs": [theirs]})
    assert main(["status", "--json", "--db", str(db), "--specs", SPECS]) == 0
    resume = _suggested(json.loads(capsys.readouterr().out)["engine"]["resume"], None)
    assert resume[resume.index("--specs") + 1] == theirs


def test_a_suggested_resume_pastes_in_another_folder(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A run given relative --config, --specs and store: the suggestion named them as typed, so
    pasted in another folder it failed. It runs where the run ran, naming the store from there."""
    ran, elsewhere, bin_ = tmp_path / "the run", tmp_path / "status", tmp_path / "bin"
    for folder in (ran, elsewhere, bin_):
        folder.mkdir()
    (ran / "specs").symlink_to(SPECS)
    (ran / "run.yaml").write_text(ONE_DATASET)
    (bin_ / "engine").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m engine.cli "$@"\n')
    (bin_ / "engine").chmod(0o755)
    env = engine_env(PYTHONPATH=str(ROOT), PATH=f"{bin_}:{os.environ['PATH']}")
    first = subprocess.run(["engine", "run", "--stage", "1", "--no-progress", "--config", "run.yaml", "--specs",
                            "specs", "--max-bars", "120"], cwd=ran, env=env, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    monkeypatch.chdir(elsewhere)
    assert main(["status", "--json", "--db", "../the run/var/engine.db", "--specs", SPECS]) == 0
    command = json.loads(capsys.readouterr().out)["engine"]["resume"]
    resume = _suggested(command, ran)
    assert resume[resume.index("--config") + 1] == str(ran / "run.yaml")
    assert resume[resume.index("--db") + 1] == str(ran / "var" / "engine.db")
    done = subprocess.run(f"{command} --max-bars 240 --no-progress", shell=True, cwd=bin_, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    [run_dir] = (ran / "runs").iterdir()  # the run's own folder, continued: resumed, not run afresh
    assert json.loads((run_dir / "report.json").read_text())["resumed_at_bar"] > 0
    assert list(bin_.iterdir()) == [bin_ / "engine"]  # nothing made where it was pasted


def test_a_resume_names_the_store_when_the_runs_db_overrode_its_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Run and status in one folder, status finding the default store: the run's --db had beaten
    its config's `db`, so the config alone would open another store (it was left out)."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "x.yaml"
    config.write_text(f"db: {tmp_path / 'x.db'}\nstrategy: {{file: {ROOT / 'specs/strategies/seed003.yaml'}}}\n{ONE_DATASET}")
    argv = ["run", "--stage", "1", "--no-progress", "--config", "x.yaml", "--specs", SPECS, "--max-bars", "120"]
    assert main([*argv, "--db", "var/engine.db"]) == 0
    capsys.readouterr()
    assert main(["status", "--json", "--specs", SPECS]) == 0
    resume = _suggested(json.loads(capsys.readouterr().out)["engine"]["resume"], tmp_path)
    assert resume[resume.index("--db") + 1] == str(tmp_path / "var" / "engine.db")
    assert not (tmp_path / "x.db").exists()
