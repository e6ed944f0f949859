from engine.spec.lint import lint
from test_lint_builders import codes, machine, only, specset

OK_STATES = {"a": {"initial": True}, "b": {"final": True}}


def test_clean_machine_has_no_diagnostics():
    m = machine(OK_STATES, [{"event": "go", "source": "a", "target": "b"}])
    assert lint(specset(m)) == []


def test_unresolved_state_in_source_and_target_with_hint():
    m = machine({"stage_5": {"initial": True}, "done": {"final": True}},
                [{"event": "go", "source": "stage_55", "target": "stage_5"},
                 {"event": "go", "source": "stage_5", "target": "dne"}])
    d = only(lint(specset(m)), "UNRESOLVED_STATE")
    assert [x.message for x in d] == ["source `stage_55` is not a state of `m`", "target `dne` is not a state of `m`"]
    assert d[0].hint == "did you mean `stage_5`?"
    assert d[1].hint == "did you mean `done`?"


def test_unresolved_event_everywhere_an_event_is_named():
    m = machine({"a": {"initial": True, "after": {"delay": "5m", "event": "tick"},
                       "entry": [{"raise": "boom"}]}, "b": {"final": True}},
                [{"event": "go", "source": "a", "target": "b"}],
                events=["go"], commands={"stop": "halt"}, checks=[{"must_handle": ["gone"]}])
    msgs = [x.message for x in only(lint(specset(m)), "UNRESOLVED_EVENT")]
    assert len(msgs) == 4, msgs
    assert any("timer" in x and "`tick`" in x for x in msgs)
    assert any("`raise` names `boom`, which is not declared under `events`" in x for x in msgs)
    assert any("command `stop`" in x for x in msgs)
    gone = next(d for d in only(lint(specset(m)), "UNRESOLVED_EVENT") if "`gone`" in d.message)
    assert gone.hint == "did you mean `go`?"


def test_a_state_ignores_entry_reads_as_a_sentence():
    m = machine({"a": {"initial": True, "ignores": ["position_close"]}, "b": {"final": True}},
                [{"event": "position_closed", "source": "a", "target": "b"}])
    [d] = only(lint(specset(m)), "UNRESOLVED_EVENT")
    assert d.message == "`ignores` of `a` names `position_close`, which is not declared under `events`"
    assert d.hint == "did you mean `position_closed`?"


KILL = machine({"normal": {"initial": True}, "halted": {}},
               [{"event": "kill_halt", "source": "normal", "target": "halted"},
                {"event": "kill_resume", "source": "halted", "target": "normal"}],
               name="kill", kind="kill", broadcasts=("kill_halt", "kill_resume"))


def test_machine_ignores_names_a_declared_event_or_a_kill_broadcast():
    """QA: `ignores: [kill_resume, margin_call]` passed, and `kill_resme` got no did-you-mean."""
    def orders(ignores):
        return machine(OK_STATES, [{"event": "go", "source": "a", "target": "b"},
                                   {"event": "kill_halt", "source": "a", "target": "b"}],
                       events=["go", "kill_halt"], name="orders", ignores=ignores)
    assert only(lint(specset(KILL, orders(("kill_resume",)))), "UNRESOLVED_EVENT") == []
    ds = only(lint(specset(KILL, orders(("kill_resme", "margin_call")))), "UNRESOLVED_EVENT")
    assert [d.message for d in ds] == [
        "`ignores` of `orders` names `kill_resme`, which is neither declared under `events` nor broadcast "
        "by the kill spec",
        "`ignores` of `orders` names `margin_call`, which is neither declared under `events` nor broadcast "
        "by the kill spec"]
    assert ds[0].hint == "did you mean `kill_resume`?"


def test_unresolved_gate_names_gates_machines_only():
    gate = machine(OK_STATES, [{"event": "go", "source": "a", "target": "b"}], name="promote_1", kind="gates")
    roll = machine({"s1": {"initial": True, "gate": "promote_2"}, "s2": {"final": True, "gate": "promote_1"}},
                   [{"event": "go", "source": "s1", "target": "s2"}], name="rollout", kind="rollout")
    d = only(lint(specset(gate, roll)), "UNRESOLVED_GATE")
    assert len(d) == 1 and "`promote_2`" in d[0].message and d[0].hint == "did you mean `promote_1`?"


def test_unresolved_action_named_and_assign():
    m = machine(OK_STATES, [{"event": "go", "source": "a", "target": "b",
                             "actions": ["notfy", {"assign": {"losses": "ctx.loses + 1"}}]}],
                context={"loses": {}})
    d = only(lint(specset(m, actions=("notify",))), "UNRESOLVED_ACTION")
    assert [x.hint for x in d] == ["did you mean `notify`?", "did you mean `loses`?"]


def test_unresolved_param_and_guard_from_expressions():
    m = machine(OK_STATES, [{"event": "go", "source": "a", "target": "b",
                             "guard": "in_sesion(1) and ctx.n > params.max_los"}],
                params={"max_loss": {}}, context={"n": {}})
    ds = lint(specset(m, guards=("in_session",)))
    assert sorted(codes(ds)) == ["UNRESOLVED_GUARD", "UNRESOLVED_PARAM", "UNUSED_PARAM"]
    assert only(ds, "UNRESOLVED_PARAM")[0].hint == "did you mean `params.max_loss`?"
    assert only(ds, "UNRESOLVED_GUARD")[0].hint == "did you mean `in_session`?"


def test_builtin_actions_need_no_catalogue_entry():
    m = machine(OK_STATES, [{"event": "go", "source": "a", "target": "b",
                             "actions": [{"raise": "done"}, {"assign": {"n": "1"}}]}],
                events=["go", "done"], context={"n": {}})
    assert codes(lint(specset(m))) == []
