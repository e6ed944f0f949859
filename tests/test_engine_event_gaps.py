"""An event the engine sends to an order or bracket that its state neither takes nor `ignores`
is a gap in the spec: the run fails closed (close-only, saying where), and `engine validate`
finds the gaps it can know (ENGINE_EVENT_UNHANDLED); a transition on an event nothing sends
is NEVER_SENT. QA: with `leg_canceled` handled from `flattening` instead of `exiting`, brackets
stayed open for ever while the run went on normal, and a `margin_call` tripwire validated clean."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.commands.validate import validate
from engine.diagnostics import SpecError
from run_support import ROOT
from test_run_failclosed import _replace, _runner, _specs

LEG_CANCELED_FROM_EXITING = "  - event: leg_canceled\n    source: exiting\n"


def _tree(tmp: Path) -> Path:
    root = tmp / "specs"
    shutil.copytree(ROOT / "specs", root)
    return root


def _codes(root: Path, code: str) -> list[str]:
    return [f"{Path(d.pos.file).relative_to(root).as_posix()}:{d.pos.line}:{d.pos.col} {d.message}"
            for d in validate([str(root)])[0] if d.code == code]


def _line(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(text))


def _one_gap_at(root: Path, spec: Path, state: str) -> str:
    """The tree's only ENGINE_EVENT_UNHANDLED finding, which must be at `state` of `spec`."""
    [got] = _codes(root, "ENGINE_EVENT_UNHANDLED")
    assert got.startswith(f"{spec.relative_to(root).as_posix()}:{_line(spec, f'  {state}:')}:3 "), got
    return got


def _drop_transition(spec: Path, head: str) -> None:
    """Delete the transition that starts with `head`, up to the next one."""
    text = spec.read_text()
    assert text.count(head) == 1, head
    start = text.index(head)
    end = text.find("\n  - ", start + len(head))
    assert end != -1, "the last transition: nothing after it to stop at"
    spec.write_text(text[:start] + text[end + 1:])


# -- validate ------------------------------------------------------------------------------------
def test_the_shipped_specs_take_or_ignore_every_answer_the_engine_sends() -> None:
    assert _codes(ROOT / "specs", "ENGINE_EVENT_UNHANDLED") == []


def test_the_qa_edit_is_an_error_at_the_state_that_drops_the_cancel(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    bracket = root / "orders/bracket.yaml"
    _replace(bracket, LEG_CANCELED_FROM_EXITING, LEG_CANCELED_FROM_EXITING.replace("exiting", "flattening"))
    got = _one_gap_at(root, bracket, "exiting")
    assert "does not take `leg_canceled` in `exiting`" in got and "`cancel_sibling`" in got
    with pytest.raises(SpecError):  # `engine run` refuses it up front
        _specs(tmp_path / "run", lambda r: _replace(r / "orders/bracket.yaml", LEG_CANCELED_FROM_EXITING,
                                                    LEG_CANCELED_FROM_EXITING.replace("exiting", "flattening")))


@pytest.mark.parametrize("state, event", [("flattening", "leg_canceled"), ("exiting", "position_closed")])
def test_each_ignores_entry_of_the_bracket_is_needed(tmp_path: Path, state: str, event: str) -> None:
    root = _tree(tmp_path)
    _replace(root / "orders/bracket.yaml", f"    ignores: [{event}]\n", "")
    [got] = _codes(root, "ENGINE_EVENT_UNHANDLED")
    assert f"does not take `{event}` in `{state}`" in got


def test_the_shipped_ignores_entries_are_safe() -> None:
    assert _codes(ROOT / "specs", "IGNORED_ANSWER") == []


def test_ignoring_the_answer_a_state_waits_for_is_an_error_at_the_entry(tmp_path: Path) -> None:
    """QA: `exiting` ignoring `leg_canceled` (its transition moved to `flattening`) validated clean,
    and a run booked no trade: every bracket waited in `exiting`, and the kill switch stayed normal."""
    root = _tree(tmp_path)
    bracket = root / "orders/bracket.yaml"
    _replace(bracket, LEG_CANCELED_FROM_EXITING, LEG_CANCELED_FROM_EXITING.replace("exiting", "flattening"))
    _replace(bracket, "    ignores: [position_closed]\n", "    ignores: [position_closed, leg_canceled]\n")
    assert _codes(root, "ENGINE_EVENT_UNHANDLED") == []
    got = _codes(root, "IGNORED_ANSWER")
    line = _line(bracket, "    ignores: [position_closed, leg_canceled]")
    assert [g.split(" ")[0] for g in got] == [f"orders/bracket.yaml:{line}:15", f"orders/bracket.yaml:{line}:32"]
    assert "`exiting` ignores `leg_canceled`, which it waits for" in got[1] and "`cancel_sibling`" in got[1]


def test_the_hint_offers_ignores_only_where_dropping_is_safe(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    bracket = root / "orders/bracket.yaml"
    _replace(bracket, LEG_CANCELED_FROM_EXITING, LEG_CANCELED_FROM_EXITING.replace("exiting", "flattening"))
    [unsafe] = [d for d in validate([str(root)])[0] if d.code == "ENGINE_EVENT_UNHANDLED"]
    assert "ignores" not in unsafe.hint
    root = _tree(tmp_path / "safe")
    _replace(root / "orders/bracket.yaml", "    ignores: [leg_canceled]\n", "")
    [safe] = [d for d in validate([str(root)])[0] if d.code == "ENGINE_EVENT_UNHANDLED"]
    assert "`ignores:`" in safe.hint


def test_a_broadcast_the_kill_machine_never_raises_reaches_nobody(tmp_path: Path) -> None:
    """QA: with every `raise: kill_resume` deleted, the `kill_resume` transitions still counted as sent."""
    root = _tree(tmp_path)
    kill = root / "kill/kill_modes.yaml"
    kill.write_text("".join(line for line in kill.read_text().splitlines(keepends=True)
                            if line.strip() != "- raise: kill_resume"))
    got = _codes(root, "NEVER_SENT")
    assert any(g.startswith("orders/order.yaml:") and "`kill_resume`" in g for g in got), got
    assert any(g.startswith("rollout/rollout.yaml:") and "`kill_resume`" in g for g in got), got


def test_a_kill_spec_that_fails_to_load_leaves_only_its_own_error(tmp_path: Path) -> None:
    """Which broadcasts the kill spec relays is unknown while it does not load: 13 NEVER_SENT
    warnings on orders and rollout transitions came with its one YAML error before."""
    root = _tree(tmp_path)
    (root / "kill/kill_modes.yaml").write_text("kind: kill\nname: [oops\n")
    assert [d.code for d in validate([str(root)])[0]] == ["YAML_SYNTAX"]


def test_an_ignores_entry_must_name_a_declared_event(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    _replace(root / "orders/bracket.yaml", "    ignores: [leg_canceled]\n", "    ignores: [leg_cancelled]\n")
    found = _codes(root, "UNRESOLVED_EVENT")
    assert any("`ignores` of `flattening` names `leg_cancelled`" in f for f in found), found


def test_a_tripwire_on_an_event_nothing_sends_is_never_sent(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    kill = root / "kill/kill_modes.yaml"
    _replace(kill, "  kill_resume:\n", "  margin_call: {description: The broker's margin call.}\n  kill_resume:\n")
    _replace(kill, "  # Losing streaks.\n",
             "  - {event: margin_call, source: [normal, cooldown], target: close_only}\n\n  # Losing streaks.\n")
    [got] = [g for g in _codes(root, "NEVER_SENT") if "margin_call" in g]
    assert got.startswith(f"kill/kill_modes.yaml:{_line(kill, '  - {event: margin_call')}:13 ")


def test_strict_validate_refuses_the_tripwire(tmp_path: Path, capsys) -> None:
    from engine.cli import main

    root = _tree(tmp_path)
    kill = root / "kill/kill_modes.yaml"
    _replace(kill, "  kill_resume:\n", "  margin_call: {}\n  kill_resume:\n")
    _replace(kill, "  # Losing streaks.\n",
             "  - {event: margin_call, source: normal, target: close_only}\n\n  # Losing streaks.\n")
    assert main(["validate", "--no-cache", str(root)]) == 0  # a warning
    assert main(["validate", "--no-cache", "--strict", str(root)]) == 1
    assert "warning NEVER_SENT nothing sends `margin_call` to `kill_modes`" in capsys.readouterr().out


# -- run time ------------------------------------------------------------------------------------
def _faulted(tmp_path: Path, edit) -> tuple:
    """A 400-bar run on the specs with `edit` applied: the runner, and the reason of its one fault
    (the run must have gone close-only)."""
    runner = _runner(_specs(tmp_path, edit), tmp_path, bars=400)
    runner.run()
    ses = runner.session
    assert ses.kill.state == "close_only"
    [reason] = [e["reason"] for e in ses.kill_events if e["event"] == "fault"]
    return runner, reason


def _no_exit_in_protected(root: Path) -> None:
    """A gap the linter cannot know (an exit the engine decides answers no action, and the venue
    never sends it): a bracket in `protected` drops the strategy's reversal exit."""
    _replace(root / "orders/bracket.yaml", "  - event: exit\n    source: [entry_working, entry_partial, protected]\n",
             "  - event: exit\n    source: [entry_working, entry_partial]\n")
    # and the check that would refuse it up front (CHECK_MUST_ACT): the run's own fault is tested here
    _replace(root / "orders/bracket.yaml", "source: [entry_working, entry_partial, protected], action: close_position}",
             "source: [entry_working, entry_partial], action: close_position}")


def test_an_engine_event_a_bracket_drops_is_a_fault_that_names_where(tmp_path: Path) -> None:
    runner, reason = _faulted(tmp_path, _no_exit_in_protected)
    ses = runner.session
    assert reason.startswith("fault: bracket `") and "in `protected` (" in reason
    assert "orders/bracket.yaml:" in reason and "no transition for `exit`" in reason
    assert runner.rejections["kill_mode"] > 0  # nothing sized afterwards
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    faults = ses.store.journal_entries("fault")
    assert len({f.reason for f in faults}) == len(faults)  # once per instance, state and event


def _cancel_taken_for_one_leg_only(root: Path) -> None:
    """QA: a guard on `exiting`'s only way out: a bracket whose stop filled drops its take-profit's cancel."""
    _replace(root / "orders/bracket.yaml", LEG_CANCELED_FROM_EXITING + "    target: closed\n",
             LEG_CANCELED_FROM_EXITING + "    target: closed\n    guard: event.leg == 'stop_loss'\n")


def test_an_engine_event_every_guard_drops_is_a_fault(tmp_path: Path) -> None:
    _, reason = _faulted(tmp_path, _cancel_taken_for_one_leg_only)
    assert reason.startswith("fault: bracket `") and "in `exiting` (" in reason
    assert "no enabled transition for `leg_canceled` (every guard was false)" in reason


def test_an_ignored_event_is_recorded_as_ignored_and_is_no_fault(tmp_path: Path) -> None:
    runner = _runner(_specs(tmp_path), tmp_path, bars=400)
    runner.run()
    assert runner.session.kill.state == "normal" and runner.trades
    rows = [json.loads(line) for line in (tmp_path / "run" / "audit.jsonl").read_text().splitlines()]
    ignored = {(r["machine"], r["source"], r["event"]) for r in rows
               if r["kind"] == "unhandled" and "by the spec (`ignores`)" in r["reason"]}
    assert ("kill_modes", "normal", "day_rolled") in ignored
    assert not [r for r in rows if r["machine"] in ("order", "bracket") and r["kind"] == "unhandled"
                and r["reason"].startswith("no transition")]


def _accepted_refused_by_its_guard(root: Path) -> None:
    """A guard that never holds on the venue's acknowledgement, which submit_order raises inside the
    step (no sender of the engine's own posts it): every submitted order stays SUBMITTED."""
    _replace(root / "orders/order.yaml", "  - event: accepted\n    source: SUBMITTED\n    target: ACCEPTED\n",
             "  - event: accepted\n    source: SUBMITTED\n    target: ACCEPTED\n    guard: ctx.qty < 0\n")


def test_an_answer_an_action_raised_and_the_state_dropped_is_a_fault_too(tmp_path: Path) -> None:
    """The second review: the gap check saw only what the engine posted, not the events an action
    raises in the step (accepted, canceled, reconciled...). It reads every unhandled record now."""
    _, reason = _faulted(tmp_path, _accepted_refused_by_its_guard)
    assert "order `" in reason and "in `SUBMITTED` (" in reason
    assert "no enabled transition for `accepted` (every guard was false)" in reason


def test_a_live_state_that_drops_a_report_the_venue_sends_on_its_own_is_an_error(tmp_path: Path) -> None:
    """`Sent.anytime`: the venue's own cancel can reach an order before its acknowledgement, so
    SUBMITTED (tagged `working`) must take it; the finding names the state and the report."""
    root = _tree(tmp_path)
    order = root / "orders/order.yaml"
    _replace(order, "source: [PENDING_CANCEL, SUBMITTED, ACCEPTED,", "source: [PENDING_CANCEL, ACCEPTED,")
    got = _one_gap_at(root, order, "SUBMITTED")
    assert "does not take `canceled` in `SUBMITTED`, which carries `working`" in got
    _replace(order, "    tags: [working]\n    after: {delay: params.submit_timeout",
             "    tags: [working]\n    ignores: [canceled]\n    after: {delay: params.submit_timeout")
    assert _codes(root, "ENGINE_EVENT_UNHANDLED") == []  # an `ignores` entry is a decision, not a gap


@pytest.mark.parametrize("event, spec, gap, state", [
    ("cancel", "  - event: cancel\n    source: UNRESOLVED\n", "", "UNRESOLVED"),
    ("amend", "    ignores: [cancel, amend, updated", "    ignores: [cancel, updated", "PENDING_CANCEL")])
def test_a_live_state_that_drops_the_engines_own_amend_or_cancel_is_an_error(
        tmp_path: Path, event: str, spec: str, gap: str, state: str) -> None:
    """`Sent.anytime`: a bracket amends or cancels a leg whatever the leg's state (a resize while the
    venue has not answered the last request, a cancel once the sibling filled while the leg is
    unresolved), so every live state takes or ignores both; validate names the state that does not."""
    root = _tree(tmp_path)
    order = root / "orders/order.yaml"
    if gap:
        _replace(order, spec, gap)
    else:
        _drop_transition(order, spec)
    got = _one_gap_at(root, order, state)
    assert f"does not take `{event}` in `{state}`, which carries `" in got


UNRESOLVED_IGNORES = ("canceled", "expired", "triggered", "accepted", "rejected", "updated", "update_rejected",
                      "cancel_rejected")


@pytest.mark.parametrize("event", UNRESOLVED_IGNORES)
def test_each_ignores_entry_of_an_unresolved_order_is_needed(tmp_path: Path, event: str) -> None:
    """UNRESOLVED drops what the venue sends on its own and the late answer to the request whose
    ack timed out (the timeout answered nothing); validate names which, once per state and event."""
    root = _tree(tmp_path)
    order = root / "orders/order.yaml"
    kept = [e for e in UNRESOLVED_IGNORES if e != event]
    _replace(order, f"    ignores: [{', '.join(UNRESOLVED_IGNORES)}]\n", f"    ignores: [{', '.join(kept)}]\n")
    [got] = _codes(root, "ENGINE_EVENT_UNHANDLED")
    assert f"does not take `{event}` in `UNRESOLVED`" in got
    if event in ("expired", "triggered"):
        assert "which carries `protected`" in got
    else:
        assert "(unanswered when `ack_timeout` fired)" in got


def test_a_bracket_that_drops_the_venues_own_leg_cancel_while_the_position_is_open_is_an_error(
        tmp_path: Path) -> None:
    """A leg works while the position is open (tag `position_open`), and the venue may cancel or
    expire it on its own: without bracket.yaml's `leg_canceled` from [entry_working, entry_partial, protected]
    the run would fault there, with the position short of its stop, and validate says so first."""
    root = _tree(tmp_path)
    bracket = root / "orders/bracket.yaml"
    _replace(bracket, "  - event: leg_canceled\n    source: [entry_working, entry_partial, protected]\n",
             "  - event: leg_canceled\n    source: [exiting]\n")
    got = _codes(root, "ENGINE_EVENT_UNHANDLED")
    assert [g.split(" ", 1)[0] for g in got] == [f"orders/bracket.yaml:{_line(bracket, f'  {s}:')}:3"
                                                 for s in ("entry_partial", "protected")]
    assert all("does not take `leg_canceled`" in g and "which carries `position_open`" in g for g in got)


CANCELED_IGNORES = ("cancel", "accepted", "updated", "update_rejected", "cancel_rejected", "canceled", "expired",
                    "rejected", "triggered")


@pytest.mark.parametrize("event", CANCELED_IGNORES[1:])
def test_a_done_state_that_is_not_final_drops_nothing_the_venue_can_send_late(tmp_path: Path, event: str) -> None:
    """`Sent.late`: CANCELED (tagged `terminal`, not final: a late fill is still booked there) hears
    the venue's reports of an end it already reported (a cancel confirmed by the answer and again
    on the stream) and answers that trailed it; without its `ignores` entry the run faulted on a
    repeated cancel confirmation (the lossy walk, tests/test_exec_races.py, found it)."""
    root = _tree(tmp_path)
    order = root / "orders/order.yaml"
    kept = [e for e in CANCELED_IGNORES if e != event]
    _replace(order, f"    ignores: [{', '.join(CANCELED_IGNORES)}]\n", f"    ignores: [{', '.join(kept)}]\n")
    got = _one_gap_at(root, order, "CANCELED")
    assert f"does not take `{event}` in `CANCELED`, which carries `terminal` and is not final" in got


def test_a_bracket_that_drops_a_late_entry_fill_while_protected_is_an_error(tmp_path: Path) -> None:
    """An entry's fill can come after its rest was canceled (the fill raced the cancel, or its
    report trailed it): the bracket is `protected` then, and must resize its legs to it."""
    root = _tree(tmp_path)
    bracket = root / "orders/bracket.yaml"
    _drop_transition(bracket, "  - event: entry_fill\n    source: protected\n")
    got = _one_gap_at(root, bracket, "protected")
    assert "does not take `entry_fill` in `protected`, which carries `position_open`" in got
