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
