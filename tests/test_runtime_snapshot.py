"""Snapshots are plain data; restoring one continues exactly where it stopped."""
from __future__ import annotations

import json

import pytest

from engine.runtime import BoundMachine, SnapshotError
from runtime_support import build, interp, registry


def machine(spec_hash="hash1"):
    return build({"flat": {"initial": True},
                  "open": {"after": [(30, "timeout")], "states": {
                      "partial": {"initial": True}, "full": {}}},
                  "closed": {"final": True}},
                 [{"event": "fill", "source": "flat", "target": "open", "actions": [{"assign": {"qty": "event.qty"}}]},
                  {"event": "fill", "source": "partial", "target": "full", "guard": "ctx.qty + event.qty >= 10",
                   "actions": [{"assign": {"qty": "ctx.qty + event.qty"}}]},
                  {"event": "fill", "source": "partial", "actions": [{"assign": {"qty": "ctx.qty + event.qty"}}]},
                  {"event": "timeout", "source": "open", "target": "closed"}],
                 events={"fill": {"qty": "float"}}, context={"qty": 0.0}, spec_hash=spec_hash)


def test_round_trip_mid_way_including_timers():
    it, clock, sink = interp(start=0.0)
    bound = BoundMachine.build(machine(), registry())
    inst = it.create(bound, "o1")
    clock.set(5)
    it.send(inst, "fill", {"qty": 4.0})
    data = json.loads(json.dumps(it.snapshot(inst)))  # survives JSON
    assert data["state"] == "partial" and data["ctx"] == {"qty": 4.0}
    assert data["timers"] == [{"state": "open", "index": 0, "event": "timeout", "deadline": 35.0, "seq": 0}]

    it2, clock2, _ = interp(start=5.0)
    copy = it2.restore(bound, data)
    for i, c, clk in ((inst, it, clock), (copy, it2, clock2)):
        clk.set(10)
        c.send(i, "fill", {"qty": 7.0})
    assert (copy.state, copy.ctx) == (inst.state, inst.ctx) == ("full", {"qty": 11.0})
    a, b = it.advance(40), it2.advance(40)
    assert [r.as_dict() for r in a] == [r.as_dict() for r in b] and len(a) == 1
    assert copy.done and inst.done


def test_timers_due_at_once_fire_in_the_order_they_were_armed_whatever_the_restore_order():
    """A resume restores its machines in a fixed order (kill, rollout, gates, orders): a tie in
    deadlines must still fire as the uninterrupted run fired it, and a timer armed after the
    restore comes after the restored ones, as it did in that run."""
    bound = BoundMachine.build(machine(), registry())

    it, clock, sink = interp(start=0.0)
    made = {i: it.create(bound, i) for i in ("b", "a")}
    clock.set(5)
    for inst in made.values():  # b's timer first, then a's: both due at 35
        it.send(inst, "fill", {"qty": 1.0})
    saved = {i: json.loads(json.dumps(it.snapshot(inst))) for i, inst in made.items()}
    late = it.create(bound, "c")
    it.send(late, "fill", {"qty": 1.0})  # armed after the snapshot, due at 35 too
    whole = [r.instance_id for r in it.advance(40)]

    it2, clock2, _ = interp(start=5.0)
    for i in ("a", "b"):  # the other order
        it2.restore(bound, saved[i])
    it2.send(it2.create(bound, "c"), "fill", {"qty": 1.0})
    assert whole == ["b", "a", "c"]
    assert [r.instance_id for r in it2.advance(40)] == whole


def test_a_snapshot_without_timer_numbers_still_restores():
    bound = BoundMachine.build(machine(), registry())
    it, clock, _ = interp(start=0.0)
    inst = it.create(bound, "o1")
    clock.set(5)
    it.send(inst, "fill", {"qty": 1.0})
    data = it.snapshot(inst)
    for t in data["timers"]:
        del t["seq"]
    it2, _, _ = interp(start=5.0)
    copy = it2.restore(bound, data)
    assert [r.target for r in it2.advance(40)] == ["closed"] and copy.done


def test_a_different_spec_hash_is_refused_unless_migration_is_allowed():
    it, _, _ = interp()
    old = BoundMachine.build(machine("old"), registry())
    new = BoundMachine.build(machine("new"), registry())
    data = it.snapshot(it.create(old, "o1"))
    with pytest.raises(SnapshotError, match="spec hash old.*has new.*allow_spec_change"):
        it.restore(new, data)
    assert it.restore(new, data, allow_spec_change=True).state == "flat"


def test_corrupt_snapshots_are_refused():
    it, _, _ = interp()
    bound = BoundMachine.build(machine(), registry())
    data = it.snapshot(it.create(bound, "o1"))
    with pytest.raises(SnapshotError, match="not a leaf"):
        it.restore(bound, {**data, "state": "open"})
    with pytest.raises(SnapshotError, match="undeclared"):
        it.restore(bound, {**data, "ctx": {"qtty": 1}})
    with pytest.raises(SnapshotError, match="does not belong"):
        it.restore(bound, {**data, "timers": [{"state": "open", "index": 0, "event": "timeout", "deadline": 1}]})
