import pytest

from engine.spec.lint import lint
from test_lint_builders import machine, specset

STATES = {"a": {"initial": True}, "b": {"final": True}, "c": {"final": True}}
INPUTS = {"kpi": {"sharpe": "float", "trades": "int", "ok": "bool"}}


def _two(g1, g2, p1=None, p2=None, **kw):
    t1 = {"event": "go", "source": "a", "target": "b", "priority": p1}
    t2 = {"event": "go", "source": "a", "target": "c", "priority": p2}
    if g1 is not None:
        t1["guard"] = g1
    if g2 is not None:
        t2["guard"] = g2
    m = machine(STATES, [t1, t2], inputs=INPUTS, params={"lim": {"default": 1.5}}, **kw)
    return [d for d in lint(specset(m)) if d.code != "UNUSED_PARAM"]


@pytest.mark.parametrize("g1,g2", [
    ("kpi.sharpe > 1", "kpi.sharpe < 2"),
    ("kpi.sharpe >= params.lim", "kpi.sharpe <= 1.5"),
    ("kpi.ok", "kpi.ok"),
    ("kpi.ok and kpi.trades > 3", "kpi.sharpe < 0"),
    ("kpi.trades >= 10", None),
])
def test_overlapping_guards_without_priority(g1, g2):
    ds = _two(g1, g2)
    assert [d.code for d in ds] == ["NONDETERMINISTIC"], ds


@pytest.mark.parametrize("g1,g2", [
    ("kpi.sharpe > 1", "kpi.sharpe <= 1"),
    ("kpi.sharpe >= params.lim", "kpi.sharpe < 1.5"),
    ("kpi.ok", "not kpi.ok"),
    ("kpi.trades > 2", "kpi.trades < 3"),  # integers: no value in between
    ("kpi.sharpe > 1 or kpi.ok", "kpi.sharpe < 0"),  # not provable either way: no claim
])
def test_exclusive_or_unprovable_guards_pass(g1, g2):
    assert _two(g1, g2) == []


def test_witness_is_in_the_message():
    (d,) = _two("kpi.sharpe > 1", "kpi.sharpe < 2")
    assert "kpi.sharpe = 1.5" in d.message


def test_priority_distinguishes():
    assert _two("kpi.ok", "kpi.ok", p1=1, p2=2) == []
    assert _two("kpi.ok", None, p1=1) == []  # a set priority runs before an unset one
    assert [d.code for d in _two("kpi.ok", "kpi.ok", p1=1, p2=1)] == ["NONDETERMINISTIC"]


def test_unguarded_earlier_transition_shadows_later():
    ds = _two(None, "kpi.ok")
    assert [d.code for d in ds] == ["SHADOWED_TRANSITION"]
    assert [d.code for d in _two(None, None)] == ["SHADOWED_TRANSITION"]


def test_priority_order_decides_shadowing_like_the_spec_format_example():
    # doc example: the guarded one is unset, the fallback has priority 2 -> the fallback always runs first
    ds = _two("kpi.ok", None, p2=2)
    assert [d.code for d in ds] == ["SHADOWED_TRANSITION"]


def test_different_sources_or_events_do_not_conflict():
    m = machine(STATES, [{"event": "go", "source": "a", "target": "b"},
                         {"event": "stop", "source": "a", "target": "c"},
                         {"event": "go", "source": "*", "target": "c"}])
    assert lint(specset(m)) == []


@pytest.mark.parametrize("g1,g2", [
    ("kpi.sharpe >= 1", "kpi.sharpe > 1"),
    ("kpi.sharpe > 1", "kpi.sharpe >= 1"),
    ("kpi.sharpe <= 1", "kpi.sharpe < 1"),
    ("kpi.trades >= 3", "kpi.trades > 3"),
    ("kpi.sharpe >= params.lim", "kpi.sharpe > params.lim and kpi.sharpe < 3"),
])
def test_the_witness_in_the_message_satisfies_both_guards(g1, g2):
    """NONDETERMINISTIC names values for which both guards hold: they must really hold (a `>`
    after a `>=` on the same bound makes it exclusive; engine/spec/lint/intervals.py)."""
    (d,) = _two(g1, g2)
    example = d.message.split("both guards hold when ")[1].split(")")[0]
    name, value = example.split(" = ")
    env = {"kpi": type("K", (), {name.split(".")[1]: float(value)}), "params": type("P", (), {"lim": 1.5})}
    assert eval(g1, env) and eval(g2, env), d.message
