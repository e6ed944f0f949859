from engine.spec.lint import lint
from test_lint_builders import machine, only, specset

STATES = {"normal": {"initial": True}, "cooldown": {}, "restricted": {"states": {"close_only": {"initial": True},
                                                                                "flatten": {}}},
          "halted": {"final": True}}
TS = [{"event": "loss", "source": "normal", "target": "cooldown"},
      {"event": "elapsed", "source": "cooldown", "target": "normal"},
      {"event": "breach", "source": "normal", "target": "restricted"},
      {"event": "worse", "source": "close_only", "target": "flatten"},
      {"event": "halt", "source": "*", "target": "halted"}]


def test_reachable_from_all_with_counterexample_path():
    m = machine(STATES, TS, checks=[{"reachable_from_all": "normal"}])
    (d,) = only(lint(specset(m)), "CHECK_REACHABLE_FROM_ALL")
    assert d.message == "`normal` cannot be reached from `close_only` (nor from 1 other state(s))"
    assert d.path == ("normal", "close_only")


def test_reachable_from_all_holds_through_a_compound_transition():
    m = machine(STATES, TS + [{"event": "resume", "source": "restricted", "target": "normal"}],
                checks=[{"reachable_from_all": "normal"}])
    assert only(lint(specset(m)), "CHECK_REACHABLE_FROM_ALL") == []


def test_must_handle_via_ancestor_or_star():
    m = machine(STATES, TS + [{"event": "manual", "source": "restricted", "target": "normal"}],
                checks=[{"must_handle": ["halt", "manual"]}])
    (d,) = only(lint(specset(m)), "CHECK_MUST_HANDLE")
    assert d.message == "`manual` is not handled in `normal` (nor in 1 other state(s))"
    assert d.path == ("normal",)


def test_must_handle_counts_a_states_ignores_as_handled_there():
    """An `ignores` entry is the spec saying that dropping the event there is meant; only the
    state that neither takes nor ignores it is reported."""
    states = {**STATES, "cooldown": {"ignores": ["manual"]}}
    m = machine(states, TS + [{"event": "manual", "source": "restricted", "target": "normal"}],
                checks=[{"must_handle": ["manual"]}])
    (d,) = only(lint(specset(m)), "CHECK_MUST_HANDLE")
    assert d.message == "`manual` is not handled in `normal`"
    assert "`normal`'s `ignores:`" in d.hint


def test_unreachable_check_prints_shortest_path():
    m = machine(STATES, TS, checks=[{"unreachable": "flatten"}, {"unreachable": "halted_by_mistake"}])
    ds = lint(specset(m))
    (d,) = only(ds, "CHECK_UNREACHABLE")
    assert d.path == ("normal", "close_only", "flatten")
    assert "did you mean" in only(ds, "UNRESOLVED_STATE")[0].hint or only(ds, "UNRESOLVED_STATE")[0].hint


def test_every_target_of_reachable_from_all_is_checked_not_only_the_first():
    """CHECK_REACHABLE_FROM_ALL (docs/lint-rules.md): a check lists several targets; each is proved
    (order.yaml's `reachable_from_all: FILLED` would pass silently if only the first were)."""
    m = machine(STATES, TS, checks=[{"reachable_from_all": ["halted", "normal"]}])
    (d,) = only(lint(specset(m)), "CHECK_REACHABLE_FROM_ALL")
    assert d.message.startswith("`normal` cannot be reached from `close_only`")
