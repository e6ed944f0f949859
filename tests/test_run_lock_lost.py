"""A run that loses its store's run lock (a PostgreSQL session ended by a server restart or an
idle timeout) fails closed: another engine could now start on the store, so this one opens no
more risk. The kill machine goes close-only with the reason; exits still pass."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from run_support import Checker, Scenario, build, write_env_override

FLIPPING = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=400, seed=5, partial_fill_prob=0.0,
                    slippage_bps=0.0, max_hold_s=1e12, flip_every=6)
LOST = "the store's run lock is lost: its connection failed (OperationalError)"


def _run_with_a_resume_at(runner, bar: int) -> None:
    """Run, with the operator's `engine kill --mode resume` taken at row `bar`."""
    step = runner.step

    def step_with_resume(s, i) -> None:
        if runner.bars == bar:
            runner.session.store.post_command("resume")
            runner.poll_commands()
        step(s, i)

    runner.step = step_with_resume
    runner.run()


@pytest.fixture(autouse=True)
def poll_every_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands (and the lock) are polled by wall time; here at every stepped bar."""
    import engine.run.loop as loop

    monkeypatch.setattr(loop, "wall", lambda: math.inf)


def test_a_lost_run_lock_makes_the_run_close_only(tmp_path: Path) -> None:
    """Lost at row 200, the lock is never held again: the run goes close-only with the reason,
    and an operator's resume at row 300 is undone at the same poll (the engine is invisible to
    `engine status`/`kill` meanwhile, so nobody sees what they would reopen)."""
    runner = build(FLIPPING, tmp_path / "run", write_env_override(tmp_path / "overrides0", wallet=1_000_000.0),
                   Checker())
    ses = runner.session
    runner.skip_quiet = False  # step every bar: the poll that finds the loss comes on a given bar
    runner.lock_lost = lambda: LOST if runner.bars >= 200 else ""
    _run_with_a_resume_at(runner, 300)
    assert ses.kill.state == "close_only" and ses.kill.ctx["tripped_by"] == f"fault: {LOST}"
    journal = ses.store.journal_entries()
    faults = [e for e in journal if e.kind == "fault"]
    assert [f.reason for f in faults] == [LOST, LOST], "faulted at the loss, and again after the resume"
    entries = [e for e in journal if e.kind == "intent" and e.payload["role"] == "entry"]
    assert entries and all(e.seq < faults[0].seq for e in entries), "no entry after the lock was lost"
    ses.store.close()


def test_a_lock_taken_again_lets_the_operator_resume(tmp_path: Path) -> None:
    runner = build(FLIPPING, tmp_path / "run", write_env_override(tmp_path / "overrides0", wallet=1_000_000.0),
                   Checker())
    ses = runner.session
    runner.skip_quiet = False
    runner.lock_lost = lambda: LOST if 200 <= runner.bars < 250 else ""  # re-acquired at row 250
    _run_with_a_resume_at(runner, 300)
    assert ses.kill.state != "close_only"
    assert len([e for e in ses.store.journal_entries() if e.kind == "fault"]) == 1
    ses.store.close()
