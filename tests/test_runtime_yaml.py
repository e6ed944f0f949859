"""The runtime over machines loaded from YAML by the real loader."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.diagnostics import Severity
from engine.runtime import BoundMachine, Registry, missing_implementations
from engine.spec.loader import load_machine, load_specs
from runtime_support import interp, trail

SPEC = """\
kind: kill
name: streaks
version: 1
description: A losing streak pauses entries; a fault closes them; both nest under `guarded`.
parameters:
  max_losses: {type: int, default: 2, min: 1}
  cooldown: {type: duration, default: 15m}
context:
  losses: {type: int, default: 0}
inputs:
  pnl:
    fields: {drawdown: fraction}
events:
  trade_closed: {payload: {pnl: money}}
  cooldown_elapsed: {}
  risk_update: {}
  paused: {}
states:
  guarded:
    initial: true
    states:
      normal:
        initial: true
        tags: [opens_risk]
      cooldown:
        after: {delay: params.cooldown, event: cooldown_elapsed}
        entry:
          - note: {text: "'cooling ' + str_losses(ctx.losses)"}
          - raise: paused
  halted: {final: true}
transitions:
  - event: trade_closed
    source: normal
    target: cooldown
    guard: event.pnl < 0 and ctx.losses + 1 >= params.max_losses
    actions: [{assign: {losses: ctx.losses + 1}}]
  - event: trade_closed
    source: normal
    guard: event.pnl < 0
    actions: [{assign: {losses: ctx.losses + 1}}]
  - event: cooldown_elapsed
    source: cooldown
    target: normal
    actions: [{assign: {losses: 0}}]
  - event: risk_update
    source: guarded
    target: halted
    guard: pnl.drawdown >= 0.1
"""

CATALOGUE = """\
kind: catalogue
guards:
  str_losses: {provider: engine, args: {count: int}, description: Losses as text.}
actions:
  note: {provider: engine, args: {text: str}, description: Write a note.}
"""


def registry() -> Registry:
    reg = Registry()
    reg.guard("str_losses")(lambda count: str(count))
    reg.action("note")(lambda ctx, text: ctx.host.append((text, ctx.event, ctx.now)))
    return reg


@pytest.fixture
def machine(tmp_path: Path):
    (tmp_path / "kill").mkdir()
    path = tmp_path / "kill" / "streaks.yaml"
    path.write_text(SPEC)
    (tmp_path / "catalogue.yaml").write_text(CATALOGUE)
    specset, diags = load_specs([tmp_path])
    assert not [d.text() for d in diags if d.severity is Severity.ERROR]
    return specset.machines["streaks"]


def test_a_yaml_machine_runs_with_its_documented_semantics(machine):
    it, clock, sink = interp(start=0.0)
    notes: list = []
    inst = it.create(BoundMachine.build(machine, registry(), {"cooldown": "1m"}), "book", host=notes)
    assert inst.state == "normal" and inst.has_tag("opens_risk") and inst.in_state("guarded")
    assert trail(it.send(inst, "trade_closed", {"pnl": -5.0})) == [("transition", "normal", None, "trade_closed")]
    recs = it.send(inst, "trade_closed", {"pnl": -1.0})
    assert trail(recs) == [("transition", "normal", "cooldown", "trade_closed"),
                           ("unhandled", "cooldown", None, "paused")]
    assert recs[0].guard_inputs == {"event.pnl": -1.0, "ctx.losses": 1, "params.max_losses": 2}
    assert recs[0].spec_hash == machine.spec_hash and notes == [("cooling 2", "trade_closed", 0.0)]
    assert not inst.has_tag("opens_risk")
    assert trail(it.advance(60)) == [("transition", "cooldown", "normal", "cooldown_elapsed")]
    assert inst.ctx == {"losses": 0}
    recs = it.send(inst, "risk_update", inputs={"pnl": {"drawdown": 0.2}})
    assert trail(recs) == [("transition", "normal", "halted", "risk_update")] and inst.done


def test_guard_errors_point_at_the_yaml_line(machine):
    it, _, _ = interp()
    inst = it.create(BoundMachine.build(machine, registry()), "book", host=[])
    (err, unhandled) = it.send(inst, "risk_update")  # no `pnl` input: fail closed
    assert err.kind == "guard_error" and "streaks.yaml:" in err.reason and unhandled.kind == "unhandled"


def test_load_machine_gives_the_same_ir(tmp_path: Path):
    (tmp_path / "kill").mkdir()
    path = tmp_path / "kill" / "plain.yaml"
    path.write_text(SPEC.replace("name: streaks", "name: plain").replace(
        "          - note: {text: \"'cooling ' + str_losses(ctx.losses)\"}\n", ""))
    m = load_machine(path)
    it, _, _ = interp()
    inst = it.create(BoundMachine.build(m, Registry()), "x")
    assert inst.state == "normal"


REPO_SPECS = Path(__file__).resolve().parents[1] / "specs"


_SOME = {"str": "", "int": 1, "bool": False, "float": 1.0}


def test_every_machine_under_specs_binds_and_stays_in_leaves():
    specset, _ = load_specs([REPO_SPECS])
    reg = Registry()
    for name in specset.catalogue.actions:
        reg.action(name)(lambda ctx, **kw: None)
    for name in specset.catalogue.guards:
        reg.guard(name)(lambda *a, **kw: True)
    assert missing_implementations(specset, reg) == []
    assert specset.machines, "no machines under specs/"
    for m in specset.machines.values():
        bound = BoundMachine.build(m, reg)
        it, clock, _ = interp()
        inst = it.create(bound, "smoke")
        for event in sorted(m.events) * 2:
            # Each field a value of its declared type: an action may read any (bracket `adopt`).
            it.send(inst, event, {k: _SOME.get(t, 1.0) for k, t in m.events[event].payload.items()})
            clock.advance(3600)
            it.advance()
            assert inst.state in bound.leaves
