"""The shipped specs declare what their kill broadcasts, faults, exits and fills must do
(`must_act`, docs/lint-rules.md CHECK_MUST_ACT): an edit that keeps the event taken but drops
what taking it does is refused. Each case is a broken variant rev26 found validate accepted."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.commands.validate import validate

SPECS = Path(__file__).resolve().parents[1] / "specs"

VARIANTS = {  # name: (file, text, replacement); the text occurs exactly once
    "order: kill broadcasts cancel no working entry": ("orders/order.yaml", """\
  - event: kill_close_only
    source: &working_entry_states [SUBMITTED, ACCEPTED, TRIGGERED, PARTIALLY_FILLED, PENDING_UPDATE]
    target: PENDING_CANCEL
    guard: not ctx.reduce_only
    actions: [cancel_order]
  - event: kill_flatten
    source: *working_entry_states
""", """\
  - event: kill_flatten
    source: &working_entry_states [SUBMITTED, ACCEPTED, TRIGGERED, PARTIALLY_FILLED, PENDING_UPDATE]
"""),
    "order: a reconciled fill is not booked": ("orders/order.yaml", """\
    target: FILLED
    guard: event.status == 'filled'
    priority: 1""", """\
    target: ACCEPTED
    guard: event.status == 'filled'
    priority: 1"""),
    "bracket: two-step fill attaches no legs": ("orders/bracket.yaml", """\
      - place_legs: {qty: ctx.filled_qty, stop: ctx.stop, take_profit: ctx.take_profit}
      - assign: {legs_placed: true}
  - event: entry_fill""", """\
      - assign: {legs_placed: true}
  - event: entry_fill"""),
    "futures_roll: kill flatten a no-op": ("orders/futures_roll.yaml", """\
  - event: kill_flatten
    source: [holding, rolling]
    target: closing
    actions: [*split, {close_position: {reason: "'kill switch flatten'"}}]""", """\
  - event: kill_flatten
    source: [holding, rolling]
    description: ignored"""),
    "kill_modes: a fault in normal holds nothing": ("kill/kill_modes.yaml", """\
  - event: fault
    source: [normal, cooldown]
    target: close_only""", """\
  - event: fault
    source: [normal, cooldown]"""),
}


@pytest.mark.parametrize("name", VARIANTS)
def test_a_variant_that_drops_what_an_event_does_is_refused(tmp_path: Path, name: str):
    file, text, new = VARIANTS[name]
    tree = tmp_path / "specs"
    shutil.copytree(SPECS, tree)
    path = tree / file
    source = path.read_text()
    assert source.count(text) == 1, "the shipped spec changed: re-spell the variant"
    path.write_text(source.replace(text, new))
    diags, _ = validate([str(tree)])
    assert "CHECK_MUST_ACT" in {d.code for d in diags}
