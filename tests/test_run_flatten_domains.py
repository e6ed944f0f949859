"""An operator's `flatten` (what `engine kill --mode flatten` posts) lands in a stage-3 --paper run
while a forex position is open: by the end of that step every position is flat or has a working
close. A kill flatten that left one domain's brackets out (forex) kept the position open through
`flatten_all` until the strategy exited, and the run-level tests did not see it.

The run holds a forex and a perp series; the bundled data of different domains do not overlap in
time, so one position is open when the flatten lands (test_flatten_every_domain holds brackets of
three domains at once)."""
from __future__ import annotations

from pathlib import Path

import run_support as rs
from run_support import Scenario, drive, write_env_override

FLAT_AT = 118  # a step at which seed 5's flips hold a GBP/USD long
SC = Scenario(stage=3, datasets=("forex/GBPUSD-1m", "crypto_perp/XRP-PERP-5m"), offset=0, bars=150, seed=5,
              partial_fill_prob=0.0, slippage_bps=0.0, max_hold_s=48 * 3600.0, flip_every=12,
              commands=((FLAT_AT, "flatten"),))


def _unclosed(runner, venue) -> list[str]:
    """The open positions with no working close of their bracket."""
    ex = runner.session.execution
    closing = {b.symbol for b in ex.brackets.values()
               if b.instance.state == "flattening" and b.exits and ex.is_live(b.exits[-1])}
    return [p.symbol for p in venue.positions() if abs(p.qty) > 1e-12 and p.symbol not in closing]


def test_an_operator_flatten_closes_every_open_position_in_its_step(tmp_path: Path, monkeypatch) -> None:
    seen: dict[int, tuple[str, list[str], list[str]]] = {}
    end_of_step = rs.Checker.end_of_step

    def watched(self) -> None:
        r = self.runner
        held = [p.symbol for p in self.venue.positions() if abs(p.qty) > 1e-12]
        seen[r.bars] = (r.session.kill.state, held, _unclosed(r, self.venue))
        end_of_step(self)

    monkeypatch.setattr(rs.Checker, "end_of_step", watched)
    checker = drive(SC, tmp_path / "run", write_env_override(tmp_path / "ovr", wallet=1_000_000.0))

    assert seen[FLAT_AT - 1][1] == ["GBP/USD"], "the scenario no longer holds a position when the flatten lands"
    state, _, unclosed = seen[FLAT_AT]
    assert state in ("flatten_all", "halted")
    assert unclosed == [], f"open after the flatten's step with no close working: {unclosed}"
    assert not any(held for bars, (_, held, _) in seen.items() if bars > FLAT_AT + 1)
    assert not any(checker.violations.values()), checker.violations
