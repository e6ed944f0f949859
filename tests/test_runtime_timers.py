"""Timers on a ReplayClock: started on entry, cancelled on exit, restarted on self-transition."""
from __future__ import annotations

from engine.runtime import BoundMachine
from runtime_support import build, interp, registry, trail

M = build({"idle": {"initial": True},
           "armed": {"after": [(10, "warn"), ("params.cooldown", "expire")], "states": {
               "a1": {"initial": True, "after": [(3, "nudge")]}}},
           "warned": {"after": [(5, "expire")]},
           "expired": {}},
          [{"event": "arm", "source": "idle", "target": "armed"},
           {"event": "disarm", "source": "armed", "target": "idle"},
           {"event": "rearm", "source": "armed", "target": "armed"},
           {"event": "nudge", "source": "a1"},
           {"event": "warn", "source": "armed", "target": "warned"},
           {"event": "expire", "source": ["armed", "warned"], "target": "expired"}],
          params={"cooldown": ("duration", "1m")})


def setup():
    it, clock, sink = interp(start=0.0)
    return it, clock, it.create(BoundMachine.build(M, registry()), "t")


def test_timers_fire_in_deadline_order_at_their_deadlines_and_chain():
    it, clock, inst = setup()
    it.send(inst, "arm")
    clock.set(100)
    recs = it.advance()
    # nudge@3 (targetless), warn@10 leaves armed (cancelling expire@60), warned starts expire@15.
    assert trail(recs) == [("transition", "a1", None, "nudge"), ("transition", "a1", "warned", "warn"),
                           ("transition", "warned", "expired", "expire")]
    assert [r.time for r in recs] == [3, 10, 15]
    assert inst.timers is None and it.next_deadline() is None


def test_nothing_fires_before_the_deadline():
    it, clock, inst = setup()
    it.send(inst, "arm")
    assert it.advance(2.999) == []
    assert it.next_deadline() == 3


def test_exit_cancels_timers():
    it, clock, inst = setup()
    it.send(inst, "arm")
    clock.set(5)
    it.send(inst, "disarm")
    assert it.advance(1000) == [] and inst.state == "idle"


def test_self_transition_restarts_timers_from_now():
    it, clock, inst = setup()
    it.send(inst, "arm")
    clock.set(8)
    it.send(inst, "rearm")
    assert trail(it.advance(17.9)) == [("transition", "a1", None, "nudge")]  # nudge restarted: 8 + 3
    assert trail(it.advance(18)) == [("transition", "a1", "warned", "warn")]


def test_duration_parameter_override_sets_the_delay():
    it, clock, _ = interp(start=0.0)
    inst = it.create(BoundMachine.build(M, registry(), {"cooldown": "2s"}), "t")
    it.send(inst, "arm")
    assert trail(it.advance(2)) == [("transition", "a1", "expired", "expire")]


def test_timers_of_many_instances_interleave_by_deadline():
    it, clock, _ = interp(start=0.0)
    bound = BoundMachine.build(M, registry())
    insts = []
    for i in range(5):
        clock.set(float(i))
        insts.append(it.create(bound, f"i{i}"))
        it.send(insts[-1], "arm")
    recs = it.advance(3.5)
    assert [(r.instance_id, r.time) for r in recs] == [("i0", 3.0)]
    recs = it.advance(100)
    assert [r.time for r in recs] == sorted(r.time for r in recs)


def test_cancelled_timers_are_swept_from_the_heap():
    it, clock, inst = setup()
    for _ in range(3000):
        it.send(inst, "arm")
        it.send(inst, "disarm")
    assert len(it._heap) < 3000


def test_timers_handing_over_between_states_each_fire_over_one_long_advance():
    """Only a timer its own firing re-arms (a retry) is coalesced (tests/test_timer_catch_up.py);
    `a` -> `b` -> `a` by two timers is a chain: one advance over 9 minutes fires all nine, as nine
    1-minute advances do. It stopped after two before."""
    m = build({"a": {"initial": True, "after": [(60, "to_b")]}, "b": {"after": [(60, "to_a")]}},
              [{"event": "to_b", "source": "a", "target": "b"}, {"event": "to_a", "source": "b", "target": "a"}])
    bound = BoundMachine.build(m, registry())
    runs = []
    for stops in ([540.0], [60.0 * k for k in range(1, 10)]):
        it, clock, _ = interp(start=0.0)
        inst = it.create(bound, "t")
        recs = [r for t in stops for r in it.advance(t)]
        runs.append(([r.time for r in recs], inst.state, it.next_deadline()))
    assert runs[0] == runs[1] == ([60.0 * k for k in range(1, 10)], "b", 600.0)
