"""ENGINE_EVENT_UNHANDLED: a machine the engine runs takes, or deliberately `ignores`, each
engine event in the states where the engine sends it.

Where the engine sends an event is known for the venue's answers (engine/spec/contract.py,
`Sent.answers`): a cancel's confirmation comes back to the state the cancel left the
instance in. A bracket waiting in `exiting` for its sibling leg's cancel that does not take
`leg_canceled` there would wait for ever; at run time such a drop is a fault (close-only),
and this rule finds it before the run, at the state to fix.
"""
from __future__ import annotations

from typing import Iterator

from engine.diagnostics import Diagnostic
from engine.spec.contract import ENGINE_CONTRACT
from engine.spec.ir import Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context, transition_label
from engine.spec.lint._index import STAR, MachineIndex

CODE = "ENGINE_EVENT_UNHANDLED"


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    needs = ENGINE_CONTRACT.get(m.name)
    if needs is None or needs.kind != m.kind:
        return  # not a machine the engine sends to (ENGINE_CONTRACT reports a wrong kind)
    ix = cx.index(m)
    asked = _asked(ix)
    for event, sent in needs.events.items():
        if event not in m.events or m.events[event].sampled:
            continue  # ENGINE_CONTRACT reports an undeclared event; a sample may pass unseen
        reported: set[str] = set()
        for action in sent.answers:
            for leaf, origin in asked.get(action, ()):
                if leaf in reported or ix.is_final(leaf) or event in ix.handled(leaf) or m.ignores_in(leaf, event):
                    continue
                reported.add(leaf)
                yield diag(m.states[leaf].pos, CODE,
                           f"`{m.name}` does not take `{event}` in `{leaf}`, where the engine sends it: {origin} "
                           f"runs `{action}`, which `{event}` answers",
                           f"add a transition on `{event}` from `{leaf}` (or an enclosing state), or list it "
                           f"under `{leaf}`'s `ignores:` if dropping it there is deliberate", path=ix.path_to(leaf))


def _asked(ix: MachineIndex) -> dict[str, list[tuple[str, str]]]:
    """Action -> (leaf the instance waits in once the action ran, what ran it), in document order."""
    out: dict[str, list[tuple[str, str]]] = {}
    for t in ix.m.transitions:
        leaves = ix.enter(t.target) if t.target is not None else _sources(ix, t.sources)
        for a in t.actions:
            out.setdefault(a.name, []).extend((leaf, transition_label(t)) for leaf in sorted(leaves))
    for s in ix.m.states.values():
        for a in s.entry:
            out.setdefault(a.name, []).extend((leaf, f"the entry of `{s.name}`")
                                              for leaf in sorted(ix.descendant_leaves(s.name)))
    return out


def _sources(ix: MachineIndex, sources: tuple[str, ...]) -> frozenset[str]:
    """The leaves a targetless transition stays in: its sources' (every non-final one for `*`)."""
    if STAR in sources:
        return frozenset(leaf for leaf in ix.leaves if not ix.is_final(leaf))
    return frozenset().union(*(ix.descendant_leaves(s) for s in sources if s in ix.m.states))
