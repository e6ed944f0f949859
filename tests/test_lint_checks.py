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


# --- must_act: taking the event is not enough ---------------------------------------------
FLATTEN = {"event": "flatten", "source": ["normal", "cooldown"], "target": "halted"}


def test_must_act_refuses_a_star_no_op_that_takes_the_event():
    """must_handle is satisfied by a `"*"` no-op; must_act is not (rev26: a kill broadcast turned
    into a no-op passed validate)."""
    ts = TS + [{"event": "flatten", "source": "normal", "target": "halted"},
               {"event": "flatten", "source": "*"}]
    m = machine(STATES, ts, checks=[{"must_handle": ["flatten"]}, {"must_act": FLATTEN}])
    ds = lint(specset(m))
    assert only(ds, "CHECK_MUST_HANDLE") == []
    (d,) = only(ds, "CHECK_MUST_ACT")
    assert d.message == "no transition on `flatten` that can run in `cooldown` goes to `halted`"
    assert d.path == ("normal", "cooldown")


def test_must_act_holds_through_an_enclosing_state_and_a_guarded_transition():
    ts = TS + [{"event": "flatten", "source": "restricted", "target": "halted", "guard": "ctx.n > 0"},
               {"event": "flatten", "source": "*"}]
    check = {"event": "flatten", "source": "restricted", "target": "halted"}
    assert only(lint(specset(machine(STATES, ts, checks=[{"must_act": check}]))), "CHECK_MUST_ACT") == []


def test_must_act_counts_a_state_s_exit_and_an_enclosing_state_s_entry():
    """rev34: only a transition's own actions and its target's entry (and below) were counted, where
    the interpreter also runs the exit actions of the states it leaves and the entry of each
    enclosing state it enters on the way to the target."""
    notify = [{"notify": {"text": "'x'"}}]
    states = {**STATES, "normal": {"initial": True, "exit": notify}}
    ts = TS + [{"event": "flatten", "source": "normal", "target": "cooldown"}]
    check = {"event": "flatten", "source": "normal", "action": "notify"}
    assert only(lint(specset(machine(states, ts, checks=[{"must_act": check}]))), "CHECK_MUST_ACT") == []
    states = {**STATES, "restricted": {**STATES["restricted"], "entry": notify}}
    ts = TS + [{"event": "flatten", "source": "normal", "target": "flatten"}]
    assert only(lint(specset(machine(states, ts, checks=[{"must_act": check}]))), "CHECK_MUST_ACT") == []
    ts = TS + [{"event": "flatten", "source": "close_only", "target": "flatten"}]  # inside it: not entered again
    check = {**check, "source": "close_only"}
    assert len(only(lint(specset(machine(states, ts, checks=[{"must_act": check}]))), "CHECK_MUST_ACT")) == 1


def test_must_act_does_not_count_a_transition_an_unguarded_earlier_one_always_beats():
    """Selection order (docs/spec-format.md): the state's own transitions before `"*"`'s, each by
    priority: the acting one after an unguarded no-op never runs."""
    ts = TS + [{"event": "flatten", "source": "normal", "priority": 1},
               {"event": "flatten", "source": "normal", "target": "halted", "priority": 2}]
    check = {"event": "flatten", "source": "normal", "target": "halted"}
    (d,) = only(lint(specset(machine(STATES, ts, checks=[{"must_act": check}]))), "CHECK_MUST_ACT")
    assert "`normal`" in d.message


def test_must_act_counts_an_action_run_by_the_entry_of_the_state_entered():
    states = {**STATES, "halted": {"final": True, "entry": ["close_all", {"notify": {"text": "'halted'"}}]}}
    ts = TS + [{"event": "flatten", "source": ["normal", "cooldown"], "target": "halted"},
               {"event": "flatten", "source": "close_only", "actions": ["notify"]}]
    check = {"event": "flatten", "source": ["normal", "cooldown", "close_only"], "action": "close_all"}
    ds = lint(specset(machine(states, ts, checks=[{"must_act": check}]), actions=("close_all", "notify")))
    (d,) = only(ds, "CHECK_MUST_ACT")
    assert d.message == "no transition on `flatten` that can run in `close_only` runs `close_all`"


def test_must_act_names_are_resolved():
    check = {"event": "flaten", "source": ["normal", "nromal"], "action": "close_al", "target": "halt"}
    ds = lint(specset(machine(STATES, TS + [{"event": "flatten", "source": "*"}], checks=[{"must_act": check}]),
                      actions=("close_all",)))
    assert [d.message for d in only(ds, "UNRESOLVED_STATE")] == [
        "`must_act`'s `source` `nromal` is not a state of `m`", "`must_act`'s `target` `halt` is not a state of `m`"]
    assert [d.hint for d in only(ds, "UNRESOLVED_EVENT")] == ["did you mean `flatten`?"]
    assert [d.hint for d in only(ds, "UNRESOLVED_ACTION")] == ["did you mean `close_all`?"]
    assert only(ds, "CHECK_MUST_ACT") == []  # nothing to prove until the names resolve
