"""Operator commands as the running engine applies them (engine/run/loop.py poll_commands)."""
from __future__ import annotations

from pathlib import Path

from run_support import Checker, Scenario, build, write_env_override

SC = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=50, seed=1, partial_fill_prob=0.0,
              slippage_bps=0.0, max_hold_s=3600.0)


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
    ses.store.post_command("promote", {"machine": "rollout", "event": "operator_confirmed",
                                       "expect_state": ses.rollout.state, "reason": "operator"})
    runner.poll_commands()
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    [row] = [e for e in ses.store.journal_entries("command") if e.reason]
    assert row.reason == "operator"
