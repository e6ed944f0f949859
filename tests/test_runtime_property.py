"""Properties over random event sequences on a small hierarchical machine."""
from __future__ import annotations

import json

from hypothesis import example, given
from hypothesis import strategies as st

from engine.runtime import BoundMachine
from runtime_support import build, interp, registry

M = build(
    {"run": {"initial": True, "after": [(50, "tick")], "states": {
        "up": {"initial": True, "states": {
            "slow": {"initial": True, "after": [(7, "tick")]}, "fast": {"after": [(3, "tock")]}}},
        "down": {"states": {"d1": {"initial": True}, "d2": {"after": [(11, "tock")]}}}}},
     "paused": {"after": [(20, "resume")]},
     "stopped": {"final": True}},
    [{"event": "faster", "source": "slow", "target": "fast", "guard": "event.x > 0"},
     {"event": "faster", "source": "up", "target": "down", "actions": [{"assign": {"n": "ctx.n + 1"}}]},
     {"event": "tick", "source": "fast", "target": "slow"},
     {"event": "tick", "source": "run", "target": "run", "priority": 1},
     {"event": "tock", "source": "*", "actions": [{"assign": {"n": "ctx.n * 2 % 97"}}]},
     {"event": "flip", "source": "d1", "target": "d2", "actions": [{"raise": "tock"}]},
     {"event": "flip", "source": "down", "target": "up", "guard": "ctx.n % 2 == 0"},
     {"event": "pause", "source": "run", "target": "paused"},
     {"event": "resume", "source": "paused", "target": "run", "guard": "ctx.n < 50"},
     {"event": "resume", "source": "paused", "target": "down"},
     {"event": "stop", "source": "*", "target": "stopped", "guard": "ctx.n > 20"}],
    events={"faster": {"x": "int"}, "nothing": {}}, context={"n": 0})
BOUND = BoundMachine.build(M, registry())
EVENTS = ["faster", "tick", "tock", "flip", "pause", "resume", "stop", "nothing"]
# `stopped`, the final state, needs ctx.n > 20: up to `down` (n = 1), then tocks double it. Drawn
# evenly, events seldom get there, so tock and stop are drawn more often, and one run is pinned.
DRAWN = [*EVENTS, "tock", "tock", "tock", "stop"]
TO_STOPPED = [("send", "faster", 0), *[("send", "tock", 0)] * 5, ("send", "stop", 0), ("send", "pause", 0)]

step = st.one_of(st.tuples(st.just("send"), st.sampled_from(DRAWN), st.integers(-2, 2)),
                 st.tuples(st.just("wait"), st.just(""), st.integers(0, 30)))


def apply(it, clock, inst, op) -> list[dict]:
    kind, event, n = op
    if kind == "send":
        recs = it.send(inst, event, {"x": n} if event == "faster" else None)
    else:
        clock.advance(n)
        recs = it.advance()
    return [r.as_dict() for r in recs]


@example(TO_STOPPED)
@given(st.lists(step, max_size=40))
def test_instance_is_always_in_a_known_leaf(ops):
    it, clock, _ = interp(start=0.0)
    inst = it.create(BOUND, "p")
    for op in ops:
        for r in apply(it, clock, inst, op):
            assert r["kind"] in ("transition", "unhandled")
        assert inst.state in BOUND.leaves
        assert inst.done == (inst.state == "stopped")
        assert all(s in BOUND.config[inst.state] for s, _ in (inst.timers or {}))


@example(TO_STOPPED, 7)  # a stopped instance, snapshotted: restored, it takes nothing either
@given(st.lists(step, max_size=40), st.integers(0, 40))
def test_snapshot_restore_at_any_point_continues_identically(ops, cut):
    it, clock, _ = interp(start=0.0)
    inst = it.create(BOUND, "p")
    cut = min(cut, len(ops))
    for op in ops[:cut]:
        apply(it, clock, inst, op)
    data = json.loads(json.dumps(it.snapshot(inst)))
    it2, clock2, _ = interp(start=clock.now())
    copy = it2.restore(BOUND, data)
    for op in ops[cut:]:
        assert apply(it, clock, inst, op) == apply(it2, clock2, copy, op)
        assert it.snapshot(inst) == it2.snapshot(copy)
