from engine.spec.lint import lint
from test_lint_builders import machine, only, specset

KILL = machine({"normal": {"initial": True}, "halted": {}},
               [{"event": "kill_halt", "source": "normal", "target": "halted"},
                {"event": "kill_resume", "source": "halted", "target": "normal"}],
               name="kill", kind="kill", broadcasts=("kill_halt", "kill_resume"))


def _orders(transitions, **kw):
    return machine({"idle": {"initial": True}, "open": {"states": {"working": {"initial": True}}},
                    "closed": {"final": True}},
                   [{"event": "fill", "source": "idle", "target": "open"},
                    {"event": "close", "source": "open", "target": "closed"}, *transitions],
                   events=["fill", "close", "kill_halt", "kill_resume"], name="orders", **kw)


def test_unhandled_broadcast_lists_states():
    ds = only(lint(specset(KILL, _orders([{"event": "kill_halt", "source": "open", "target": "closed"}]))),
              "UNHANDLED_BROADCAST")
    assert [d.message for d in ds] == [
        "`orders` does not handle `kill_halt`, which `kill` broadcasts, in `idle`",
        "`orders` does not handle `kill_resume`, which `kill` broadcasts, in `idle`, `working`"]
    assert ds[0].path == ("idle",)


def test_broadcast_handled_via_star_or_ignored():
    m = _orders([{"event": "kill_halt", "source": "*", "target": "closed"}], ignores=("kill_resume",))
    assert only(lint(specset(KILL, m)), "UNHANDLED_BROADCAST") == []


def test_a_state_level_ignores_satisfies_a_broadcast_in_that_state():
    """QA: only the machine's `ignores` counted; `idle` listing kill_halt still reported it."""
    m = machine({"idle": {"initial": True, "ignores": ["kill_halt"]}, "open": {}, "closed": {"final": True}},
                [{"event": "go", "source": "idle", "target": "open"},
                 {"event": "kill_halt", "source": "open", "target": "closed"}],
                events=["go", "kill_halt", "kill_resume"], name="orders", ignores=("kill_resume",))
    assert only(lint(specset(KILL, m)), "UNHANDLED_BROADCAST") == []


def test_an_unhandled_broadcast_path_runs_from_the_initial_state():
    m = machine({"idle": {"initial": True}, "open": {}, "closed": {"final": True}},
                [{"event": "go", "source": "idle", "target": "open"},
                 {"event": "kill_halt", "source": "idle", "target": "closed"}],
                events=["go", "kill_halt", "kill_resume"], name="orders", ignores=("kill_resume",))
    [d] = only(lint(specset(KILL, m)), "UNHANDLED_BROADCAST")
    assert d.path == ("idle", "open")


def test_timer_bounds():
    m = machine({"a": {"initial": True, "after": [{"delay": "0s", "event": "t"}, {"delay": "31d", "event": "t"},
                                                   {"delay": "params.wait", "event": "t"},
                                                   {"delay": "soon", "event": "t"},
                                                   {"delay": "params.nope", "event": "t"}]},
                 "b": {"final": True}},
                [{"event": "t", "source": "a", "target": "b"}], params={"wait": {"type": "duration", "default": "45d"}})
    ds = lint(specset(m))
    assert [d.code for d in ds] == ["TIMER_BOUNDS"] * 4 + ["UNRESOLVED_PARAM"]
    assert "(default of `params.wait`)" in ds[2].message



def test_a_parameter_value_that_is_no_valid_value_is_left_to_param_bounds():
    """`-1m` is no duration to PARAM_BOUNDS (check_overrides); the timer check saying `-60s` too would
    contradict it: one problem, one message."""
    m = machine({"a": {"initial": True, "after": {"delay": "params.wait", "event": "t"}}, "b": {"final": True}},
                [{"event": "t", "source": "a", "target": "b"}], params={"wait": {"type": "duration", "default": "-1m"}})
    assert only(lint(specset(m)), "TIMER_BOUNDS") == []


def test_unused_param_and_event_are_warnings():
    m = machine({"a": {"initial": True, "after": {"delay": "params.wait", "event": "t"}}, "b": {"final": True}},
                [{"event": "t", "source": "a", "target": "b", "guard": "ctx.n < params.used"}],
                events=["t", "spare"], context={"n": {}},
                params={"wait": {"type": "duration", "default": "5m"}, "used": {}, "spare_p": {}})
    ds = lint(specset(m))
    assert [(d.code, d.severity.value) for d in ds] == [("UNUSED_PARAM", "warning"), ("UNUSED_EVENT", "warning")]
    assert "`spare_p`" in ds[0].message and "`spare`" in ds[1].message


def _gate(degrade_from, **states):
    """A gate whose tripwire in `live` (and in `b`'s entry) raises `degrade`; `degrade_from` takes it."""
    return machine({"paper": {"initial": True}, "live": {}, "b": {"entry": [{"raise": "degrade"}]}, **states},
                   [{"event": "go", "source": "paper", "target": "live"},
                    {"event": "kpi", "source": "live", "guard": "true", "actions": [{"raise": "degrade"}]},
                    {"event": "next", "source": "live", "target": "b"},
                    {"event": "degrade", "source": degrade_from, "target": "paper"}],
                   events=["go", "kpi", "next", "degrade"], name="gate", kind="gates")


def test_a_raised_event_nothing_takes_where_it_is_raised_is_an_error():
    """rev25: a gate's drawdown tripwire raised `degrade_to_paper` in `established`, which a
    spec edit had taken out of the degrade's sources: validate passed and the run dropped it."""
    ds = only(lint(specset(_gate(["b"]))), "UNHANDLED_RAISE")
    assert [d.message for d in ds] == [
        "the `kpi` transition at line 7 raises `degrade` with `gate` in `live`, where nothing takes it: "
        "it would be dropped"]
    assert ds[0].path == ("paper", "live")
    entry = only(lint(specset(_gate(["live"]))), "UNHANDLED_RAISE")
    assert [d.message for d in entry] == [
        "the entry of `b` raises `degrade` with `gate` in `b`, where nothing takes it: it would be dropped"]


def test_a_raised_event_taken_or_ignored_where_it_is_raised_is_no_error():
    assert only(lint(specset(_gate(["live", "b"]))), "UNHANDLED_RAISE") == []
    assert only(lint(specset(_gate("*"))), "UNHANDLED_RAISE") == []
    ignored = _gate(["live"], b={"entry": [{"raise": "degrade"}], "ignores": ["degrade"]})
    assert only(lint(specset(ignored)), "UNHANDLED_RAISE") == []


def test_a_broadcast_the_kill_machine_raises_is_for_the_others():
    kill = machine({"normal": {"initial": True}, "halted": {}},
                   [{"event": "trip", "source": "normal", "target": "halted", "actions": [{"raise": "kill_halt"}]},
                    {"event": "kill_resume", "source": "halted", "target": "normal"}],
                   name="kill", kind="kill", broadcasts=("kill_halt", "kill_resume"))
    assert only(lint(specset(kill)), "UNHANDLED_RAISE") == []


def _waiting(**waiting):
    """An order whose `waiting` state times out into `ack_timeout`; `a` takes it, `waiting` may."""
    return machine({"a": {"initial": True}, "waiting": {"after": {"delay": "10s", "event": "ack_timeout"}, **waiting},
                    "b": {"final": True}},
                   [{"event": "go", "source": "a", "target": "waiting"},
                    {"event": "done", "source": "waiting", "target": "b"},
                    {"event": "ack_timeout", "source": "a", "target": "b"}],
                   events=["go", "done", "ack_timeout"], name="m", kind="orders")


def test_a_timer_whose_event_nothing_takes_in_its_state_is_an_error():
    """rev26: the order's SUBMITTED kept `after: ack_timeout` with its transition deleted, and
    validate passed: the order would wait in SUBMITTED for ever, no reconciliation asked."""
    [d] = only(lint(specset(_waiting())), "UNHANDLED_RAISE")
    assert d.message == ("the timer of `waiting` fires `ack_timeout` with `m` in `waiting`, where nothing takes it: "
                         "it would be dropped")
    assert only(lint(specset(_waiting(ignores=["ack_timeout"]))), "UNHANDLED_RAISE") == []
