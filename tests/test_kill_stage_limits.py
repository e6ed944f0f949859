"""A promotion that tightens a kill limit is measured against at once. specs/overrides/stage_2.yaml
lowers kill_modes.daily_loss_limit (0.035 to 0.03); a flat book whose day is 3.2% down is inside
stage 1's limit and past stage 2's. The tripwires skipped the kill machine while no book's
equity moved, so it never heard the new limit and entries stayed open past it."""
from __future__ import annotations

from pathlib import Path

from run_support import Checker, Scenario, build, write_env_override

SC = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=50, seed=1, partial_fill_prob=0.0,
              slippage_bps=0.0, max_hold_s=3600.0)


def test_a_limit_a_promotion_tightens_trips_with_equity_unmoved(tmp_path: Path) -> None:
    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    [book] = ses.books.values()
    book.day_start_equity = book.peak_equity = book.equity
    book.balance -= 0.032 * book.day_start_equity  # a day 3.2% down, nothing open
    runner._tripwires()
    assert ses.kill.state == "normal"  # inside stage 1's 3.5%
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "candidate"})
    ses.store.post_command("promote", {"machine": "rollout", "event": "operator_confirmed",
                                       "expect_state": ses.rollout.state, "reason": "operator"})
    runner.poll_commands()
    limit = ses.kill.bound.params["daily_loss_limit"]
    assert ses.rollout.state == "stage_2" and runner.pnl_inputs()["pnl"]["daily_loss"] >= limit
    runner._tripwires()  # as the next bar's step runs it, before the strategy decides
    assert ses.kill.state == "close_only" and not ses.entries_allowed
