"""`never_widens` (engine/spec/lint/widening.py): validate searches for a transition that loosens
a value the spec says only tightens, with the interpreter's selection order, and names the
values that show it. rev26 found that a looser trailing or move guard passed every other check."""
from __future__ import annotations

import shutil
from pathlib import Path

from engine.commands.validate import validate
from engine.spec.lint import lint
from test_lint_builders import machine, only, specset

REPO = Path(__file__).parents[1]
STATES = {"idle": {"initial": True}, "open": {}, "done": {"final": True}}
CONTEXT = {"side": {"type": "str", "default": "buy"}, "stop": {"type": "float", "default": 0.0}}
EVENTS = {"move": {"payload": {"stop": "float"}}, "venue": {"payload": {"stop": "float"}}, "close": {}}
TIGHTER = "new >= old if ctx.side == 'buy' else new <= old"
CHECK = {"field": "stop", "source": ["open"], "tighter": TIGHTER}
MOVE = {"assign": {"stop": "event.stop"}}
BASE = [{"event": "close", "source": "open", "target": "done"}]


def _lint(transitions: list[dict], check: dict = CHECK) -> list:
    m = machine(STATES, BASE + transitions, events=EVENTS, context=CONTEXT, checks=[{"never_widens": check}])
    return only(lint(specset(m)), "CHECK_NEVER_WIDENS")


def test_a_guard_that_lets_a_looser_stop_through_is_shown_with_a_counterexample() -> None:
    guard = "(ctx.side == 'buy' and event.stop >= ctx.stop - 0.001) or (ctx.side == 'sell' and event.stop <= ctx.stop)"
    (d,) = _lint([{"event": "move", "source": "open", "guard": guard, "actions": [MOVE]}])
    assert d.message.startswith("transition #1 on `move` in `open` can widen `stop`: with ctx.side='buy', ctx.stop=")
    assert "(the check's `new >= old if ctx.side == 'buy' else new <= old` is false)" in d.message


def test_the_exact_guard_passes() -> None:
    guard = "(ctx.side == 'buy' and event.stop >= ctx.stop) or (ctx.side == 'sell' and event.stop <= ctx.stop)"
    assert _lint([{"event": "move", "source": "open", "guard": guard, "actions": [MOVE]}]) == []


def test_a_refusal_selected_first_covers_an_unguarded_move_after_it() -> None:
    refuse = "(ctx.side == 'buy' and event.stop < ctx.stop) or (ctx.side == 'sell' and event.stop > ctx.stop)"
    ts = [{"event": "move", "source": "open", "guard": refuse, "priority": 1},
          {"event": "move", "source": "open", "priority": 2, "actions": [MOVE]}]
    assert _lint(ts) == []
    assert len(_lint([{**ts[0], "priority": 3}, ts[1]])) == 1, "selected after the move, the refusal covers nothing"


def test_an_exempt_event_and_a_state_outside_the_source_are_not_held_to_it() -> None:
    ts = [{"event": "venue", "source": "open", "actions": [MOVE]},
          {"event": "move", "source": "idle", "target": "open", "actions": [MOVE]}]
    assert len(_lint(ts)) == 1
    assert _lint(ts, {**CHECK, "exempt": ["venue"]}) == []


def test_a_target_state_s_entry_assign_is_checked_too() -> None:
    states = {**STATES, "moved": {"entry": [{"assign": {"stop": "ctx.stop - 1"}}]}}
    m = machine(states, BASE + [{"event": "move", "source": "open", "target": "moved"}], events=EVENTS,
                context=CONTEXT, checks=[{"never_widens": {**CHECK, "source": ["open", "moved"]}}])
    (d,) = only(lint(specset(m)), "CHECK_NEVER_WIDENS")
    assert "on `move` in `open` can widen `stop`" in d.message


def test_a_short_s_branch_written_as_the_else_of_a_side_test_is_tried() -> None:
    """rev34: a `str` was drawn only from the literals the expressions name, so with `'buy'` alone
    `ctx.side` was always 'buy' and a widening `else` branch (a short's) was never tried."""
    guard = "event.stop >= ctx.stop if ctx.side == 'buy' else event.stop >= ctx.stop"
    (d,) = _lint([{"event": "move", "source": "open", "guard": guard, "actions": [MOVE]}])
    assert "can widen `stop`" in d.message and "ctx.side='(another value)'" in d.message


def test_context_only_the_tighter_reads_is_drawn_too() -> None:
    """rev35: `ctx.side` was drawn only when a transition's own expressions read it; a side-blind
    guard (`event.stop >= ctx.stop`) was tried on the default side alone, and a short's stop moved
    from 105 to 120 on a spec that validated clean."""
    (d,) = _lint([{"event": "move", "source": "open", "guard": "event.stop >= ctx.stop", "actions": [MOVE]}])
    assert "can widen `stop`" in d.message and "ctx.side='(another value)'" in d.message


def test_a_state_s_exit_assign_and_an_enclosing_state_s_entry_assign_are_checked() -> None:
    """rev34: only a transition's own actions and its target's entry were searched; a state's `exit`
    and the `entry` of a compound state entered on the way to the target ran unseen (as in
    must_act, which shares the selection)."""
    states = {**STATES, "open": {"exit": [{"assign": {"stop": "ctx.stop - 1"}}]}}
    m = machine(states, BASE, events=EVENTS, context=CONTEXT, checks=[{"never_widens": CHECK}])
    (d,) = only(lint(specset(m)), "CHECK_NEVER_WIDENS")
    assert "on `close` in `open` can widen `stop`" in d.message
    states = {**STATES, "outer": {"entry": [{"assign": {"stop": "ctx.stop - 1"}}], "states": {"inner": {"initial": True}}}}
    m = machine(states, BASE + [{"event": "move", "source": "open", "target": "inner"}], events=EVENTS,
                context=CONTEXT, checks=[{"never_widens": CHECK}])
    (d,) = only(lint(specset(m)), "CHECK_NEVER_WIDENS")
    assert "on `move` in `open` can widen `stop`" in d.message


def test_a_tighter_that_raises_on_a_draw_is_said() -> None:
    """rev34: a tighter that raised on every short's draw was skipped there: the check proved
    nothing for shorts and said nothing."""
    guard = "event.stop >= ctx.stop if ctx.side == 'buy' else event.stop >= ctx.stop"
    (d,) = _lint([{"event": "move", "source": "open", "guard": guard, "actions": [MOVE]}],
                 {**CHECK, "tighter": "new >= old if ctx.side == 'buy' else new.x <= old"})
    assert d.message.startswith("the check's `tighter` cannot be evaluated: AttributeError: 'float' object has no "
                                "attribute 'x' (with ctx.side=")


def test_a_bad_tighter_expression_and_an_unknown_field_are_said() -> None:
    (d,) = _lint([], {**CHECK, "tighter": "new >= olf"})
    assert d.message == "the check's `tighter` cannot be evaluated: unknown name `olf`"
    (d,) = _lint([], {**CHECK, "field": "stp"})
    assert d.message == "`never_widens` names `stp`, which is not declared under `context`"


def _shipped_with(tmp_path: Path, old: str, new: str) -> list:
    specs = tmp_path / "specs"
    shutil.copytree(REPO / "specs", specs)
    bracket = specs / "orders" / "bracket.yaml"
    text = bracket.read_text()
    assert text.count(old) == 1
    bracket.write_text(text.replace(old, new))
    diags, _ = validate([str(specs)])
    return [d for d in diags if d.code == "CHECK_NEVER_WIDENS"]


def test_the_shipped_bracket_passes_and_a_loosened_trailing_guard_is_caught(tmp_path: Path) -> None:
    assert _shipped_with(tmp_path / "a", "field: stop", "field: stop") == []
    (d,) = _shipped_with(tmp_path / "b", "      and event.price - params.trail_distance_atr * event.atr > ctx.stop)\n",
                         "      )\n")
    assert "on `price_update` in `entry_partial` can widen `stop`" in d.message
    assert Path(d.pos.file).name == "bracket.yaml" and d.pos.line > 300


def test_a_breakeven_without_its_stop_below_entry_clause_is_caught(tmp_path: Path) -> None:
    (d,) = _shipped_with(tmp_path, "params.breakeven_atr * event.atr and ctx.stop < ctx.entry_px\n",
                         "params.breakeven_atr * event.atr\n")
    assert "can widen `stop`" in d.message


def test_a_guard_with_an_unknown_name_is_left_to_its_own_diagnostic() -> None:
    """Re-read: the search compiled every guard and raised on one with an unknown name, which
    validate printed as INTERNAL beside the EXPR_NAME error that says what is wrong."""
    m = machine(STATES, BASE + [{"event": "move", "source": "open", "guard": "event.stopp >= ctx.stop",
                                 "actions": [MOVE]}], events=EVENTS, context=CONTEXT, checks=[{"never_widens": CHECK}])
    ds = lint(specset(m))
    assert [d.code for d in ds if d.code in ("INTERNAL", "CHECK_NEVER_WIDENS")] == []
    assert "EXPR_NAME" in {d.code for d in ds}
