from engine.diagnostics import Pos
from engine.spec.ir import Expr
from engine.spec.lint import lint
from engine.spec.lint._base import Sources
from engine.spec.lint._context import expr_pos
from test_lint_builders import machine, specset

STATES = {"a": {"initial": True}, "b": {"final": True}}


def _guard(g, **kw):
    m = machine(STATES, [{"event": "go", "source": "a", "target": "b", "guard": g}],
                inputs={"kpi": {"sharpe": "float"}}, context={"n": {}}, **kw)
    return lint(specset(m, guards=("in_session",)))


def test_parse_forbidden_name():
    assert [d.code for d in _guard("kpi.sharpe >")] == ["EXPR_PARSE"]
    assert [d.code for d in _guard("kpi.__class__")] == ["EXPR_FORBIDDEN"]  # one problem, not also a name
    assert "EXPR_FORBIDDEN" in [d.code for d in _guard("[x for x in ctx.n]")]
    (d,) = _guard("kpi.sharp > 1")
    assert (d.code, d.hint) == ("EXPR_NAME", "did you mean `kpi.sharpe`?")


def test_a_field_of_a_scalar_is_an_unknown_name():
    """`ctx.n.x` on an int, `kpi.sharpe.foo` on a float: validate passed both, and the run then
    raised in the guard (AttributeError) or compared a method to a number (always false)."""
    for read, declared in (("kpi.sharpe.foo > 0", "float"), ("ctx.n.upper == 0", "int")):
        (d,) = _guard(read)
        root = read.split(".")[0] + "." + read.split(".")[1]
        assert d.code == "EXPR_NAME" and f"`{root}` is declared `{declared}`" in d.message, d.message


def test_a_map_field_may_be_read_deeper():
    m = machine(STATES, [{"event": "go", "source": "a", "target": "b", "guard": "ctx.seen.btc > 0"}],
                context={"seen": {"type": "map", "default": {}}})
    assert lint(specset(m)) == []


def test_event_payload_only_visible_for_its_transition():
    m = machine({"a": {"initial": True, "entry": [{"assign": {"n": "event.qty"}}]}, "b": {"final": True}},
                [{"event": "fill", "source": "a", "target": "b", "guard": "event.qty > 0"}],
                events={"fill": {"payload": {"qty": "float"}}}, context={"n": {}})
    ds = lint(specset(m))
    assert [d.code for d in ds] == ["EXPR_NAME"]
    assert "state `a`" in ds[0].message


def test_column_inside_expression(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("guard: 'ctx.n > kpi.bad'\nguard2:  ctx.n > kpi.bad\n")
    src = Sources()
    quoted = expr_pos(src, Expr("ctx.n > kpi.bad", Pos(str(f), 1, 9)), 8)  # loader: past the quote
    plain = expr_pos(src, Expr(" ctx.n > kpi.bad", Pos(str(f), 2, 9)), 8)
    lines = f.read_text().splitlines()
    assert lines[0][quoted.col - 1:].startswith("kpi.bad") and lines[1][plain.col - 1:].startswith("kpi.bad")
