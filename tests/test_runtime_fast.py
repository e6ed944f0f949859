"""The fast forms of guards, arguments and guard inputs (compiled.FastForm) against the general
way (the compiled expression over Fields/Views): whenever a fast form answers, it must give
exactly what the general way gives (value or error); it may only decline (SLOW)."""
from __future__ import annotations

from collections import defaultdict
from functools import partial
from types import MappingProxyType, SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.runtime import BoundMachine, ListSink, ReplayClock, Interpreter
from engine.runtime.compiled import SLOW, Step, fast_globals, fast_value
from engine.runtime.instance import Instance
from runtime_support import build, interp, registry

GUARDS = [
    "ctx.n + event.x >= params.lim",
    "kpi.a > kpi.b or event.y is None",
    "positive(event.x) and ctx.s == 'buy'",
    "raw.x.y == 1",
    "abs(event.x - ctx.n) < 10 and kpi.a",
    "event.x / ctx.n > 0",
]
ARGS = ["ctx.n + event.x", "kpi.a", "raw.x.y", "params.lim * 2", "event.y"]

M = build({"a": {"initial": True}},
          [{"event": "go", "source": "a", "guard": g, "priority": i} for i, g in enumerate(GUARDS)],
          events={"go": {"x": "float", "y": "float"}}, params={"lim": ("float", 1.5)},
          context={"n": 0, "s": "buy"}, inputs={"kpi": {"a": "float", "b": "float"}, "raw": {"x": "map"}})
BOUND = BoundMachine.build(M, registry())
CANDS = BOUND.table[("a", "go")]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=2),
                    st.floats(allow_nan=False, allow_infinity=False, width=32))
values = st.one_of(scalars, st.dictionaries(st.sampled_from("xyab"), scalars, max_size=3))
fields = st.dictionaries(st.sampled_from(["x", "y", "a", "b", "n", "s"]), values, max_size=6)
# Containers the general way reads by attribute: plain dicts, and what a fast form must decline.
# A payload is a Mapping (Interpreter.send); an input may be any object.
mappings = st.one_of(fields, fields, fields.map(MappingProxyType), fields.map(lambda d: defaultdict(lambda: 1.0, d)))
containers = st.one_of(mappings, fields.map(lambda d: SimpleNamespace(**d)))


def outcome(fn) -> tuple:
    try:
        return ("ok", repr(fn()))  # repr: 1, 1.0 and True differ
    except Exception as e:  # noqa: BLE001 - comparing the errors too
        return ("error", type(e).__name__, str(e))


def general_env(ctx, payload, inputs) -> dict:
    return Step(BOUND, Instance(BOUND, "i", "a", ctx), "go", payload, inputs, 0.0, []).env()


@settings(max_examples=300)
@given(ctx=fields, payload=mappings, inputs=st.dictionaries(st.sampled_from(["kpi", "raw"]),
                                                                                  containers, max_size=2))
def test_fast_guards_and_reads_agree_with_the_general_way(ctx, payload, inputs):
    for cand in CANDS:
        # The general way first: a fast form that wrongly read a defaultdict would add the key.
        want = outcome(partial(eval, cand.guard, BOUND.globals, general_env(ctx, payload, inputs)))
        fast = outcome(partial(cand.test, ctx, payload, inputs))
        if fast != ("ok", repr(SLOW)):
            assert fast == want, cand.guard_src
        want = repr(Interpreter._reads(cand, Instance(BOUND, "i", "a", ctx), payload, inputs))
        got = cand.read(ctx, payload, inputs)
        if got is not SLOW:
            assert repr(got) == want, cand.guard_src


@settings(max_examples=200)
@given(ctx=fields, payload=mappings, inputs=st.dictionaries(st.sampled_from(["kpi", "raw"]),
                                                                                  containers, max_size=2))
def test_fast_arguments_agree_with_the_general_way(ctx, payload, inputs):
    g, fg = BOUND.globals, fast_globals(BOUND.globals, BOUND.params)
    code = compile("(" + ", ".join(ARGS) + ",)", "<args>", "eval")
    names = tuple(f"k{i}" for i in range(len(ARGS)))
    fast = fast_value(ARGS, frozenset(M.inputs), fg, keys=names)
    want = outcome(lambda: dict(zip(names, eval(code, g, general_env(ctx, payload, inputs)))))
    got = outcome(lambda: fast(ctx, payload, inputs))
    if got != ("ok", repr(SLOW)):
        assert got == want


def test_plain_data_takes_the_fast_form():
    """The point of the fast forms: plain dicts of scalars never fall back."""
    ctx, payload, inputs = {"n": 1, "s": "buy"}, {"x": 2.0, "y": None}, {"kpi": {"a": 1.0, "b": 0.5}}
    fast = [c for c in CANDS if "raw" not in c.guard_src]
    assert all(c.test(ctx, payload, inputs) is not SLOW for c in fast)
    assert all(c.read(ctx, payload, inputs) is not SLOW for c in fast)
    assert "__ctx['n']" in CANDS[0].test.source  # made by the first call above


def test_records_and_actions_are_the_same_on_both_paths():
    """One send over plain data (fast forms) and the same over a mapping proxy (general way)."""
    m = build({"a": {"initial": True}, "b": {}},
              [{"event": "go", "source": "a", "target": "b", "guard": "ctx.n + event.x > params.lim",
                "actions": [{"assign": {"n": "ctx.n + event.x"}}, {"log": {"tag": "'n=' + str(ctx.n)"}}]}],
              events={"go": {"x": "int"}}, params={"lim": ("int", 1)}, context={"n": 1})
    reg = registry()
    reg.guard("str")(str)
    bound = BoundMachine.build(m, reg)
    out = []
    for payload in ({"x": 2}, MappingProxyType({"x": 2})):
        it, _, sink = interp()
        log: list = []
        inst = it.create(bound, "i", host=log)
        it.send(inst, "go", payload)
        out.append(([r.as_dict() for r in sink.records], log, inst.ctx))
    assert out[0] == out[1] and out[0][1] == ["n=3"]


def test_a_send_from_an_action_after_a_create_still_waits_for_the_step():
    """Creating an instance inside an action is part of the running step: it must not end the
    step's run-to-completion (a send after it is still queued until the step is done)."""
    reg = registry()
    it = Interpreter(ReplayClock(0.0), ListSink())
    child = BoundMachine.build(build({"x": {"initial": True}, "y": {}},
                                     [{"event": "poke", "source": "x", "target": "y"}], name="child"), reg)
    order: list[str] = []

    @reg.action("spawn")
    def _spawn(ctx) -> None:
        kid = it.create(child, "kid")
        it.send(kid, "poke")
        order.append(f"kid {kid.state} during the step")

    parent = BoundMachine.build(build({"p": {"initial": True}, "q": {}},
                                      [{"event": "go", "source": "p", "target": "q", "actions": ["spawn"]}],
                                      name="parent"), reg)
    inst = it.create(parent, "parent")
    records = it.send(inst, "go")
    assert order == ["kid x during the step"]
    assert [(r.machine, r.kind, r.event) for r in records] == [("parent", "transition", "go"),
                                                                ("child", "transition", "poke")]
