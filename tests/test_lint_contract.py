"""ENGINE_CONTRACT: an ordinary edit of specs/ that breaks what `engine run` relies on by name
fails `engine validate` at the spec node to fix, and `engine run` refuses it with the same
diagnostics (engine/spec/contract.py lists what the engine needs)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.commands.validate import validate
from engine.diagnostics import Diagnostic, Severity, SpecError
from engine.spec.validation import check_specs

SPECS = Path(__file__).parents[1] / "specs"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(SPECS, tmp_path / "specs")
    return tmp_path / "specs"


def edit(tree: Path, file: str, old: str, new: str, count: int = 1) -> None:
    path = tree / file
    text = path.read_text()
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new) if count == 0 else text.replace(old, new, count))


def contract(tree: Path) -> list[str]:
    """ENGINE_CONTRACT diagnostics as `file:line:col message`."""
    return [f"{Path(d.pos.file).relative_to(tree).as_posix()}:{d.pos.line}:{d.pos.col} {d.message}"
            for d in validate([str(tree)])[0] if d.code == "ENGINE_CONTRACT"]


def line_of(tree: Path, file: str, pattern: str) -> int:
    lines = (tree / file).read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if re.search(pattern, text))


def test_the_shipped_specs_meet_the_contract():
    diags, _ = validate([str(SPECS)])
    assert [d for d in diags if d.code == "ENGINE_CONTRACT"] == []


def test_renamed_stage_state_is_refused_by_validate_and_by_run(tree: Path):
    """stage_1 -> learn validated clean, then `engine run` died with KeyError: 'stage_1'."""
    edit(tree, "rollout/rollout.yaml", "stage_1", "learn", count=0)
    (got,) = contract(tree)
    assert got.startswith(f"rollout/rollout.yaml:{line_of(tree, 'rollout/rollout.yaml', '^states:')}:1 ")
    assert "no state `stage_1`" in got
    diags = [d for d in validate([str(tree)])[0] if d.code == "ENGINE_CONTRACT"]
    assert "`activate` enters `learn`: rename to `stage_1`" in diags[0].hint
    _run_refuses_with(tree, diags)


def _run_refuses_with(tree: Path, expected: list[Diagnostic]) -> None:
    from engine.run.session import load_specset

    with pytest.raises(SpecError) as e:
        load_specset([str(tree)])
    errors = [d for d in validate([str(tree)])[0] if d.severity is Severity.ERROR]
    assert e.value.diagnostics == errors and set(expected) <= set(e.value.diagnostics)


def test_renamed_bracket_tag_is_refused(tree: Path):
    """position_open drives max-hold exits, breakeven and trailing: renamed, they silently stopped."""
    edit(tree, "orders/bracket.yaml", "[position_open]", "[pos_open]", count=0)
    (got,) = contract(tree)
    # where the misspelling is first written, not at `states:` (with a hint that read as the typo itself)
    line = line_of(tree, "orders/bracket.yaml", r"\[pos_open\]")
    col = (tree / "orders/bracket.yaml").read_text().splitlines()[line - 1].index("pos_open") + 1
    assert got.startswith(f"orders/bracket.yaml:{line}:{col} ") and "tag `position_open`" in got
    (hint,) = [d.hint for d in validate([str(tree)])[0] if d.code == "ENGINE_CONTRACT"]
    assert hint == "`pos_open` is written here: rename it `position_open`"


def test_a_renamed_gate_confirmation_is_refused(tree: Path):
    """QA: `engine promote --domain` posts confirm_canary by name; renamed in the gate spec, it validated."""
    edit(tree, "gates/model_promotion.yaml", "  confirm_canary:", "  confirm_canary_x:")
    (got,) = contract(tree)
    assert got.startswith(f"gates/model_promotion.yaml:{line_of(tree, 'gates/model_promotion.yaml', '^commands:')}:1 ")
    assert "command `confirm_canary` of `model_promotion`" in got


@pytest.mark.parametrize("command", ["decline_canary", "degrade"])
def test_the_gate_decline_and_degrade_commands_stay_optional(tree: Path, command: str):
    """As the rollout's decline (commit 57b45d6): without them the CLI refuses that use by name."""
    edit(tree, "gates/model_promotion.yaml", f"  {command}:", f"  {command}_x:")
    assert contract(tree) == []


def test_a_gate_without_recall_validates_and_a_rollout_recall_reaches_no_machine(tree: Path):
    """`recall` is optional: a gate spec without it keeps offering what it passed once (no error, and
    the rollout's timer that asks for it is no NEVER_SENT either)."""
    text = (tree / "gates/model_promotion.yaml").read_text()
    text = re.sub(r"  recall:\n(    .*\n)+", "", text, count=1)
    text = re.sub(r"  - event: recall\n(    .*\n)+", "", text)
    (tree / "gates/model_promotion.yaml").write_text(text.replace("kill_resume, recall]", "kill_resume]"))
    diags, _ = validate([str(tree)])
    assert [(d.code, d.message) for d in diags if d.severity is Severity.ERROR or d.code == "NEVER_SENT"] == []


def test_a_gate_recall_no_rollout_asks_for_is_never_sent(tree: Path):
    """The engine sends `recall` only as recall_gates' effect: a rollout that names it nowhere leaves
    the gate's recall transitions dead (before, NEVER_SENT counted `recall` as always sent)."""
    edit(tree, "rollout/rollout.yaml", "    actions: [recall_gates]\n", "    actions: []\n")
    edit(tree, "rollout/rollout.yaml", "pass_held: false}}, recall_gates]", "pass_held: false}}]")
    diags, _ = validate([str(tree)])
    [(pos, message)] = [(d.pos, d.message) for d in diags if d.code == "NEVER_SENT"]
    assert "nothing sends `recall` to `model_promotion`" in message
    assert pos.line == line_of(tree, "gates/model_promotion.yaml", "^  - event: recall")


def test_a_rollout_that_fails_to_load_leaves_the_gate_s_recall_unjudged(tree: Path):
    """The rollout's schema error alone: the gate's `recall`, sent through the rollout's
    recall_gates, was also reported as NEVER_SENT with "delete the transitions that wait for it"."""
    edit(tree, "rollout/rollout.yaml", "domains: &stage_1_domains {crypto_spot: paper,",
         "domains: &stage_1_domains {crypto_spot: papr,")
    diags, _ = validate([str(tree)])
    assert [d.code for d in diags] == ["SCHEMA_VALUE"]


def test_a_recall_payload_the_engine_does_not_send_is_refused(tree: Path):
    edit(tree, "gates/model_promotion.yaml", "  recall:\n", "  recall:\n    payload: {why: str}\n")
    (got,) = contract(tree)
    assert got.startswith(f"gates/model_promotion.yaml:{line_of(tree, 'gates/model_promotion.yaml', '^  recall:')}:3 ")
    assert "declares payload `why`" in got


def test_the_gate_commands_read_their_names_from_the_contract():
    from engine.commands import degrade, promote
    from engine.spec.contract import ENGINE_CONTRACT, GATE_CONFIRM, GATE_DECLINE, GATE_DEGRADE

    assert set(ENGINE_CONTRACT["model_promotion"].commands) == {GATE_CONFIRM}
    assert (promote.GATE_CONFIRM, promote.GATE_DECLINE, degrade.GATE_DEGRADE) == (GATE_CONFIRM, GATE_DECLINE,
                                                                                  GATE_DEGRADE)


def test_kill_fault_must_be_handled_where_entries_open(tree: Path):
    edit(tree, "kill/kill_modes.yaml", "  - event: fault\n    source: [normal, cooldown]",
         "  - event: fault\n    source: [cooldown]")
    (got,) = contract(tree)
    normal = line_of(tree, "kill/kill_modes.yaml", r"^  normal:")
    assert got.startswith(f"kill/kill_modes.yaml:{normal}:3 state `normal` carries `opens_risk` and does not "
                          "handle `fault`")


def test_kill_fault_event_removed_is_refused(tree: Path):
    text = (tree / "kill/kill_modes.yaml").read_text()
    text = re.sub(r"  fault:\n(    .*\n)+", "", text, count=1)
    text = re.sub(r"  - event: fault\n(    .*\n)+", "", text, count=1)
    (tree / "kill/kill_modes.yaml").write_text(text)
    got = contract(tree)
    events = line_of(tree, "kill/kill_modes.yaml", "^events:")
    assert got == [f"kill/kill_modes.yaml:{events}:1 the engine sends `fault` to `kill_modes` when a run lock is "
                   "lost or execution cannot resolve an order, and `kill_modes` declares no such event"]


def test_a_payload_the_engine_does_not_send_is_refused(tree: Path):
    edit(tree, "kill/kill_modes.yaml", "payload: {pnl: money}", "payload: {pnl: money, fee: money}")
    (got,) = contract(tree)
    assert got.startswith(f"kill/kill_modes.yaml:{line_of(tree, 'kill/kill_modes.yaml', '^  trade_closed:')}:3 ")
    assert "declares payload `fee`" in got


def test_a_stage_activate_does_not_enter_is_refused(tree: Path):
    edit(tree, "rollout/rollout.yaml",
         "  - {event: activate, source: inactive, target: stage_3, guard: event.stage == 3, "
         "actions: [{assign: {stage: 3}}]}\n", "")
    (got,) = contract(tree)
    assert got.startswith(f"rollout/rollout.yaml:{line_of(tree, 'rollout/rollout.yaml', '^  stage_3:')}:3 "
                          "no `activate` transition from the initial state enters `stage_3`")


STAGE_6 = """  stage_6:
    description: Experimental; crypto spot on paper.
    domains: {crypto_spot: paper, crypto_perp: "off", forex: "off", forex_options: "off"}
    gate: model_promotion
    entry: *apply_stage
  demoted:
"""


def test_a_stage_the_spec_adds_must_be_entered_by_activate(tree: Path):
    """`engine run --stage 6` sends `activate` with stage 6: a stage_6 it does not enter would
    leave the rollout in its initial state."""
    edit(tree, "rollout/rollout.yaml", "  demoted:\n", STAGE_6)
    edit(tree, "rollout/rollout.yaml", "stage_5_options_live]", "stage_5_options_live, stage_6]")
    (got,) = contract(tree)
    assert got.startswith(f"rollout/rollout.yaml:{line_of(tree, 'rollout/rollout.yaml', '^  stage_6:')}:3 "
                          "no `activate` transition from the initial state enters `stage_6`")


def test_renamed_machine_is_refused_at_its_name(tree: Path):
    """`validate` said 0 errors, `run` said UNRESOLVED_STATE at specs:0:0 with no hint."""
    edit(tree, "orders/bracket.yaml", "name: bracket", "name: brackets")
    got = [d for d in validate([str(tree)])[0] if d.code == "ENGINE_CONTRACT"]
    assert [(d.pos.line, d.pos.col, d.hint) for d in got] == [(2, 7, "did you mean to name this one `bracket`?")]
    assert "needs a machine named `bracket`" in got[0].message
    _run_refuses_with(tree, got)


def test_run_applies_the_contract_to_any_set_it_is_given(tree: Path):
    """validate checks a whole tree with a rollout; `engine run` has nothing else to run."""
    shutil.rmtree(tree / "rollout")
    for f in (tree / "overrides").glob("*.yaml"):
        if "stage" in f.name:
            f.unlink()
    assert [d for d in check_specs([tree])[1] if d.code == "ENGINE_CONTRACT"] == []
    (d,) = [d for d in check_specs([tree], for_run=True)[1] if d.code == "ENGINE_CONTRACT"]
    assert d.message == "`engine run` needs the machines `rollout`, and the spec set lacks them"
    assert d.pos.file.endswith("catalogue.yaml") and d.hint == "restore specs/rollout/rollout.yaml"


def test_an_order_state_must_say_whether_it_is_live(tree: Path):
    edit(tree, "orders/order.yaml", "    tags: [terminal]\n", "")
    (got,) = contract(tree)
    canceled = line_of(tree, "orders/order.yaml", r"^  CANCELED:")
    assert got.startswith(f"orders/order.yaml:{canceled}:3 state `CANCELED` of `order` must carry exactly one "
                             "of `working`, `terminal`, `protected` (it has none)")


def test_renamed_canceled_state_keeps_the_cancelled_leg_done(tree: Path):
    """CANCELED -> CANCELLED validated clean and left the cancelled sibling leg live for ever:
    no trade was recorded and the losing-streak tripwire never ran. Liveness comes from the spec."""
    from engine.exec.execution import Execution
    from engine.runtime import BoundMachine, Interpreter, ListSink, ReplayClock, default_registry
    from engine.runtime import missing_implementations

    edit(tree, "orders/order.yaml", "CANCELED", "CANCELLED", count=0)
    specs, diags = check_specs([tree])
    assert [d for d in diags if d.severity is Severity.ERROR] == []
    missing_implementations(specs)  # registers the providers' actions
    order, bracket = (BoundMachine.build(specs.machines[n], default_registry) for n in ("order", "bracket"))
    interp = Interpreter(ReplayClock(0.0), ListSink())
    ex = Execution(interp, order, bracket, venue=None, ledger=None, clock=interp.clock,
                   multiplier=lambda s: 1.0, on_closed=lambda b: None, fill_price_band=0.10)
    quiet = type("Quiet", (), {name: lambda self, ctx, **args: None for name, _ in order.hosted})  # the order's host
    leg = SimpleNamespace(instance=interp.create(order, "o1", host=quiet()))
    assert ex.is_live(leg)
    interp.send(leg.instance, "cancel")
    assert leg.instance.state == "CANCELLED" and not ex.is_live(leg)


def test_exploration_min_above_max_chop_is_refused_at_the_default(tree: Path):
    """An ML run died with a pydantic ValidationError from engine/run/signals.py."""
    edit(tree, "rollout/rollout.yaml", "    default: 0.10\n    min: 0.10", "    default: 0.30\n    min: 0.10")
    (got,) = contract(tree)
    param = line_of(tree, "rollout/rollout.yaml", "^  exploration_min:")
    assert got.startswith(f"rollout/rollout.yaml:{param}:3 `exploration_min` (0.3) is above `exploration_max_chop` "
                          "(0.25)")


def test_exploration_min_above_max_chop_in_a_stage_is_refused_at_the_override(tree: Path):
    edit(tree, "overrides/stage_2.yaml", "values:\n", "values:\n  rollout:\n    exploration_min: 0.5\n")
    (got,) = contract(tree)
    assert got.startswith("overrides/stage_2.yaml:8:5 `exploration_min` (0.5) is above `exploration_max_chop` "
                          "(0.25) in stage 2")


def test_exploration_rates_are_the_rollout_parameters_only(tree: Path):
    edit(tree, "ml/exploration.yaml", "tag: exploration", "tag: exploration\nchop_rate: 0.3")
    (got,) = contract(tree)
    assert got.startswith(f"ml/exploration.yaml:{line_of(tree, 'ml/exploration.yaml', '^chop_rate')}:1 "
                          "`chop_rate` of a `kind: exploration` document is not read")


def bench_daily_limits(tree: Path, stop: float, flatten: float) -> None:
    """Env bench's daily close-only stop and flatten limit, whatever the shipped ones are."""
    path = tree / "overrides/env_bench.yaml"
    text = re.sub(r"(?m)^    daily_loss_limit: .*$", f"    daily_loss_limit: {stop}", path.read_text())
    path.write_text(re.sub(r"(?m)^    max_daily_loss: .*$", f"    max_daily_loss: {flatten}", text))


def test_daily_stop_above_the_daily_flatten_limit_is_refused(tree: Path):
    """With the close-only stop above the flatten limit, a bad day flattened without first stopping entries."""
    bench_daily_limits(tree, 0.5, 0.4)
    (got,) = contract(tree)
    assert got.startswith("overrides/env_bench.yaml:10:5 `daily_loss_limit` (0.5) is above `max_daily_loss` (0.4)"
                          " in env `bench`")


def test_daily_stop_at_the_daily_flatten_limit_is_refused(tree: Path):
    """At equal limits both trip on the same risk_update and the flatten (priority 2) wins over the
    close-only stop (priority 3): a bad day flattened without first stopping entries."""
    bench_daily_limits(tree, 0.3, 0.3)
    (d,) = [d for d in validate([str(tree)])[0] if d.code == "ENGINE_CONTRACT"]
    assert (Path(d.pos.file), d.pos.line, d.pos.col) == (tree / "overrides/env_bench.yaml", 10, 5)
    assert d.message.startswith("`daily_loss_limit` (0.3) is equal to `max_daily_loss` (0.3) in env `bench`")
    assert d.hint == "set `daily_loss_limit` below `max_daily_loss`"


def test_exploration_min_may_equal_the_chop_rate(tree: Path):
    """Not strict: exploring as much in chop as at least is a rate an ML run takes."""
    edit(tree, "overrides/stage_2.yaml", "values:\n", "values:\n  rollout:\n    exploration_min: 0.25\n")
    assert contract(tree) == []


def test_a_raise_validate_passes_is_one_the_run_binds(tree: Path):
    """validate stripped every quote off a raised name, the binding read it as a Python literal:
    `raise: "'kill_close_only"` (one stray quote) validated clean and the run refused to bind it."""
    edit(tree, "kill/kill_modes.yaml", "- raise: kill_close_only", "- raise: \"'kill_close_only\"")
    errors = [d for d in validate([str(tree)])[0] if d.severity is Severity.ERROR]
    assert [d.code for d in errors] == ["UNRESOLVED_EVENT"] and "`'kill_close_only`" in errors[0].message


@pytest.mark.parametrize("name, stage", [("stage_6", 6), ("stage_12", 12), ("stage_06", None), ("stage_0", None),
                                         ("stage_٣", None), ("stage_²", None), ("stage_5_options_live", None)])
def test_a_stage_is_named_as_engine_run_enters_it(name: str, stage: int | None):
    """`engine run --stage 6` enters `stage_6`: `stage_06` validated as a sixth stage that the run
    then refused, listing stage 6 among the stages it has."""
    from engine.spec.contract import stage_of

    assert stage_of(name) == stage
