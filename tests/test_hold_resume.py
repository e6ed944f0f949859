"""A run killed while it holds for the operator (config `operator_wait_s`) holds again at the same
row when resumed, before replaying anything: the operator's answer then lands where it would have
in the uninterrupted run. Before (rev28), the resumed run replayed a quiet stretch first and held
rows later, so a promotion applied later and the run departed from the uninterrupted one."""
from __future__ import annotations

from pathlib import Path

import pytest

import engine.run.loop as loop
from engine.run.keys import CHECKPOINT_KEY
from test_run_gate_phases import _assembled
from run_support import write_env_override


class Killed(Exception):
    """SIGKILL, as far as the replay can tell: it stops where it is, nothing runs after."""


class Wall:
    """The wall clock of a held replay; the first pause of each hold is noted (the row held at)."""

    def __init__(self, runner, kill: bool) -> None:
        self.runner, self.kill, self.now, self.held_at = runner, kill, 0.0, []

    def wall(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.now += seconds
        if not self.held_at or self.held_at[-1] != self.runner.bars:
            self.held_at.append(self.runner.bars)
        if self.kill:
            raise Killed


def _runner(work: Path, overrides: Path, monkeypatch: pytest.MonkeyPatch, kill: bool, resume: bool = False):
    runner = _assembled(work, overrides, resume=resume)
    runner.session.cfg = runner.session.cfg.model_copy(update={"operator_wait_s": 1.0})
    clock = Wall(runner, kill)
    monkeypatch.setattr(loop, "wall", clock.wall)
    runner.pause = clock.pause
    return runner, clock


def test_a_run_killed_in_its_hold_holds_again_at_that_row_on_resume(tmp_path: Path, monkeypatch) -> None:
    overrides = write_env_override(tmp_path / "ovr", wallet=1000.0)
    runner, clock = _runner(tmp_path, overrides, monkeypatch, kill=True)
    ses = runner.session
    runner.run(limit=60)
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "candidate"})
    assert ses.rollout.state == "confirm_stage_2"
    with pytest.raises(Killed):
        runner.run()
    [held] = clock.held_at
    assert ses.store.get_json(CHECKPOINT_KEY)["cursor"] == held  # the hold checkpointed first
    ses.store.close()
    ses.venue.close()

    again, clock = _runner(tmp_path, overrides, monkeypatch, kill=False, resume=True)
    try:
        again.run(limit=held + 60)  # 15 hours: inside the 24 h confirmation window
        assert again.session.rollout.state == "confirm_stage_2"
        assert clock.held_at[:1] == [held], "held at the row it was killed in, before any other"
        assert len(clock.held_at) == 1  # and once: the hold it finished is saved with the next checkpoint
    finally:
        again.session.store.close()
        again.session.venue.close()
