"""What `engine run` needs of the specs: the machines it creates, the events it sends them,
the tags, context, parameters, commands and state names it reads. The one list of it.

The engine finds these by name, so a spec edit that renames one (CANCELED -> CANCELLED,
stage_1 -> learn, a dropped `fault` transition) would load and lint clean and then silently
switch a safety feature off. Lint rule ENGINE_CONTRACT (engine/spec/lint/contract.py) checks
a spec tree against this list, so `engine validate` refuses such an edit with the spec's
file:line:col, and `engine run` refuses it up front with the same diagnostics. The engine's
code reads its names from here where it can; tests/test_engine_contract.py scans engine/ and
adapters/ for the literal names it sends and reads, so this list cannot fall behind the code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, NamedTuple

if TYPE_CHECKING:
    from engine.spec.ir import Machine, SpecSet

STAGE_PREFIX = "stage_"  # rollout state `stage_N` is stage N (`engine run --stage N`, `scope: stage` key N)
# The stages every rollout spec defines (the five); `engine run --stage N` takes any stage_N
# state the spec defines, a stage added in YAML too.
STAGES = range(1, 6)
ACTIVATE = "activate"  # the event that starts the rollout in the stage the operator chose
AWAITING_TAG = "awaiting_operator"  # a rollout state that waits for `engine promote` or `decline`
OPENS_RISK_TAG = "opens_risk"  # a kill state where new entries are allowed: the kill switch is not engaged
# A bracket state holding a position the engine may close for its age: max-hold exits reach only
# brackets in such a state (engine/spec/lint/position_open.py: every state a position is held in,
# from one an ENTRY_FILL enters through those an EXIT moves out of, must carry it).
POSITION_OPEN_TAG = "position_open"
ENTRY_FILL, EXIT = "entry_fill", "exit"
ORDER_DONE_TAG = "terminal"  # a non-final order state where nothing works any more (Execution.is_live)
# A model gate's operator commands (`engine promote --domain D [--decline]`, `engine degrade --domain D`):
# named apart from the rollout's promote/decline, as a command reaches every machine naming it.
GATE_CONFIRM, GATE_DECLINE, GATE_DEGRADE = "confirm_canary", "decline_canary", "degrade"
# `engine move-stop`: the control channel's command, and the event the engine sends each bracket
# the operator named, with the stop given; the bracket spec decides (tighter: amended, wider: refused).
MOVE_STOP = "move_stop"
# The venue refused an amend of a bracket's stop-loss leg: the bracket hears the stop the venue
# still works (an amend's ctx.stop was assigned before the venue answered).
STOP_AMEND_REJECTED = "stop_amend_rejected"
# The venue refused to resize a bracket's leg (an amend of its qty): the leg no longer covers the
# position, which the bracket spec must answer (the shipped one closes it at market).
LEG_RESIZE_REJECTED = "leg_resize_rejected"
STOP_CONFORMED = "stop_conformed"  # the venue works the stop-loss leg on its price grid, not as asked
# The venue refused a bracket's market close and no other close of it works: the position stays
# open, which the bracket spec must answer (the shipped one re-sends it at the next kill flatten).
CLOSE_REFUSED = "close_refused"
# A fill the venue reports for an order whose bracket closed (it raced the order's cancel, expiry
# or refusal): a new bracket takes the units, which the bracket spec must answer (the shipped one
# closes them at market).
ADOPT = "adopt"


def stage_state(stage: int) -> str:
    """The rollout state of stage `stage`."""
    return f"{STAGE_PREFIX}{stage}"


def stages_of(rollout: Machine) -> list[int]:
    """The stages a rollout spec defines (its `stage_N` states), in order."""
    return sorted(s for n in rollout.states if (s := stage_of(n)) is not None)


def stage_of(state: str | None) -> int | None:
    """The stage N of rollout state `stage_N`; None for any other state (`stage_5_options_live`)."""
    return numbered(state, STAGE_PREFIX)


def numbered(name: str | None, prefix: str) -> int | None:
    """N of `<prefix>N`, N written as stage_state writes it (1 or more, ASCII digits, no leading
    zero: `stage_06` and `stage_0` are names of their own, as `engine run --stage 6` enters
    `stage_6`); None otherwise."""
    rest = name.removeprefix(prefix) if name is not None and name.startswith(prefix) else ""
    return int(rest) if rest.isascii() and rest.isdigit() and rest[0] != "0" else None


@dataclass(frozen=True)
class Sent:
    """An event the engine sends: the payload fields it sends, and when it sends it.

    `answers`: the catalogue actions it is the venue's answer to (a cancel's confirmation, a
    close's flat position). The engine sends it in the state such an action left the instance
    in, so that state must take it or list it under `ignores` (lint ENGINE_EVENT_UNHANDLED);
    elsewhere only the run finds out (an event an order or bracket drops there is a fault).
    `refusal`: sent only when the venue refuses the action; an action all of whose answers are
    refusals (`place_legs`) may never be answered, so no state can count on it to leave
    (lint IGNORED_ANSWER).
    `anytime`: it may come whenever the instance is live, whatever its state: a report the venue
    sends on its own (a fill, a stop that triggers, the venue's own cancel or expiry: a live
    venue's report can cross the engine's amend or cancel), or a request the engine makes of an
    order without knowing its state (a bracket amends or cancels a leg while the leg's last
    request is still unanswered). So every state carrying one of the machine's `live_tags` must
    take it or list it under `ignores` (lint ENGINE_EVENT_UNHANDLED).
    `late`: the venue may send it after the instance is done too (a final report repeated on
    another channel, a fill or an answer that trailed the cancel), so every non-final state
    carrying one of the machine's `late_tags` must take or ignore it as well."""

    fields: tuple[str, ...]
    why: str
    answers: tuple[str, ...] = ()
    refusal: bool = False
    anytime: bool = False
    late: bool = False
    via: str = ""  # sent only as this catalogue action's effect: never while no machine names it


class Order(NamedTuple):
    """params[low] <= params[high] in every stage and environment; params[low] < params[high]
    when `strict`: where equal values make the two rules fire on the same event and the one
    that must come first loses."""

    low: str
    high: str
    why: str
    strict: bool = False


@dataclass(frozen=True)
class Needs:
    """What the engine needs of one machine (every mapping: name -> what the engine does with it)."""

    kind: str
    role: str
    events: Mapping[str, Sent] = field(default_factory=dict)
    # Sent only to a machine that declares it: a spec may leave out what it does not need.
    optional_events: Mapping[str, Sent] = field(default_factory=dict)
    inputs: Mapping[str, Sent] = field(default_factory=dict)  # input -> fields the engine provides
    tags: Mapping[str, str] = field(default_factory=dict)  # some state must carry each
    context: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    commands: Mapping[str, str] = field(default_factory=dict)
    states: tuple[str, ...] = ()  # entered by name; each by `entered_by` from the initial state
    entered_by: str | None = None
    # Further states named `<prefix>N` the spec adds: entered by name too (`engine run --stage 6`).
    numbered: str | None = None
    handled_where: Mapping[str, str] = field(default_factory=dict)  # event -> tag of states that must handle it
    classified_by: tuple[str, ...] = ()  # every non-final, non-initial leaf carries exactly one
    live_tags: tuple[str, ...] = ()  # states carrying one take or ignore every `anytime` event
    late_tags: tuple[str, ...] = ()  # non-final states carrying one take or ignore every `late` event
    param_order: tuple[Order, ...] = ()


_ORDER_FILL = ("qty", "price")
ENGINE_CONTRACT: Mapping[str, Needs] = {
    "rollout": Needs(
        "rollout", "the stage-gated rollout that decides which domains trade",
        events={ACTIVATE: Sent(("stage",), "at start, to enter the stage of `engine run --stage N`"),
                "gate_passed": Sent(("domain", "phase"), "when a domain's gate passes (report_gate)"),
                "gate_withdrawn": Sent(("domain", "phase"), "when a domain's gate degrades its model (report_gate "
                                                            "passed: false): a promotion it offered is withdrawn")},
        context={"stage": "the stage whose parameter overrides apply"},
        params={"exploration_min": "the exploration rate of an ML run",
                "exploration_max_chop": "the exploration rate of an ML run in chop"},
        commands={"promote": "`engine promote` posts it"},
        tags={AWAITING_TAG: "`engine status` and `engine promote` show it waits for a confirmation; "
                            "a replay holds there up to `operator_wait_s`"},
        states=tuple(stage_state(n) for n in STAGES), entered_by=ACTIVATE, numbered=STAGE_PREFIX,
        param_order=(Order("exploration_min", "exploration_max_chop",
                           "the exploration rate in chop may not be below the minimum (an ML run refuses it)"),)),
    "kill_modes": Needs(
        "kill", "the kill switch",
        events={"fault": Sent(("reason",), "when a run lock is lost or execution cannot resolve an order"),
                "trade_closed": Sent(("pnl",), "for every closed trade (the losing-streak tripwire)"),
                "risk_update": Sent((), "every bar, with the inputs `pnl`"),
                "day_rolled": Sent((), "at each new trading day"),
                "flattened": Sent((), "once a flatten left nothing open")},
        inputs={"pnl": Sent(("daily_loss", "drawdown"), "with risk_update, trade_closed and commands")},
        tags={OPENS_RISK_TAG: "new entries are allowed only in a state carrying it"},
        context={"tripped_by": "the reason journaled with each kill transition"},
        handled_where={"fault": OPENS_RISK_TAG},
        # Only where the kill spec has both (it may drop its flatten-level daily limit). Strict: at
        # equal limits both trip on the same risk_update and the flatten (priority 2) wins over
        # the close-only stop (priority 3).
        param_order=(Order("daily_loss_limit", "max_daily_loss",
                           "the day's close-only stop must come before its flatten limit, or a bad day flattens "
                           "without ever stopping entries first", strict=True),)),
    "model_promotion": Needs(
        "gates", "each domain's promotion gate",
        events={"kpi_update": Sent((), "once a day, with the inputs `kpi`")},
        optional_events={"recall": Sent((), "when the rollout asks for the passes a model stands by "
                                            "(recall_gates); without it a declined promotion is not offered again",
                                        via="recall_gates")},
        # GATE_DECLINE and GATE_DEGRADE stay optional, as the rollout's decline: a gate spec without
        # them refuses `engine promote --domain D --decline` / `engine degrade` by name.
        commands={GATE_CONFIRM: "`engine promote --domain D` posts it for the domain's gate"},
        inputs={"kpi": Sent(("trades", "sharpe", "max_dd", "win_rate", "baseline_sharpe"), "with kpi_update")}),
    "order": Needs(
        "orders", "every order",
        events={"submit": Sent(("qty", "price", "reduce_only"), "to send an order"),
                "cancel": Sent((), "to cancel an order: a bracket cancels a leg whose sibling filled, a kill its "
                               "entries, whatever request of theirs is still unanswered", anytime=True),
                "amend": Sent(_ORDER_FILL, "to move or resize a leg: a trailing stop moves each bar, an entry's "
                              "next fill resizes the legs, whether or not the venue answered the last request",
                              anytime=True),
                "fill": Sent(_ORDER_FILL, "for every fill the venue reports", answers=("submit_order",),
                             anytime=True, late=True),
                "accepted": Sent((), "when the venue acknowledges", answers=("submit_order",), late=True),
                "rejected": Sent(("reason",), "when the venue refuses an order, also one it acknowledged: a stop "
                                 "refused at its trigger, the rest of a part-filled order",
                                 answers=("submit_order",), refusal=True, anytime=True, late=True),
                "canceled": Sent((), "when the venue cancels", answers=("cancel_order",), anytime=True, late=True),
                "expired": Sent((), "when the order's time in force ran out", anytime=True, late=True),
                "triggered": Sent((), "when a stop triggers", anytime=True, late=True),
                "ack_timeout": Sent((), "when the venue's answer is unknown"),
                "updated": Sent(_ORDER_FILL, "when the venue applied an amend", answers=("amend_order",), late=True),
                "update_rejected": Sent(("reason",), "when the venue refuses an amend",
                                        answers=("amend_order",), refusal=True, late=True),
                "cancel_rejected": Sent(("reason",), "when the venue refuses a cancel",
                                        answers=("cancel_order",), refusal=True, late=True),
                "reconciled": Sent(("status", "filled_qty", "avg_px", "qty"), "with the venue's truth",
                                   answers=("request_reconciliation",))},
        context={"filled_qty": "what a leg's amend adds to",
                 "qty": "what a leg covers, fills included: a refused amend that asked another qty was a resize",
                 "price": "the stop a leg works at, when the venue's refusal of its amend does not say"},
        # live: working, or protected (unresolved: a fill may still come); done: final, or ORDER_DONE_TAG
        classified_by=("working", ORDER_DONE_TAG, "protected"), live_tags=("working", "protected"),
        late_tags=(ORDER_DONE_TAG,)),
    "bracket": Needs(
        "orders", "every position (entry, take-profit and stop-loss legs)",
        events={"open": Sent(("side", "qty", "entry_price", "limit_price", "stop", "take_profit"),
                             "to open a position"),
                ENTRY_FILL: Sent(_ORDER_FILL, "for each fill of the entry (also one after its rest was canceled: the "
                                   "fill raced the cancel, or its report trailed it)", answers=("submit_entry",),
                                   anytime=True),
                "entry_canceled": Sent((), "when the entry is canceled or expires",
                                       answers=("submit_entry", "cancel_entry")),
                "entry_rejected": Sent(("reason",), "when the venue refuses the entry",
                                       answers=("submit_entry",), refusal=True),
                "leg_filled": Sent(("leg", "qty", "price"), "for each fill of a leg", anytime=True),
                "leg_canceled": Sent(("leg",), "when a leg is canceled or expires",
                                     answers=("cancel_sibling", "cancel_legs"), anytime=True),
                "leg_spent": Sent(("leg",), "when a leg filled in full short of the open position (its resize "
                                  "still on its way)", anytime=True),
                "leg_rejected": Sent(("leg", "reason"), "when the venue refuses a leg",
                                     answers=("place_legs",), refusal=True),
                "position_closed": Sent((), "when the position is flat", answers=("close_position",)),
                CLOSE_REFUSED: Sent(("reason",), "when the venue refuses a market close and no other close "
                                    "works: the position stays open", answers=("close_position",), refusal=True),
                "overfilled": Sent(("qty",), "when exits filled past flat"),
                EXIT: Sent(("reason",), "for an exit the engine decides (max hold, weekend)"),
                ADOPT: Sent(("side", "qty", "price", "reason"), "to a new bracket for the units of a fill the venue "
                            "reports for an order of a closed bracket, which nothing protects"),
                "price_update": Sent(("price", "atr"), "every bar to each bracket whose state takes it (breakeven, "
                                     "trailing stop, the re-send of a refused close)"),
                MOVE_STOP: Sent(("stop", "price"), "when the operator moves a symbol's stop (`engine move-stop`), "
                                "with the price the stop triggers on: the bid (a long) or ask (a short) of the last quote"),
                STOP_AMEND_REJECTED: Sent(("stop", "reason"), "when the venue refuses an amend of the stop-loss leg, "
                                          "with the stop it still works", answers=("amend_stop", "resize_legs"),
                                          refusal=True),
                STOP_CONFORMED: Sent(("stop",), "when the venue accepts the stop-loss leg, or an amend of it, at "
                                     "another price than asked (its tick grid), with the price it works at",
                                     answers=("place_legs", "amend_stop")),
                LEG_RESIZE_REJECTED: Sent(("leg", "reason"), "when the venue refuses to resize a leg (an amend of "
                                          "its qty): the leg no longer covers the position",
                                          answers=("resize_legs", "amend_stop"), refusal=True)},
        context={"stop": "the stop-loss leg's price", "take_profit": "the take-profit leg's price"},
        tags={POSITION_OPEN_TAG: "max-hold exits apply only there"},
        # a leg works while the position is open: its fill, or the venue's own cancel, can come any time
        live_tags=(POSITION_OPEN_TAG,)),
}
MACHINES: tuple[str, ...] = tuple(ENGINE_CONTRACT)  # every machine `engine run` creates

# Keys of other documents that the engine sets from a machine instead (kind -> key -> source): the
# exploration rates are per stage, so they are the rollout's parameters (engine/run/signals.py).
SET_BY_ENGINE: Mapping[str, Mapping[str, str]] = {
    "exploration": {"min_rate": "the rollout parameter `exploration_min` (per stage)",
                    "chop_rate": "the rollout parameter `exploration_max_chop` (per stage)"},
}


def contract_of(specset: "SpecSet", m: "Machine") -> Needs | None:
    """What the engine sends and provides `m` when `engine run` hosts it; None when no run does
    (futures_roll, option_expiry: runs refuse those instruments' data, engine/run/config.py). A
    gate a rollout state names gets what every gate gets."""
    needs = ENGINE_CONTRACT.get(m.name)
    if needs is not None and needs.kind == m.kind:
        return needs
    gates = {s.gate for r in specset.machines.values() if r.kind == "rollout" for s in r.states.values()}
    if m.kind != "gates" or m.name not in gates:
        return None
    return next(n for n in ENGINE_CONTRACT.values() if n.kind == "gates")
