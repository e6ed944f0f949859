"""Many instances of one bound machine: created and driven without per-instance compilation."""
from __future__ import annotations

from engine.runtime import BoundMachine, Interpreter, NullSink, ReplayClock
from runtime_support import build, registry

M = build({"new": {"initial": True, "after": [(60, "expire")]},
           "working": {"states": {"open": {"initial": True}, "part": {}}},
           "filled": {"final": True}, "expired": {"final": True}},
          [{"event": "ack", "source": "new", "target": "working"},
           {"event": "fill", "source": "working", "target": "filled", "guard": "ctx.qty + event.qty >= 10",
            "actions": [{"assign": {"qty": "ctx.qty + event.qty"}}]},
           {"event": "fill", "source": "working", "target": "part", "actions": [{"assign": {"qty": "ctx.qty + event.qty"}}]},
           {"event": "expire", "source": "new", "target": "expired"}],
          events={"fill": {"qty": "float"}}, context={"qty": 0.0})


def test_ten_thousand_instances_created_and_driven():
    clock = ReplayClock(0.0)
    it = Interpreter(clock, NullSink())
    bound = BoundMachine.build(M, registry())
    insts = [it.create(bound, f"o{i}") for i in range(10_000)]
    for i, inst in enumerate(insts):
        if i % 2:
            it.send(inst, "ack")
            it.send(inst, "fill", {"qty": 4.0})
            it.send(inst, "fill", {"qty": 6.0})
    expired = it.advance(60)
    assert len(expired) == 5_000
    assert {i.state for i in insts[::2]} == {"expired"} and {i.state for i in insts[1::2]} == {"filled"}
    assert all(i.done and i.timers is None for i in insts) and it.next_deadline() is None
    assert insts[1].ctx == {"qty": 10.0} and insts[0].ctx == {"qty": 0.0}
