"""NEVER_SENT: a transition of a machine the engine runs waits for an event that nothing sends.

What sends each event is declared, not listed here: the engine's sends (engine/spec/contract.py),
the machine's operator `commands`, its `raise` actions, its timers (`after`), and the kill
spec's `broadcasts` that the kill machine really gets (one of the above sends it there), which
the engine relays to every other machine. A tripwire on any other event (a `margin_call` no
code produces) loads and lints clean and can never fire.
"""
from __future__ import annotations

from typing import AbstractSet, Iterator

from engine.diagnostics import Diagnostic
from engine.spec.contract import contract_of
from engine.spec.ir import Machine, SpecSet, Transition
from engine.spec.models import MACHINE_KINDS
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context, raised_event

CODE = "NEVER_SENT"


def check_specset(cx: Context) -> Iterator[Diagnostic]:
    if not (cx.specset.catalogue.path or cx.catalogue_unloaded):
        return  # a few machines, no spec tree (a test's, a library's): nothing runs them as the engine's
    if cx.specset.may_define(("kill",)):
        return  # the kill spec failed to load: which broadcasts it relays, to every machine, is unknown
    # A machine file that failed to load may name any action (the rollout's recall_gates, which
    # sends gates `recall`): every event the engine sends through an action counts as sent.
    named = None if cx.specset.may_define(MACHINE_KINDS) else frozenset(
        a.name for k in cx.specset.machines.values() for a in k.action_refs)
    relayed = _relayed(cx.specset, named)
    for m in cx.specset.machines.values():
        engine = _engine_sends(cx.specset, m, named)
        if engine is None:
            continue  # a machine `engine run` does not host (futures_roll): who sends to it is unknown
        sent = engine | relayed | _own_sends(m)
        waiting: dict[str, list[Transition]] = {}
        for t in m.transitions:
            if t.event not in sent and t.event in m.events:  # an undeclared one is UNRESOLVED_EVENT
                waiting.setdefault(t.event, []).append(t)
        for event, ts in waiting.items():
            t = ts[0]
            more = f" (nor the {len(ts) - 1} other transition(s) on it)" if len(ts) > 1 else ""
            yield diag(cx.sources.find(t.pos, "event", event), CODE,
                       f"nothing sends `{event}` to `{m.name}`, so the transition at line {t.pos.line} never "
                       f"fires{more}: the engine does not (engine/spec/contract.py), and no command, `raise`, "
                       f"timer or broadcast does", "map a command to it (`commands:`), raise it from a transition "
                       "or a timer, or delete the transitions that wait for it")


def _relayed(specset: SpecSet, named: AbstractSet[str] | None) -> frozenset[str]:
    """The broadcasts the engine relays: those the kill spec lists and really gets (raises, maps
    a command or timer to, or is sent by the engine); one it only lists reaches no machine."""
    out: set[str] = set()
    for k in specset.machines.values():
        if k.broadcasts:
            out |= set(k.broadcasts) & (_own_sends(k) | (_engine_sends(specset, k, named) or frozenset()))
    return frozenset(out)


def _engine_sends(specset: SpecSet, m: Machine, named: AbstractSet[str] | None) -> AbstractSet[str] | None:
    """What the engine sends `m` (ENGINE_CONTRACT; a gate a rollout state names gets what every
    gate gets), or None when a run does not host it. An event the engine sends only as an
    action's effect counts while some machine names that action (`named`: every action named;
    None: unknown, so it counts)."""
    needs = contract_of(specset, m)
    if needs is None:
        return None
    return frozenset(e for e, sent in {**needs.events, **needs.optional_events}.items()
                     if not sent.via or named is None or sent.via in named)


def _own_sends(m: Machine) -> frozenset[str]:
    """The events `m` sends itself, or an operator does: commands, `raise` actions, timers."""
    return frozenset({c.event for c in m.commands.values()}
                     | {timer.event for s in m.states.values() for timer in s.timers}
                     | {e for a in m.action_refs if (e := raised_event(a))})
