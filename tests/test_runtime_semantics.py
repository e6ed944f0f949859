"""Selection, callback order, run-to-completion and failure handling, on IR built in Python."""
from __future__ import annotations

import dataclasses
import math
from decimal import Decimal

import numpy as np
import pytest

from engine.runtime import ActionError, BindError, BoundMachine
from runtime_support import build, interp, log, registry, trail

# Three levels: top > mid > leaf1/leaf2, beside `other` (with its own child).
NESTED = {
    "top": {"initial": True, "entry": [log("+top")], "exit": [log("-top")], "states": {
        "mid": {"initial": True, "entry": [log("+mid")], "exit": [log("-mid")], "states": {
            "leaf1": {"initial": True, "entry": [log("+leaf1")], "exit": [log("-leaf1")]},
            "leaf2": {"entry": [log("+leaf2")], "exit": [log("-leaf2")]},
        }},
    }},
    "other": {"entry": [log("+other")], "exit": [log("-other")], "states": {
        "o1": {"initial": True, "entry": [log("+o1")], "exit": [log("-o1")]},
    }},
    "end": {"final": True},
}


def run(machine, events, ctx=None):
    it, _, sink = interp()
    host: list[str] = []
    inst = it.create(BoundMachine.build(machine, registry()), "i1", ctx=ctx, host=host)
    out = [it.send(inst, e) for e in events]
    return inst, host, out, sink


def test_initial_descent_enters_outermost_first_down_to_a_leaf():
    inst, host, _, sink = run(build(NESTED, []), [])
    assert inst.state == "leaf1"
    assert host == ["+top", "+mid", "+leaf1"]
    assert trail(sink.records) == [("init", None, "leaf1", "")]
    assert inst.in_state("top") and inst.in_state("mid") and not inst.in_state("other")


def test_exit_innermost_first_then_actions_then_entry_outermost_first():
    m = build(NESTED, [{"event": "go", "source": "leaf1", "target": "other", "actions": [log("act")]}])
    inst, host, out, _ = run(m, ["go"])
    assert host[3:] == ["-leaf1", "-mid", "-top", "act", "+other", "+o1"]
    assert inst.state == "o1"
    assert trail(out[0]) == [("transition", "leaf1", "o1", "go")]


def test_transition_within_a_compound_leaves_the_compound_alone():
    m = build(NESTED, [{"event": "go", "source": "leaf1", "target": "leaf2"}])
    _, host, _, _ = run(m, ["go"])
    assert host[3:] == ["-leaf1", "+leaf2"]


def test_transition_defined_on_an_ancestor_exits_from_the_active_leaf():
    m = build(NESTED, [{"event": "go", "source": "mid", "target": "other"}])
    inst, host, _, _ = run(m, ["go"])
    assert host[3:] == ["-leaf1", "-mid", "-top", "+other", "+o1"]


def test_self_transition_exits_and_reenters_but_targetless_runs_only_actions():
    m = build(NESTED, [{"event": "self", "source": "leaf1", "target": "leaf1", "actions": [log("act")]},
                       {"event": "quiet", "source": "leaf1", "actions": [log("act")]},
                       {"event": "reset", "source": "mid", "target": "mid"}])
    inst, host, out, _ = run(m, ["self", "quiet", "reset"])
    assert host[3:] == ["-leaf1", "act", "+leaf1", "act", "-leaf1", "-mid", "+mid", "+leaf1"]
    assert trail(out[1]) == [("transition", "leaf1", None, "quiet")]  # targetless: no target
    assert inst.state == "leaf1"


def test_inner_state_wins_over_outer_and_star_is_last():
    m = build(NESTED, [{"event": "e", "source": "*", "target": "end"},
                       {"event": "e", "source": "top", "actions": [log("top")]},
                       {"event": "e", "source": "leaf1", "actions": [log("leaf1")]}])
    _, host, _, _ = run(m, ["e"])
    assert host[3:] == ["leaf1"]


def test_guards_fall_through_outwards_and_to_star():
    m = build(NESTED, [{"event": "e", "source": "*", "actions": [log("star")]},
                       {"event": "e", "source": "top", "guard": "ctx.n > 1", "actions": [log("top")]},
                       {"event": "e", "source": "leaf1", "guard": "ctx.n > 2", "actions": [log("leaf1")]}],
              context={"n": 0})
    _, host, _, _ = run(m, ["e"], ctx={"n": 2})
    assert host[3:] == ["top"]
    _, host, _, _ = run(m, ["e"], ctx={"n": 0})
    assert host[3:] == ["star"]


def test_within_a_state_priority_then_document_order():
    m = build(NESTED, [{"event": "e", "source": "leaf1", "actions": [log("doc0")]},
                       {"event": "e", "source": "leaf1", "actions": [log("p2")], "priority": 2},
                       {"event": "e", "source": "leaf1", "actions": [log("p1")], "priority": 1},
                       {"event": "f", "source": "leaf1", "actions": [log("f0")]},
                       {"event": "f", "source": "leaf1", "actions": [log("f1")]}])
    _, host, _, _ = run(m, ["e", "f"])
    assert host[3:] == ["p1", "f0"]


def test_assign_writes_ctx_at_once_and_guard_inputs_are_recorded():
    m = build({"a": {"initial": True}, "b": {}},
              [{"event": "e", "source": "a", "target": "b", "guard": "ctx.n + event.x >= params.limit",
                "actions": [{"assign": {"n": "ctx.n + event.x"}}, {"assign": {"m": "ctx.n * 10"}}]}],
              events={"e": {"x": "int"}}, params={"limit": ("int", 3)}, context={"n": 1, "m": 0})
    it, _, _ = interp()
    inst = it.create(BoundMachine.build(m, registry()), "i")
    assert trail(it.send(inst, "e", {"x": 1})) == [("unhandled", "a", None, "e")]
    (rec,) = it.send(inst, "e", {"x": 2})
    assert inst.ctx == {"n": 3, "m": 30}
    assert rec.guard_inputs == {"ctx.n": 1, "event.x": 2, "params.limit": 3}  # read before the actions
    assert rec.reason == "ctx.n + event.x >= params.limit"


def test_params_override_defaults_and_unknown_params_are_refused():
    m = build({"a": {"initial": True}, "b": {}},
              [{"event": "e", "source": "a", "target": "b", "guard": "params.limit < 5"}],
              params={"limit": ("int", 10)})
    it, _, _ = interp()
    inst = it.create(BoundMachine.build(m, registry(), {"limit": 1}), "i")
    assert trail(it.send(inst, "e")) == [("transition", "a", "b", "e")]
    with pytest.raises(BindError, match="unknown parameter `limt`"):
        BoundMachine.build(m, registry(), {"limt": 1})


def test_inputs_are_visible_by_root_name():
    m = build({"a": {"initial": True}, "b": {}},
              [{"event": "e", "source": "a", "target": "b", "guard": "kpi.sharpe > 1 and positive(kpi.trades)"}],
              inputs={"kpi": {"sharpe": "float", "trades": "int"}})
    it, _, _ = interp()
    inst = it.create(BoundMachine.build(m, registry()), "i")
    (rec,) = it.send(inst, "e", inputs={"kpi": {"sharpe": 1.5, "trades": 3}})
    assert rec.kind == "transition" and rec.guard_inputs == {"kpi.sharpe": 1.5, "kpi.trades": 3}


def test_raised_events_run_to_completion_before_send_returns():
    m = build({"a": {"initial": True}, "b": {}, "c": {}},
              [{"event": "go", "source": "a", "target": "b",
                "actions": [{"raise": "next"}, {"emit": {"event": "'later'"}}, log("after-raise")]},
               {"event": "next", "source": "b", "target": "c", "actions": [log("next")]},
               {"event": "later", "source": "c", "actions": [log("later")]}])
    inst, host, out, _ = run(m, ["go"])
    # The raise is queued: the rest of the transition runs first, then `next`, then `later`.
    assert host == ["after-raise", "next", "later"]
    assert trail(out[0]) == [("transition", "a", "b", "go"), ("transition", "b", "c", "next"),
                             ("transition", "c", None, "later")]


def test_a_raising_guard_is_false_and_recorded():
    m = build({"a": {"initial": True}, "b": {}, "c": {}},
              [{"event": "e", "source": "a", "target": "b", "guard": "explode(ctx.n)"},
               {"event": "e", "source": "a", "target": "c", "guard": "ctx.missing_input_ok if False else True"}],
              context={"n": 4})
    with pytest.raises(BindError, match="ctx.missing_input_ok"):  # undeclared names fail at bind time
        BoundMachine.build(m, registry())
    m = build({"a": {"initial": True}, "b": {}},
              [{"event": "e", "source": "a", "target": "b", "guard": "explode(ctx.n)"}], context={"n": 4})
    inst, _, out, _ = run(m, ["e"])
    assert trail(out[0]) == [("guard_error", "a", "b", "e"), ("unhandled", "a", None, "e")]
    assert "ZeroDivisionError" in out[0][0].reason and out[0][0].guard_inputs == {"ctx.n": 4}
    assert inst.state == "a"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float64("nan"), np.float32("inf"),
                                 Decimal("NaN"), Decimal("sNaN")])
def test_a_payload_number_that_is_not_finite_is_refused(bad):
    """NaN fails every comparison: the guarded transition never held, and the unguarded one after
    it fired and wrote the NaN into ctx. The event is refused, and the host hears of it."""
    m = build({"a": {"initial": True}, "hi": {}, "lo": {}},
              [{"event": "e", "source": "a", "target": "hi", "guard": "event.x >= 1", "priority": 1},
               {"event": "e", "source": "a", "target": "lo", "priority": 2, "actions": [{"assign": {"x": "event.x"}}]}],
              events={"e": {"x": "float", "n": "int", "why": "str"}}, context={"x": 0.0})
    it, _, _ = interp()
    heard: list = []
    it.on_guard_error = heard.append
    inst = it.create(BoundMachine.build(m, registry()), "i1", host=[])
    out = it.send(inst, "e", {"x": bad, "n": 3, "why": "nan"})
    assert trail(out) == [("guard_error", "a", None, "e")] and heard == out
    assert inst.state == "a" and inst.ctx["x"] == 0.0
    assert out[0].guard_inputs == {"event.x": repr(bad)} and "not a finite number" in out[0].reason
    it.send(inst, "e", {"x": 0.5, "n": 3, "why": "nan"})  # finite: taken as before
    assert inst.state == "lo" and inst.ctx["x"] == 0.5


def test_a_number_too_large_for_a_float_is_still_a_number():
    m = build({"a": {"initial": True}, "hi": {}},
              [{"event": "e", "source": "a", "target": "hi", "guard": "event.n >= 1"}], events={"e": {"n": "int"}})
    it, _, _ = interp()
    inst = it.create(BoundMachine.build(m, registry()), "i1", host=[])
    assert [r.kind for r in it.send(inst, "e", {"n": 10 ** 400})] == ["transition"]


def test_a_sampled_payload_may_be_nan():
    """A sample's NaN is a measurement not yet known (an ATR before its window is full): it is not
    refused, and a transition that does not compare it still fires."""
    m = build({"a": {"initial": True}, "b": {}},
              [{"event": "s", "source": "a", "target": "b", "guard": "event.atr > 0 or event.price > 1"}],
              events={"s": {"price": "float", "atr": "float"}})
    m = dataclasses.replace(m, events={"s": dataclasses.replace(m.events["s"], sampled=True)})
    it, _, _ = interp()
    inst = it.create(BoundMachine.build(m, registry()), "i1", host=[])
    assert it.send(inst, "s", {"price": 0.5, "atr": math.nan}) == []  # decided nothing: no record
    assert trail(it.send(inst, "s", {"price": 2.0, "atr": math.nan})) == [("transition", "a", "b", "s")]


def test_missing_input_makes_the_guard_fail_closed():
    m = build({"a": {"initial": True}, "b": {}},
              [{"event": "e", "source": "a", "target": "b", "guard": "pnl.daily_loss < 0.1"}],
              inputs={"pnl": {"daily_loss": "fraction"}})
    inst, _, out, _ = run(m, ["e"])
    assert [r.kind for r in out[0]] == ["guard_error", "unhandled"] and inst.state == "a"


def test_unhandled_and_undeclared_events_are_recorded_and_dropped():
    m = build({"a": {"initial": True}, "b": {"final": True}},
              [{"event": "e", "source": "a", "target": "b"}], events={"other": {}})
    inst, _, out, _ = run(m, ["other", "nonsense", "e", "e"])
    assert [r.kind for r in out[0] + out[1]] == ["unhandled", "unhandled"]
    assert "not declared" in out[1][0].reason
    assert inst.done and out[3][0].reason == "instance is done"


def test_records_made_from_bound_templates_carry_every_field_of_their_step():
    """init, transition and unhandled records copy a template made at bind time: each must still
    name its instance, time, source, target, guard inputs and reason exactly."""
    m = build({"a": {"initial": True}, "b": {}},
              [{"event": "e", "source": "a", "target": "b", "guard": "event.x > 1"},
               {"event": "f", "source": "b"}],
              events={"e": {"x": "int"}, "f": {}})
    it, clock, _ = interp()
    bound = BoundMachine.build(m, registry())
    first, second = it.create(bound, "i1"), it.create(bound, "i2")
    clock.advance(7)
    out = [it.send(first, "f"), it.send(second, "e", {"x": 0}), it.send(second, "e", {"x": 2}),
           it.send(second, "f")]
    got = [r.as_dict() for r in it.sink.records]
    base = {"machine": bound.name, "spec_hash": bound.spec_hash, "guard_inputs": {}}
    assert got == [
        {**base, "instance_id": "i1", "source": None, "target": "a", "event": "", "time": 1000.0,
         "kind": "init", "reason": ""},
        {**base, "instance_id": "i2", "source": None, "target": "a", "event": "", "time": 1000.0,
         "kind": "init", "reason": ""},
        {**base, "instance_id": "i1", "source": "a", "target": None, "event": "f", "time": 1007.0,
         "kind": "unhandled", "reason": "no transition for `f` from `a`"},
        {**base, "instance_id": "i2", "source": "a", "target": None, "event": "e", "time": 1007.0,
         "guard_inputs": {"event.x": 0}, "kind": "unhandled",
         "reason": "no enabled transition for `e` from `a` (guards false)"},
        {**base, "instance_id": "i2", "source": "a", "target": "b", "event": "e", "time": 1007.0,
         "guard_inputs": {"event.x": 2}, "kind": "transition", "reason": "event.x > 1"},
        {**base, "instance_id": "i2", "source": "b", "target": None, "event": "f", "time": 1007.0,
         "kind": "transition", "reason": "on `f` (unguarded)"},
    ]
    assert [r for o in out for r in o] == it.sink.records[2:]
    assert it.sink.records[2].__dict__ is not it.sink.records[3].__dict__  # each owns its fields


def test_action_error_is_recorded_then_raised_and_the_instance_is_consistent():
    m = build({"a": {"initial": True, "after": [(5, "t")]}, "b": {"entry": ["boom", log("+b")], "after": [(9, "t")]},
               "c": {}},
              [{"event": "e", "source": "a", "target": "b", "actions": [{"raise": "t"}]},
               {"event": "t", "source": "b", "target": "c"}])
    it, _, sink = interp()
    host: list[str] = []
    inst = it.create(BoundMachine.build(m, registry()), "i", host=host)
    with pytest.raises(ActionError, match=r"action `boom` \(entry, b\).*now in `b`") as ei:
        it.send(inst, "e")
    assert ei.value.machine == "m" and ei.value.instance_id == "i" and ei.value.state == "b"
    assert isinstance(ei.value.__cause__, RuntimeError)
    assert trail(sink.records)[-1] == ("action_error", "a", "b", "e")
    assert "exchange down" in sink.records[-1].reason
    # Later entry actions skipped, raised events dropped; timers match the state it is in.
    assert host == [] and inst.state == "b" and list(inst.timers) == [("b", 0)]
    assert trail(it.advance(1009)) == [("transition", "b", "c", "t")]


def test_bind_reports_every_unknown_name_at_once():
    m = build({"a": {"initial": True, "entry": ["nope"]}, "b": {}},
              [{"event": "e", "source": "a", "target": "b", "guard": "in_sesion(1)", "actions": ["logg"]}])
    with pytest.raises(BindError) as ei:
        BoundMachine.build(m, registry())
    text = str(ei.value)
    assert "action `nope`" in text and "action `logg`" in text and "did you mean `log`" in text
    assert "guard function `in_sesion`" in text and "test.yaml:1:1" in text


def test_a_failing_initial_entry_still_hands_over_a_consistent_instance():
    m = build({"a": {"initial": True, "entry": ["boom"], "after": [(5, "t")]}, "b": {}},
              [{"event": "t", "source": "a", "target": "b"}])
    it, _, sink = interp()
    with pytest.raises(ActionError, match="init") as ei:
        it.create(BoundMachine.build(m, registry()), "i")
    inst = ei.value.instance
    assert inst.state == "a" and trail(sink.records) == [("action_error", None, "a", "")]
    assert trail(it.advance(1005)) == [("transition", "a", "b", "t")]


def test_a_send_from_inside_an_action_runs_after_the_current_macro_step():
    m = build({"a": {"initial": True}, "b": {}},
              [{"event": "go", "source": "a", "target": "b", "actions": ["relay", {"raise": "own"}]},
               {"event": "own", "source": "b", "actions": [log("own")]}])
    reg = registry()
    it, _, _ = interp()
    host: list = []
    others: list = []

    @reg.action("relay")
    def relay(ctx) -> None:
        for other in others:
            if other is not ctx.instance:
                assert it.send(other, "go") == []  # queued: a step is running
        ctx.host.append(f"relayed {ctx.instance.id}")

    bound = BoundMachine.build(m, reg)
    others.append(it.create(bound, "other", host=host))
    first = it.create(bound, "first", host=host)
    recs = it.send(first, "go")
    assert host == ["relayed first", "own", "relayed other", "own"]  # other waits for first's step
    assert [(r.instance_id, r.event) for r in recs] == [("first", "go"), ("first", "own"),
                                                         ("other", "go"), ("other", "own")]
