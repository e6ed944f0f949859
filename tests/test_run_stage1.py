"""The default stage-1 run (what `make run` does), end to end, for what QA found in it."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("stage1")
    env = {k: v for k, v in os.environ.items() if k not in ("ENGINE_DB_URL", "ENABLE_LIVE_TRADING")}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--stage", "1", "--db", str(tmp / "engine.db"),
                           "--run-dir", str(tmp / "run"), "--no-progress"], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "orders the venue refused" not in done.stdout  # every order the engine sent was valid
    return tmp / "run"


def test_no_bracket_is_left_without_a_transition(run_dir: Path) -> None:
    # A take-profit that filled in part and a stop that took the rest once left a bracket
    # `protected` with no position: its sibling's cancel found no transition.
    records = [json.loads(line) for line in (run_dir / "audit.jsonl").read_text().splitlines()]
    # (An exit of a late entry fill reports to a bracket already closed: "instance is done"; a
    # leg's cancel while a signal's exit flattens it is one the spec `ignores` there, on purpose.)
    assert not [r for r in records if r["machine"] == "bracket" and r["kind"] == "unhandled"
                and r["reason"] != "instance is done" and "(`ignores`)" not in r["reason"]]


def test_every_trade_names_the_exits_that_closed_it(run_dir: Path) -> None:
    """Two exits are named both, in fill order (tests/test_bracket_oco.py holds such a trade)."""
    with open(run_dir / "trades.csv", newline="") as f:
        reasons = [row["exit_reason"] for row in csv.DictReader(f)]
    assert reasons and all(set(r.split("+")) <= {"take_profit", "stop_loss", "signal", "max_hold", "weekend", "exit",
                                     "late entry fill after the bracket closed"}  # its close-out is in the trade
               or r.startswith("refused") for r in reasons), reasons


def test_every_transition_in_the_audit_trail_says_why(run_dir: Path) -> None:
    """QA found the unguarded transitions' records with an empty reason: the rollout's demotion on a
    kill broadcast, the kill machine's `flattened`, `cooldown_elapsed`. Each says what the spec
    says of it now (docs/interpreter.md, Records)."""
    records = [json.loads(line) for line in (run_dir / "audit.jsonl").read_text().splitlines()]
    moves = [r for r in records if r["kind"] == "transition"]
    assert moves and not [r for r in moves if not r["reason"].strip()]
