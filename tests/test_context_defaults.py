"""A context default is the value every instance starts with: lint CONTEXT_DEFAULT refuses one
of the wrong type (tests/broken_specs/CONTEXT_DEFAULT has the cases), and the run reads a
duration default as seconds, the kind the lint infers for `ctx.NAME` of type duration."""
from __future__ import annotations

from engine.runtime import BoundMachine
from engine.spec.lint import lint
from runtime_support import registry
from test_lint_builders import machine, specset

STATES = {"a": {"initial": True}, "b": {"final": True}}
GO = [{"event": "go", "source": "a", "target": "b", "guard": "ctx.wait + 60 > ctx.n"}]


def _machine(context: dict):
    return machine(STATES, GO, context=context)


def test_a_duration_default_starts_as_seconds_and_lints_clean() -> None:
    m = _machine({"wait": {"type": "duration", "default": "15m"}, "n": {"type": "int", "default": 0}})
    assert [d for d in lint(specset(m)) if d.code == "CONTEXT_DEFAULT"] == []
    assert BoundMachine.build(m, registry()).new_ctx() == {"wait": 900.0, "n": 0}


def test_a_quoted_integer_default_is_refused_where_it_is_written() -> None:
    m = _machine({"wait": {"type": "duration", "default": "15m"}, "n": {"type": "int", "default": "0"}})
    (d,) = [d for d in lint(specset(m)) if d.code == "CONTEXT_DEFAULT"]
    assert "`n`" in d.message and "not the string `0`" in d.message and "default: 0" in d.hint
