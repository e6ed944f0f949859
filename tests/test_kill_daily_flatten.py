"""The kill machine's book tripwires each on its own input (specs/kill/kill_modes.yaml): a day
past max_daily_loss flattens every domain even with no drawdown from the peak (the peak is the
day's start), and a drawdown alone flattens only past max_drawdown. A mutation that made the
daily flatten read the drawdown survived the suite: a 6% day only went close-only, its open
positions left to their stops past the account's hard limit."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.runtime import BoundMachine, Registry
from engine.spec.loader import load_specs
from runtime_support import interp

ROOT = Path(__file__).resolve().parents[1]
SPECS, _ = load_specs([ROOT / "specs"])
KILL = SPECS.machines["kill_modes"]
P = {name: KILL.params[name].default for name in ("daily_loss_limit", "max_daily_loss", "max_drawdown")}


def _after(pnl: dict[str, float]) -> tuple[str, str]:
    reg = Registry()
    for name in SPECS.catalogue.actions:
        reg.action(name)(lambda ctx, **kw: None)
    it, _, _ = interp()
    inst = it.create(BoundMachine.build(KILL, reg), "kill", host=[])
    it.send(inst, "risk_update", inputs={"pnl": pnl})
    return inst.state, inst.ctx["tripped_by"]


@pytest.mark.parametrize("pnl, state, tripped_by", [
    ({"daily_loss": P["max_daily_loss"] + 0.01, "drawdown": 0.0}, "flatten_all", "max_daily_loss"),
    ({"daily_loss": P["max_daily_loss"], "drawdown": 0.0}, "flatten_all", "max_daily_loss"),
    ({"daily_loss": (P["daily_loss_limit"] + P["max_daily_loss"]) / 2, "drawdown": 0.0}, "close_only", "daily_loss"),
    ({"daily_loss": 0.0, "drawdown": P["max_daily_loss"] + 0.01}, "normal", ""),  # below max_drawdown
    ({"daily_loss": 0.0, "drawdown": P["max_drawdown"]}, "flatten_all", "max_drawdown"),
])
def test_each_tripwire_reads_its_own_loss(pnl: dict[str, float], state: str, tripped_by: str) -> None:
    assert P["daily_loss_limit"] < P["max_daily_loss"] + 0.01 < P["max_drawdown"]  # the cases' premise
    assert _after(pnl) == (state, tripped_by)
