"""Who holds a restriction decides what lifts it (specs/kill/kill_modes.yaml). The day roll lifts a
daily-loss close-only and nothing else: an operator's close-only, a fault, a flatten or a halt hold
until an operator resumes. QA found the hole: an operator's close-only given while a daily-loss
close-only was in force was not applied (no transition from `close_only`), `tripped_by` stayed
`daily_loss`, and the next day roll reopened entries."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from engine.runtime import BoundMachine, Registry
from engine.spec.loader import load_specs
from runtime_support import interp

SPECS = Path(__file__).resolve().parents[1] / "specs"
CALM = {"pnl": {"daily_loss": 0.0, "drawdown": 0.0}}
BAD_DAY = {"pnl": {"daily_loss": 0.04, "drawdown": 0.0}}  # past daily_loss_limit (3.5%), inside the hard limits
# Operator commands, and the automatic causes that must hold until an operator resumes.
HOLDS = {"manual_close_only", "manual_halt", "manual_flatten", "disaster", "fault"}


@pytest.fixture(scope="module")
def kill() -> BoundMachine:
    specset, _ = load_specs([SPECS])
    reg = Registry()
    for name in specset.catalogue.actions:  # each call is kept on the host list
        reg.action(name)(lambda ctx, _name=name, **kw: ctx.host.append((_name, kw)))
    return BoundMachine.build(specset.machines["kill_modes"], reg)


def _daily_loss_close_only(kill: BoundMachine):
    it, _, _ = interp()
    calls: list = []
    inst = it.create(kill, "kill", host=calls)
    it.send(inst, "risk_update", inputs=BAD_DAY)
    assert (inst.state, inst.ctx["tripped_by"]) == ("close_only", "daily_loss")
    return it, inst, calls


def test_an_operator_close_only_during_a_daily_loss_one_outlasts_the_day_roll(kill: BoundMachine) -> None:
    it, inst, calls = _daily_loss_close_only(kill)
    records = it.send(inst, "manual_close_only", inputs=BAD_DAY)
    assert [r.kind for r in records] == ["transition"], "journaled as not applied: the operator's command lost"
    assert inst.ctx["tripped_by"] == "manual"
    assert ("notify", {"text": "kill: close-only, manual (was daily_loss): held until an operator resumes"}) in calls
    it.send(inst, "day_rolled", inputs=CALM)
    assert inst.state == "close_only", "the day roll reopened entries the operator closed"
    it.send(inst, "manual_resume", inputs=CALM)
    assert inst.state == "normal"


def test_a_fault_during_a_daily_loss_close_only_outlasts_the_day_roll(kill: BoundMachine) -> None:
    it, inst, _ = _daily_loss_close_only(kill)
    it.send(inst, "fault", {"reason": "lost feed"}, inputs=BAD_DAY)
    assert inst.ctx["tripped_by"] == "fault: lost feed"
    it.send(inst, "day_rolled", inputs=CALM)
    assert inst.state == "close_only"


def test_a_daily_loss_or_a_fault_never_takes_over_an_operator_s_close_only(kill: BoundMachine) -> None:
    it, _, _ = interp()
    inst = it.create(kill, "kill", host=[])
    it.send(inst, "manual_close_only", inputs=CALM)
    it.send(inst, "risk_update", inputs=BAD_DAY)
    it.send(inst, "fault", {"reason": "lost feed"}, inputs=BAD_DAY)
    it.send(inst, "day_rolled", inputs=CALM)
    assert (inst.state, inst.ctx["tripped_by"]) == ("close_only", "manual")


# The automatic events twice: what could lift a restriction comes more often than what makes one.
_EVENTS = st.sampled_from(["risk_update", "trade_closed", "day_rolled", "cooldown_elapsed", "flattened",
                           "flatten_overdue"] * 2 + ["fault", "disaster", "manual_flatten", "manual_close_only",
                                                     "manual_halt", "manual_resume"])
_PNL = st.fixed_dictionaries({"daily_loss": st.sampled_from([0.0, 0.04, 0.04, 0.06]),
                              "drawdown": st.sampled_from([0.0, 0.0, 0.12])})


@settings(max_examples=400, deadline=None)
@example(steps=[("risk_update", BAD_DAY["pnl"], 0.0), ("manual_close_only", BAD_DAY["pnl"], 0.0),
                ("day_rolled", CALM["pnl"], 0.0)])  # QA's repro
@example(steps=[("risk_update", BAD_DAY["pnl"], 0.0), ("fault", BAD_DAY["pnl"], 0.0), ("day_rolled", CALM["pnl"], 0.0)])
@given(steps=st.lists(st.tuples(_EVENTS, _PNL, st.sampled_from([-5.0, 5.0])), max_size=30))
def test_only_an_operator_resume_lifts_what_an_operator_or_a_fault_restricted(kill: BoundMachine, steps) -> None:
    """From any history, once an operator command or a fault restricted the book (or a hard limit
    flattened it), no automatic event (a day roll, a timer, a calm P&L) reopens entries: only a
    resume the spec applies does."""
    it, _, _ = interp()
    inst = it.create(kill, "kill", host=[])
    held = False
    for event, pnl, trade in steps:
        payload = {"pnl": trade} if event == "trade_closed" else {"reason": "x"} if event == "fault" else None
        records = it.send(inst, event, payload, inputs={"pnl": pnl})
        if event == "manual_resume" and any(r.kind == "transition" for r in records):
            held = False
        held = held or event in HOLDS or inst.state in ("flatten_all", "halted")
        assert not (held and inst.state == "normal"), (event, inst.ctx)


@pytest.mark.parametrize("state, command", [("flatten_all", "manual_close_only"), ("flatten_all", "manual_halt"),
                                            ("flatten_all", "manual_resume"), ("halted", "manual_close_only"),
                                            ("halted", "manual_halt"), ("normal", "manual_resume")])
def test_a_command_that_asks_for_less_than_the_mode_does_is_dropped_on_purpose(kill: BoundMachine, state: str,
                                                                                command: str) -> None:
    """A close-only or a halt while flattening or halted, a resume mid-flatten or with nothing to
    resume: the spec ignores each on purpose (the journal says so), not by a gap."""
    assert kill.machine.ignores_in(state, command)


def test_a_run_journals_the_operator_s_close_only_as_applied_and_the_day_roll_keeps_it(tmp_path: Path) -> None:
    """QA's repro through the run: the command is applied with the operator's reason, and the
    run's day roll (sent as the run sends it) leaves the book close-only."""
    from test_run_failclosed import _command, _runner, _specs

    runner = _runner(_specs(tmp_path), tmp_path)
    ses = runner.session
    ses.send(ses.kill, "risk_update", inputs=BAD_DAY)
    assert (ses.kill.state, ses.kill.ctx["tripped_by"]) == ("close_only", "daily_loss")
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    seq = max(r.seq for r in ses.store.iter_journal())
    _command(runner, "close_only", reason="keep it past the day roll")
    ses.send(ses.kill, "day_rolled", inputs=CALM)
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    [row] = [r for r in ses.store.iter_journal() if r.seq > seq and r.kind == "command" and "moved" in r.payload]
    assert row.reason == "keep it past the day roll" and row.payload["moved"] == ["kill: close_only -> close_only"]
    assert (ses.kill.state, ses.kill.ctx["tripped_by"]) == ("close_only", "manual") and not ses.entries_allowed
    # report.json's kill events end with the take-over, not the daily loss the day roll would lift (rev28)
    last = ses.kill_events[-1]
    assert (last["from"], last["to"], last["event"]) == ("close_only", "close_only", "manual_close_only")
    assert last["reason"] == "held by manual, was daily_loss (operator: keep it past the day roll)"
    [kill_row] = [r for r in ses.store.iter_journal() if r.seq > seq and r.kind == "kill"]
    assert kill_row.payload["tripped_by"] == "manual" and kill_row.payload["was"] == "daily_loss"


@pytest.mark.parametrize("command", ["manual_flatten", "manual_halt"])
def test_a_quiet_sample_where_no_transition_takes_it_leaves_no_record(kill: BoundMachine, command: str) -> None:
    """`risk_update` is sampled: a sample that decides nothing is dropped without a record
    (docs/spec-format.md), also in a state with no `risk_update` transition at all. Each bar of a
    run flattening or halted wrote one `unhandled` record before."""
    it, _, sink = interp()
    inst = it.create(kill, "kill", host=[])
    it.send(inst, command, inputs=CALM)
    before = len(sink.records)
    assert it.send(inst, "risk_update", inputs=CALM) == [] and len(sink.records) == before
