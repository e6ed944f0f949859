"""A timer its own firing re-arms fires once per clock advance: a flatten retry of 2 minutes
on 15-minute bars re-sends once per bar, not seven times with the same time."""
from __future__ import annotations

from pathlib import Path

from run_support import Checker, Scenario, build, write_env_override

SC = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=50, seed=1, partial_fill_prob=0.0,
              slippage_bps=0.0, max_hold_s=3600.0)


def test_a_retry_timer_fires_once_per_advance_and_keeps_its_period(tmp_path: Path) -> None:
    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    ses.send(ses.kill, "manual_flatten")
    t0, retry = ses.clock.now(), ses.kill.bound.params["flatten_retry"]
    overdue = []
    for bar in (1, 2):
        ses.clock.set(t0 + 900 * bar)
        overdue += [r.time for r in ses.interp.advance() if r.event == "flatten_overdue" and r.kind == "transition"]
    # once per bar, each at a retry deadline later than the bar before it
    assert overdue == [t0 + retry, t0 + retry * (900 // retry + 1)], (overdue, retry)
