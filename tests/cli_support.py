"""What the tests of the `engine` command line share: a run config of one data set, and the
engine run as a user runs it (a process, or in-process through the `at_root` fixture in
tests/conftest.py), from the repo root and without the developer's store or live opt-in."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from engine.run.optin import ENV_VAR

ROOT = Path(__file__).resolve().parents[1]
# 960 bars of one data set, a checkpoint every 50: not the embedded defaults' 200, so a resume
# given another config (or none) is refused.
ONE_DATASET = """checkpoint_every: 50
data:
  crypto_spot:
    datasets: [crypto_spot/ETH_BTC-5m]
    primary: 15m
    confirm: 5m
"""
UNSET = ("ENGINE_DB_URL", ENV_VAR)  # a developer's store and live opt-in must not reach a test's run


def engine_env(**extra: str) -> dict[str, str]:
    """This process's environment less UNSET, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if k not in UNSET}, **extra}


def engine_process(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`engine ARGV` in a process of its own, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "engine.cli", *argv], cwd=cwd, capture_output=True, text=True,
                          env=engine_env(), timeout=600)


def after_word(command: str) -> list[str]:
    """A suggested command's words after its command word (engine/suggest.py): `engine`, or the
    interpreter and `-m engine.cli` that engine_process runs the engine with."""
    words = shlex.split(command)
    if words[1:3] == ["-m", "engine.cli"]:
        assert os.path.samefile(words[0], sys.executable), command
        return words[3:]
    assert words[0] == "engine", command
    return words[1:]


def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process commands where and as engine_process runs them."""
    monkeypatch.chdir(ROOT)
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)


def cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """`engine ARGV` in-process: (exit code, stdout, stderr), never a traceback."""
    from engine.cli import main

    try:
        rc = main(list(argv))
    except SystemExit as e:  # argparse
        rc = e.code
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return rc, out.out, out.err
