"""Operator commands across a crash: a command the engine has taken survives it (applied once,
never lost), and one queued while the engine is down waits for the resumed run to catch up
with the crashed one (applying it earlier would change the calls the venue answers from its
log), and is not consumed by a start that fails before then."""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from run_support import write_env_override
from resume_support import Stopped, finish_run, funded_run, journal_facts, stored_state

FLATTEN = ("flatten", {"machine": "kill_modes", "event": "manual_flatten", "mode": "flatten", "reason": "operator"})
CLOSE_ONLY = ("close_only", {"machine": "kill_modes", "event": "manual_close_only", "mode": "close-only",
                             "reason": "operator"})
POST_AT, STOP_AT = 112, 137  # rows: the command after the checkpoint at 100, the stop before the one at 150


@pytest.fixture(scope="module")
def overrides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_env_override(tmp_path_factory.mktemp("specs"), wallet=1_000_000.0)


@pytest.fixture(autouse=True)
def poll_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands are polled by wall time; here at every row boundary, so a run takes a command
    at the same row each time."""
    import engine.run.loop as loop

    monkeypatch.setattr(loop, "wall", lambda: math.inf)


def _posting(runner, command: tuple[str, dict]) -> None:
    """`engine kill` posts `command` once the run has done POST_AT rows."""
    step = runner.step

    def step_and_post(s, i) -> None:
        step(s, i)
        if runner.bars + 1 >= POST_AT and not runner.session.store.commands():
            runner.session.store.post_command(*command)

    runner.step = step_and_post


def _stopping(runner, at: int) -> None:
    step = runner.step

    def crashing_step(s, i) -> None:
        if runner.bars >= at:
            raise Stopped
        step(s, i)

    runner.step = crashing_step


def _stopped(runner) -> None:
    with pytest.raises(Stopped):
        runner.run()
    runner.session.store.close()
    runner.session.venue.close()


def _crash_on_apply(runner, after: bool) -> None:
    """Stopped as a kill would stop it while it applies a command it has taken: before the
    command's event, or after it (the flatten's exits already sent to the venue)."""
    apply = runner._apply

    def crashing_apply(command: str, text: str, only: str | None = None):
        if after:
            apply(command, text, only)
        raise Stopped

    runner._apply = crashing_apply


@pytest.fixture(scope="module")
def uninterrupted(overrides: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[Path, str]]:
    """Per durability, the uninterrupted run with the flatten taken at row 112, and its kill
    state: made once, compared with by each way of stopping."""
    made: dict[str, tuple[Path, str]] = {}

    def clean(durability: str) -> tuple[Path, str]:
        if durability not in made:
            work = tmp_path_factory.mktemp(f"clean-{durability}")
            runner = funded_run(work, overrides, durability)
            _posting(runner, FLATTEN)
            finish_run(runner)
            made[durability] = work, runner.session.kill.state
        return made[durability]
    return clean


@pytest.mark.parametrize("durability", ["batch", "full"])
@pytest.mark.parametrize("stop", ["rows later", "before the apply", "after the apply"])
def test_a_taken_command_survives_a_crash(durability: str, stop: str, overrides: Path, tmp_path: Path,
                                          uninterrupted: Callable[[str], tuple[Path, str]]) -> None:
    """Taken at row 112 and the run killed before its next regular checkpoint (150): the resumed
    run ends as an uninterrupted one with the same command, the flatten applied once."""
    clean, want_state = uninterrupted(durability)
    crashy = tmp_path / "crashy"
    runner = funded_run(crashy, overrides, durability)
    _posting(runner, FLATTEN)
    if stop == "rows later":
        _stopping(runner, STOP_AT)
    else:
        _crash_on_apply(runner, after=stop == "after the apply")
    _stopped(runner)
    resumed = funded_run(crashy, overrides, durability, resume=True)
    finish_run(resumed)
    assert want_state == "halted", "the flatten must move the kill machine, or this proves nothing"
    assert resumed.session.kill.state == want_state
    assert stored_state(crashy) == stored_state(clean)
    assert journal_facts(crashy) == journal_facts(clean)


def _queue_while_down(work: Path) -> None:
    from state.store import Store

    with Store.open(path=str(work / "engine.db")) as store:
        store.post_command(*CLOSE_ONLY)  # `engine kill --mode close-only` with no engine running


def _unconsumed(work: Path) -> list:
    from state.store import Store

    with Store.open(path=str(work / "engine.db")) as store:
        return [c.command for c in store.commands() if c.consumed_ts is None]


@pytest.mark.parametrize("durability", ["batch", "full"])
def test_a_command_queued_while_down_waits_for_the_catch_up(durability: str, overrides: Path,
                                                            tmp_path: Path) -> None:
    """Posted after a kill at row 137, the close-only is applied once the resumed run has re-made
    what the crashed one did after its checkpoint (row 100): the re-made part is the crashed
    run's, and a resume stopped before then leaves the command queued for the next."""
    runner = funded_run(tmp_path, overrides, durability)
    _stopping(runner, STOP_AT)
    _stopped(runner)
    before = journal_facts(tmp_path)
    _queue_while_down(tmp_path)
    failed = funded_run(tmp_path, overrides, durability, resume=True)
    _stopping(failed, 120)  # ends while still re-making rows 100..137
    _stopped(failed)
    assert _unconsumed(tmp_path) == ["close_only"]
    resumed = funded_run(tmp_path, overrides, durability, resume=True)
    finish_run(resumed)
    assert _unconsumed(tmp_path) == [] and resumed.session.kill.state == "close_only"
    after = journal_facts(tmp_path)
    assert after[:len(before)] == before, "the crashed run's facts are re-made as they were"
    [applied] = [i for i, (kind, _, payload, _) in enumerate(after) if kind == "command" and "moved" in payload]
    assert after[applied][2]["moved"] == ["kill: normal -> close_only"] and applied >= len(before)


def test_a_command_queued_while_down_waits_for_the_crashed_runs_journal(overrides: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The venue's catch-up log ends at its last commit; the crashed run may have journaled
    decisions after it with no venue call. With the log taken as over from the start, the
    command still waits until the resumed run has passed the crashed run's last journaled row:
    applied at the checkpoint instead, it would change the calls the venue answers from its log."""
    runner = funded_run(tmp_path, overrides, "full")
    _stopping(runner, STOP_AT)
    _stopped(runner)
    before = journal_facts(tmp_path)
    _queue_while_down(tmp_path)
    resumed = funded_run(tmp_path, overrides, "full", resume=True)
    monkeypatch.setattr(type(resumed.session.venue), "catching_up", property(lambda self: False))
    finish_run(resumed)
    assert _unconsumed(tmp_path) == [] and resumed.session.kill.state == "close_only"
    after = journal_facts(tmp_path)
    assert after[:len(before)] == before
    [applied] = [i for i, (kind, _, payload, _) in enumerate(after) if kind == "command" and "moved" in payload]
    assert applied >= len(before)


def test_a_command_queued_while_down_lands_at_the_first_row_after_the_catch_up_whatever_the_wall_clock(
        overrides: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rev34: a poll declined during the catch-up still set the next one 0.25 s of wall time later,
    thousands of replayed rows: the command landed where wall time said, once at the run's last
    row. With no wall time passing at all, it still lands at the first row after the catch-up."""
    import engine.run.loop as loop
    from state.store import Store

    runner = funded_run(tmp_path, overrides, "batch")
    _stopping(runner, STOP_AT)
    _stopped(runner)
    _queue_while_down(tmp_path)
    monkeypatch.setattr(loop, "wall", lambda: 0.0)
    resumed = funded_run(tmp_path, overrides, "batch", resume=True)
    rows = []
    passed = resumed._passed
    resumed._passed = lambda n, *a: rows.append((resumed.bars + n, resumed.session.clock.now())) or passed(n, *a)
    finish_run(resumed)
    with Store.open(path=str(tmp_path / "engine.db")) as store:
        [row] = [e for e in store.journal_entries(kind="command") if "moved" in e.payload]
    after = [t for bar, t in rows if bar > STOP_AT]
    assert row.payload["moved"] == ["kill: normal -> close_only"] and row.ts <= after[0] < rows[-1][1]


def test_a_command_queued_between_runs_lands_at_the_first_resumed_row(overrides: Path, tmp_path: Path) -> None:
    """A run stopped at a checkpoint (`--max-bars`), then `engine kill`, then `--resume`: the
    command is taken before the first resumed row, not after the quiet stretch that follows."""
    from state.store import Store

    runner = funded_run(tmp_path, overrides, "batch")
    runner.run(limit=100)
    finish_time = runner.session.clock.now()
    runner.session.store.close()
    runner.session.venue.close()
    _queue_while_down(tmp_path)
    resumed = funded_run(tmp_path, overrides, "batch", resume=True)
    first_row = resumed.bars
    finish_run(resumed)
    with Store.open(path=str(tmp_path / "engine.db")) as store:
        [row] = [e for e in store.journal_entries(kind="command") if "moved" in e.payload]
    assert first_row == 100 and row.payload["moved"] == ["kill: normal -> close_only"]
    assert row.ts == finish_time, "taken at the resumed run's first poll, before any row is applied"


def test_an_applied_command_is_checkpointed_at_the_row_it_was_taken(overrides: Path, tmp_path: Path) -> None:
    """Rule (Runner._apply_taken): a second checkpoint saves a command's effect at once, not at the
    next regular checkpoint (150): the store then says the kill mode the operator asked for (what
    `engine status` and the next `engine kill` read), and a crash rows later resumes with the
    command applied, not still taken and waiting to be applied."""
    from engine.commands.status import machine_state
    from engine.run.keys import CHECKPOINT_KEY
    from state.store import Store

    runner = funded_run(tmp_path, overrides, "batch")
    _posting(runner, FLATTEN)
    _stopping(runner, STOP_AT)
    _stopped(runner)
    with Store.open(path=str(tmp_path / "engine.db")) as store:
        saved = store.get_json(CHECKPOINT_KEY)
        assert "commands" not in saved and POST_AT <= saved["cursor"] < STOP_AT
        assert machine_state(store, "kill_modes")[0] in ("flatten_all", "halted")


def test_a_command_posted_after_the_last_poll_is_applied_before_the_run_ends(
        overrides: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rule (Runner.run): polls are due by wall time, so a command posted after the last poll
    that came due would find the run finished, and no engine ever takes a command posted to a
    finished run: the run polls once more at its end. Here the wall clock stands still, so no
    poll comes due after the run's first one."""
    import engine.run.loop as loop

    monkeypatch.setattr(loop, "wall", lambda: 0.0)
    runner = funded_run(tmp_path, overrides, "batch")
    _posting(runner, FLATTEN)
    finish_run(runner)
    # Taken: flatten_all, or halted at once where nothing was open to close (no row left to close in).
    assert _unconsumed(tmp_path) == [] and runner.session.kill.state in ("flatten_all", "halted")


def test_a_command_taken_after_a_quiet_stretch_survives_a_crash(overrides: Path, tmp_path: Path) -> None:
    """Rule (Runner._passed, poll_commands' True): a poll that took a command checkpointed, so the
    row after it is screened again, as a run resumed at that checkpoint screens it; stepped
    instead, the crashed run's venue calls (on_bar) and the resumed run's (quiet_bars) differ,
    and the resume fails as a diverged replay. Here `engine kill` is typed during a quiet stretch."""
    runner = funded_run(tmp_path, overrides, "batch")
    skip, posted, [s] = runner.skip, [], runner.series

    def skip_and_post(k: int, end: int) -> int:
        reached = skip(k, end)
        # A stretch the venue ended (the strategy keeps its side): screening its last row again
        # asks the venue (quiet_bars), a logged call the stepped row never made.
        venue_ended = runner.decider.quiet_bars(s, reached + s.start, reached + s.start + 1) > 0
        if reached >= POST_AT and venue_ended and not posted:
            posted.append(reached)
            runner.session.store.post_command(*CLOSE_ONLY)
        return reached

    runner.skip = skip_and_post
    _stopping(runner, STOP_AT)
    _stopped(runner)
    assert posted and posted[0] < STOP_AT and _unconsumed(tmp_path) == []  # taken after the stretch
    resumed = funded_run(tmp_path, overrides, "batch", resume=True)
    finish_run(resumed)
    assert resumed.session.kill.state == "close_only"
