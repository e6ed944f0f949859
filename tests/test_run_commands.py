"""Operator commands as the running engine applies them (engine/run/loop.py poll_commands)."""
from __future__ import annotations

from pathlib import Path

from run_support import Checker, Scenario, build, write_env_override

SC = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=50, seed=1, partial_fill_prob=0.0,
              slippage_bps=0.0, max_hold_s=3600.0)


def _commands(ses) -> list:
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    return [e for e in ses.store.journal_entries("command") if e.reason]  # (not the rows of posting)


def test_a_stale_confirmation_is_not_applied(tmp_path: Path) -> None:
    # The operator confirmed `confirm_stage_2`; the rollout is in stage_1 now (the confirmation
    # came late, or twice): raising operator_confirmed could confirm a later stage unseen.
    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    state = ses.rollout.state
    ses.store.post_command("promote", {"machine": "rollout", "event": "operator_confirmed",
                                       "expect_state": "confirm_stage_2", "stage": 2, "reason": "operator"})
    runner.poll_commands()
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    assert ses.rollout.state == state
    [row] = [e for e in ses.store.journal_entries("command") if e.reason]
    assert row.reason.startswith("not applied: rollout is in"), row.reason


def test_a_confirmation_of_the_current_state_is_applied(tmp_path: Path) -> None:
    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "candidate"})
    assert ses.rollout.state == "confirm_stage_2"
    ses.store.post_command("promote", {"machine": "rollout", "event": "operator_confirmed",
                                       "expect_state": ses.rollout.state, "reason": "operator"})
    runner.poll_commands()
    [row] = _commands(ses)
    assert row.reason == "operator" and row.payload["moved"] == ["rollout: confirm_stage_2 -> stage_2"]


def test_a_confirmation_of_a_lapsed_stay_does_not_confirm_the_next(tmp_path: Path) -> None:
    """The operator confirms a pending stage 2; before the engine takes it, that promotion lapses
    and a new gate pass asks again. The state has the same name, but the confirmation answered
    the earlier stay: the timers the state armed on entry (what `engine promote` reads off the
    snapshot it shows) tell the two apart, and the later promotion still waits."""
    from engine.commands.status import state_timers
    from engine.runtime.snapshot import to_data

    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "candidate"})
    seen = state_timers(to_data(ses.rollout))
    assert seen
    ses.store.post_command("promote", {"machine": "rollout", "event": "operator_confirmed", "expect_state":
                                       "confirm_stage_2", "expect_timers": seen, "reason": "operator"})
    ses.clock.set(seen[0])
    ses.send(ses.rollout, "confirmation_expired")
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "candidate"})
    assert ses.rollout.state == "confirm_stage_2" and state_timers(to_data(ses.rollout)) != seen
    runner.poll_commands()
    assert ses.rollout.state == "confirm_stage_2"
    [row] = _commands(ses)
    assert "came back since the operator confirmed it" in row.reason


def test_a_kill_command_the_spec_cannot_apply_is_journaled_as_not_applied(tmp_path: Path) -> None:
    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    assert ses.kill.state == "normal"
    ses.store.post_command("resume", {"machine": "kill_modes", "event": "manual_resume", "reason": "operator"})
    runner.poll_commands()
    [row] = _commands(ses)
    # Dropped on purpose (nothing to resume: the kill spec's `ignores` of `normal`), and said so.
    assert row.reason == "not applied: kill: `manual_resume` ignored in `normal` by the spec (`ignores`)", row.reason
    assert row.payload["moved"] == [] and ses.kill.state == "normal" and ses.kill_events == []


def test_an_applied_kill_command_carries_the_operators_reason(tmp_path: Path) -> None:
    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    ses.store.post_command("close_only", {"machine": "kill_modes", "event": "manual_close_only",
                                          "reason": "venue maintenance"})
    runner.poll_commands()
    [row] = _commands(ses)
    assert row.reason == "venue maintenance" and row.payload["moved"] == ["kill: normal -> close_only"]
    assert ses.kill_events == [{"ts": ses.clock.now(), "from": "normal", "to": "close_only",
                                "event": "manual_close_only", "reason": "venue maintenance"}]


def test_a_kill_event_says_what_tripped_it(tmp_path: Path) -> None:
    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    ses.execution.fault("order book feed lost")
    runner._raise_faults()
    ses.send(ses.kill, "manual_resume", inputs=runner.pnl_inputs())
    assert [(e["to"], e["reason"]) for e in ses.kill_events] == [
        ("close_only", "fault: order book feed lost"), ("normal", "manual_resume")]


def test_a_flatten_command_row_lists_every_move_it_caused(tmp_path: Path) -> None:
    """Nothing is open, so the flatten is done at once: the row lists the kill machine's move,
    the rollout's demotion its broadcast caused and the halt that followed, in that order."""
    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    for command, event in (("close_only", "manual_close_only"), ("flatten", "manual_flatten")):
        ses.store.post_command(command, {"machine": "kill_modes", "event": event, "reason": "drill"})
        runner.poll_commands()
    close_only, flatten = _commands(ses)
    assert close_only.payload["moved"] == ["kill: normal -> close_only"]
    assert flatten.payload["moved"] == ["kill: close_only -> flatten_all", "rollout: stage_1 -> demoted",
                                        "kill: flatten_all -> halted"]
    assert ses.kill.state == "halted" and not ses.flatten_pending
