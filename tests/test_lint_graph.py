from engine.spec.lint import lint
from test_lint_builders import machine, only, specset


def test_initial_missing_and_multiple_per_level():
    m = machine({"a": {"initial": True, "states": {"x": {}, "y": {}}},
                 "b": {"initial": True}, "c": {"final": True}},
                [{"event": "go", "source": "*", "target": "c"}])
    ds = lint(specset(m))
    assert [d.message for d in only(ds, "INITIAL_MISSING")] == ["compound state `a` has no initial state"]
    assert [d.pos for d in only(ds, "INITIAL_MULTIPLE")] == [m.states["b"].pos]


def test_top_level_initial_missing_skips_reachability():
    m = machine({"a": {}, "b": {"final": True}}, [{"event": "go", "source": "a", "target": "b"}])
    ds = lint(specset(m))
    assert [d.code for d in ds] == ["INITIAL_MISSING"]


def test_final_outgoing_but_not_via_star():
    m = machine({"a": {"initial": True}, "b": {"final": True}},
                [{"event": "go", "source": "a", "target": "b"}, {"event": "back", "source": "b", "target": "a"},
                 {"event": "stop", "source": "*", "target": "b"}])
    assert len(only(lint(specset(m)), "FINAL_OUTGOING")) == 1


def test_unreachable_reports_outermost_state_only():
    m = machine({"a": {"initial": True}, "island": {"states": {"i1": {"initial": True}, "i2": {}}},
                 "b": {"final": True}},
                [{"event": "go", "source": "a", "target": "b"}, {"event": "hop", "source": "i1", "target": "i2"},
                 {"event": "hop", "source": "i2", "target": "b"}])
    assert [d.message for d in only(lint(specset(m)), "UNREACHABLE_STATE")] == [
        "state `island` cannot be reached from the initial state"]


def test_entering_a_compound_enters_its_initial_child_only():
    m = machine({"a": {"initial": True}, "c": {"states": {"c1": {"initial": True}, "c2": {}}},
                 "b": {"final": True}},
                [{"event": "go", "source": "a", "target": "c"}, {"event": "go", "source": "c", "target": "b"}])
    ds = lint(specset(m))
    assert [(d.code, d.message) for d in only(ds, "UNREACHABLE_STATE")] == [
        ("UNREACHABLE_STATE", "state `c2` cannot be reached from the initial state")]


def test_trap_state_but_not_inside_a_compound_with_a_way_out():
    m = machine({"a": {"initial": True}, "stuck": {},
                 "c": {"states": {"c1": {"initial": True}}}, "b": {"final": True}},
                [{"event": "go", "source": "a", "target": "stuck"}, {"event": "go2", "source": "a", "target": "c"},
                 {"event": "out", "source": "c", "target": "b"}])
    assert [d.message for d in only(lint(specset(m)), "TRAP_STATE")] == [
        "state `stuck` is not final and no transition leaves it"]


def test_star_transitions_are_a_way_out_and_self_loops_are_not():
    m = machine({"a": {"initial": True}, "loop": {}, "b": {"final": True}},
                [{"event": "go", "source": "a", "target": "loop"}, {"event": "again", "source": "loop", "target": "loop"}])
    assert [d.message for d in only(lint(specset(m)), "TRAP_STATE")] == [
        "state `loop` is not final and no transition leaves it"]
    m2 = machine({"a": {"initial": True}, "loop": {}, "b": {"final": True}},
                 [{"event": "go", "source": "a", "target": "loop"}, {"event": "halt", "source": "*", "target": "b"}])
    assert only(lint(specset(m2)), "TRAP_STATE") == []


def test_no_path_to_final_is_a_warning_with_path():
    m = machine({"a": {"initial": True}, "p": {}, "q": {}, "b": {"final": True}},
                [{"event": "go", "source": "a", "target": "b"}, {"event": "side", "source": "a", "target": "p"},
                 {"event": "ping", "source": "p", "target": "q"}, {"event": "pong", "source": "q", "target": "p"}])
    ds = only(lint(specset(m)), "NO_PATH_TO_FINAL")
    assert [(d.message, d.severity.value, d.path) for d in ds] == [
        ("no final state can be reached from `p`", "warning", ("a", "p")),
        ("no final state can be reached from `q`", "warning", ("a", "p", "q"))]


def test_final_outgoing_checks_every_source_of_a_transition():
    """FINAL_OUTGOING: a final state listed after a non-final one in `source: [..]` is still
    reported (a late fill from FILLED would otherwise lint clean)."""
    m = machine({"a": {"initial": True}, "b": {"final": True}},
                [{"event": "go", "source": "a", "target": "b"}, {"event": "back", "source": ["a", "b"], "target": "a"}])
    [d] = only(lint(specset(m)), "FINAL_OUTGOING")
    assert d.message == "final state `b` is the source of a transition on `back`"
