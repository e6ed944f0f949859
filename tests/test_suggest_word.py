"""The commands the engine suggests start with the words that started it (engine/suggest.py):
QA round 14 pasted `cd /folder && engine run ...` from a venv not activated and got
`engine: command not found`, while README runs `.venv/bin/engine`."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest

from cli_support import engine_env
from engine import suggest

ROOT = Path(__file__).resolve().parents[1]
SPECS = str(ROOT / "specs")


def _script(folder: Path) -> Path:
    """A console script as pip writes `engine` into a venv's bin folder."""
    folder.mkdir(exist_ok=True)
    path = folder / "engine"
    path.write_text(f"#!{sys.executable}\nimport sys\nfrom engine.cli import main\nsys.exit(main())\n")
    path.chmod(0o755)
    return path


def test_the_command_word_is_the_program_that_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _script(tmp_path / "venv bin")  # a space: the word must be quoted
    monkeypatch.setattr(sys, "argv", [str(script), "status"])
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert suggest.engine_word() == shlex.quote(str(script)), "not on PATH: its absolute path"
    monkeypatch.setenv("PATH", str(script.parent))
    assert suggest.engine_word() == "engine", "on PATH, the same program: the bare name"
    other = _script(tmp_path / "other")
    monkeypatch.setenv("PATH", str(other.parent))
    assert suggest.engine_word() == shlex.quote(str(script)), "another `engine` on PATH is not this one"
    monkeypatch.setitem(sys.modules, "__main__", types.SimpleNamespace(__spec__=types.SimpleNamespace(name="engine.cli")))
    assert suggest.engine_word() == f"{shlex.quote(sys.executable)} -m engine.cli"


def test_inside_another_program_the_word_is_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/bin/pytest"])
    assert suggest.engine_word() == "engine"


def _stopped_run(db: Path) -> None:
    """A store a run checkpointed in and stopped: status suggests its resume."""
    from engine.run.keys import CHECKPOINT_KEY
    from state.store import Store

    with Store.open(path=str(db)) as s:
        s.put_json(CHECKPOINT_KEY, {"cursor": 120, "clock": 1516515300.0, "stage": 1})


@pytest.mark.parametrize("on_path", [False, True])
def test_status_suggests_a_resume_that_starts_as_the_engine_was_started(tmp_path: Path, on_path: bool) -> None:
    """Run from a venv's bin by path, the resume names that script, which works pasted anywhere; with
    the script on PATH it says `engine`; run as `python -m engine.cli`, it says so."""
    db, script = tmp_path / "e.db", _script(tmp_path / "bin")
    _stopped_run(db)
    path = os.pathsep.join([str(script.parent)] * on_path + [os.path.dirname(sys.executable), "/usr/bin", "/bin"])
    env = engine_env(PATH=path, PYTHONPATH=str(ROOT))
    status = ["status", "--json", "--db", str(db), "--specs", SPECS]
    for argv, word in (([str(script)], "engine" if on_path else shlex.quote(str(script))),
                       ([sys.executable, "-m", "engine.cli"], f"{shlex.quote(sys.executable)} -m engine.cli")):
        done = subprocess.run([*argv, *status], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        resume = json.loads(done.stdout)["engine"]["resume"]
        assert resume.startswith(f"{word} run --stage 1 "), resume
        pasted = subprocess.run([*shlex.split(word), "--help"], cwd="/", env=env, capture_output=True, text=True,
                                timeout=120)  # the word works in another folder
        assert pasted.returncode == 0, (word, pasted.stderr)
