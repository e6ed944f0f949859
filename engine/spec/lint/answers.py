"""The engine's answers: a machine the engine runs takes each venue answer where the engine
sends it, and each event that may come at any time (a report the venue sends on its own, a
leg's amend or cancel) in every live state
(ENGINE_EVENT_UNHANDLED), and never `ignores` one it waits for (IGNORED_ANSWER).

Where the engine sends an event is known for the venue's answers (engine/spec/contract.py,
`Sent.answers`): a cancel's confirmation comes back to the state the cancel left the
instance in. A bracket waiting in `exiting` for its sibling leg's cancel that does not take
`leg_canceled` there would wait for ever; at run time such a drop is a fault (close-only),
and these rules find it before the run, at the state to fix.

Ignoring an answer is safe only while another answer still on its way leads out of the state:
`exiting` may ignore `position_closed` (a late entry fill's close-out) because the sibling's
cancel, which `cancel_sibling` asked for on the way in, still comes and closes it. Only what is
asked on every way into the state counts (a late fill's close-out is asked on some visits only),
or by the state itself on an event the host samples every bar (a refused close re-sent on the
bar's price update); an action whose only answers are refusals (`place_legs`: `leg_rejected`)
may never be answered, so it counts for nothing.
"""
from __future__ import annotations

from typing import Iterator, Mapping

from engine.diagnostics import Diagnostic
from engine.spec.contract import ENGINE_CONTRACT, Sent
from engine.spec.ir import Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context, transition_label
from engine.spec.lint._index import MachineIndex

CODE = "ENGINE_EVENT_UNHANDLED"
IGNORED = "IGNORED_ANSWER"
Asked = dict[str, dict[str, str]]  # leaf -> action run on the way into it (or while in it) -> what ran it


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    needs = ENGINE_CONTRACT.get(m.name)
    if needs is None or needs.kind != m.kind:
        return  # not a machine the engine sends to (ENGINE_CONTRACT reports a wrong kind)
    ix = cx.index(m)
    asked = _asked(ix)
    sent = {e: s for e, s in needs.events.items() if e in m.events and not m.events[e].sampled}
    yield from _unhandled(ix, sent, asked)
    yield from _anytime(ix, sent, asked, needs.live_tags)
    yield from _late(ix, sent, needs.late_tags)
    yield from _ignored(cx, ix, sent, asked)


def _unhandled(ix: MachineIndex, sent: Mapping[str, Sent], asked: Asked) -> Iterator[Diagnostic]:
    m = ix.m
    for event, s in sent.items():  # undeclared: ENGINE_CONTRACT reports it; a sample may pass unseen
        for leaf in ix.leaves:
            origin = next((o for a, o in asked.get(leaf, {}).items() if a in s.answers), None)
            if (origin is None or ix.is_final(leaf) or event in ix.handled(leaf)
                    or m.ignores_in(leaf, event)):
                continue
            action = next(a for a in asked[leaf] if a in s.answers)
            ignore = (f", or list it under `{leaf}`'s `ignores:` (dropping it there is safe: another answer "
                      f"still leads out)" if _safe(ix, sent, asked, leaf, event) else "")
            yield diag(m.states[leaf].pos, CODE,
                       f"`{m.name}` does not take `{event}` in `{leaf}`, where the engine sends it: {origin} "
                       f"runs `{action}`, which `{event}` answers",
                       f"add a transition on `{event}` from `{leaf}` (or an enclosing state){ignore}",
                       path=ix.path_to(leaf))


def _anytime(ix: MachineIndex, sent: Mapping[str, Sent], asked: Asked,
             live_tags: tuple[str, ...]) -> Iterator[Diagnostic]:
    """An event that may come whenever the instance is live (`Sent.anytime`), in a live state
    that neither takes nor ignores it: at run time a fault, so close-only on a benign race (a
    stop that triggers while its amend is in flight, a trailing stop's next move before the
    venue answered the last). Not where it is also an awaited answer: _unhandled reports it
    there, naming the request."""
    m = ix.m
    for leaf, tag, event, s in _untaken(ix, sent, live_tags):
        if s.anytime and not set(asked.get(leaf, ())) & set(s.answers):
            yield diag(m.states[leaf].pos, CODE,
                       f"`{m.name}` does not take `{event}` in `{leaf}`, which carries `{tag}`: `{event}` "
                       f"can come whenever `{m.name}` is live ({s.why}), so the run would drop it there "
                       f"and go close-only",
                       f"add a transition on `{event}` from `{leaf}` (or an enclosing state), or list it "
                       f"under `{leaf}`'s `ignores:` if dropping it there is safe", path=ix.path_to(leaf))


def _late(ix: MachineIndex, sent: Mapping[str, Sent], late_tags: tuple[str, ...]) -> Iterator[Diagnostic]:
    """An event the venue may send after the instance is done (`Sent.late`), in a done state that is
    not final (CANCELED: a late fill is still booked there) and neither takes nor ignores it: at
    run time a fault, so close-only on a venue repeating its cancel confirmation."""
    m = ix.m
    for leaf, tag, event, s in _untaken(ix, sent, late_tags):
        if s.late:
            yield diag(m.states[leaf].pos, CODE,
                       f"`{m.name}` does not take `{event}` in `{leaf}`, which carries `{tag}` and is not "
                       f"final: the venue can send `{event}` ({s.why}) after the instance is done too (a "
                       f"report repeated on another channel, or one that trailed the end), so the run would "
                       f"drop it there and go close-only",
                       f"list it under `{leaf}`'s `ignores:`, or add a transition on `{event}` from `{leaf}`",
                       path=ix.path_to(leaf))


def _untaken(ix: MachineIndex, sent: Mapping[str, Sent],
             tags: tuple[str, ...]) -> Iterator[tuple[str, str, str, Sent]]:
    """(leaf, its first of `tags`, event, what sends it) for each non-final leaf carrying one of
    `tags` and each event the engine sends that the leaf neither takes nor ignores."""
    m = ix.m
    for leaf in ix.leaves:
        carried = sorted(ix.tags(leaf) & set(tags))
        if not carried or ix.is_final(leaf):
            continue
        for event, s in sent.items():
            if event not in ix.handled(leaf) and not m.ignores_in(leaf, event):
                yield leaf, carried[0], event, s


def _ignored(cx: Context, ix: MachineIndex, sent: Mapping[str, Sent], asked: Asked) -> Iterator[Diagnostic]:
    """IGNORED_ANSWER: an `ignores` entry drops an answer its state cannot leave without."""
    m = ix.m
    entries = [(None, e) for e in m.ignores] + [(s.name, e) for s in m.states.values() for e in s.ignores]
    for holder, event in dict.fromkeys(entries):
        if event not in sent:
            continue
        under = ix.leaves_set if holder is None else ix.descendant_leaves(holder)
        for leaf in (n for n in ix.leaves if n in under and not ix.is_final(n)):
            waited = [(a, o) for a, o in asked.get(leaf, {}).items() if a in sent[event].answers]
            if not waited or ix.unguarded(leaf, event) is not None or _safe(ix, sent, asked, leaf, event):
                continue
            action, origin = waited[0]
            yield diag(cx.ignore_pos(m, holder, event), IGNORED,
                       f"`{holder or m.name}` ignores `{event}`, which {_who(holder, leaf)} waits for: {origin} runs "
                       f"`{action}`, which `{event}` answers, and no other answer the engine sends there "
                       f"leads out of `{leaf}`, so an instance would wait there for ever",
                       f"take `{event}` in `{leaf}` with a transition out of it, and drop it from `ignores`",
                       path=ix.path_to(leaf))
            break  # one finding per `ignores` entry


def _who(holder: str | None, leaf: str) -> str:
    return "it" if holder == leaf else f"`{leaf}`"


def _safe(ix: MachineIndex, sent: Mapping[str, Sent], asked: Asked, leaf: str, event: str) -> bool:
    """Dropping `event` in `leaf` leaves the instance a way out: another action asked on every
    way into it, one `event` does not answer, is surely answered (not by refusals alone), and one
    of its answers takes the instance out of `leaf`."""
    for action in _asked_on_entry(ix, leaf):
        if action in sent[event].answers:
            continue
        outs = [f for f, s in sent.items() if action in s.answers]
        if all(sent[f].refusal for f in outs):
            continue  # success is silent: it may never be answered
        if any(_leaves(ix, leaf, f) for f in outs):
            return True
    return False


def _asked_on_entry(ix: MachineIndex, leaf: str) -> list[str]:
    """The actions surely run in `leaf`: those of every transition that enters it (its start too,
    for an initial leaf), its states' entry actions, and those it runs itself on a sampled event
    (sent every bar); in document order."""
    m = ix.m
    entry = [a.name for s in reversed(ix.ancestors(leaf)) for a in m.states[s].entry]
    ways = [[a.name for a in t.actions] for t in m.transitions if t.target is not None and leaf in ix.enter(t.target)]
    if leaf in (ix.initial_leaves or ()):
        ways.append([])
    common = set.intersection(*(set(w) for w in ways)) if ways else set()
    sampled = [a.name for t in m.transitions if t.target is None and t.event in m.events
               and m.events[t.event].sampled and leaf in ix.stays_in(t.sources) for a in t.actions]
    return list(dict.fromkeys(entry + [a for a in (ways[0] if ways else []) if a in common] + sampled))


def _leaves(ix: MachineIndex, leaf: str, event: str) -> bool:
    """Some transition on `event` in `leaf` targets another state."""
    return any(t.event == event and t.target is not None and leaf not in ix.enter(t.target)
               for h in ix.chain(leaf) for t in ix.holders.get(h, ()))


def _asked(ix: MachineIndex) -> Asked:
    """Leaf -> each action the instance waits on there once it ran -> what ran it (first, in
    document order): transitions into the leaf, targetless ones in it, and entry actions."""
    out: Asked = {}
    for t in ix.m.transitions:
        leaves = ix.enter(t.target) if t.target is not None else ix.stays_in(t.sources)
        for a in t.actions:
            for leaf in sorted(leaves):
                out.setdefault(leaf, {}).setdefault(a.name, transition_label(t))
    for s in ix.m.states.values():
        for a in s.entry:
            for leaf in sorted(ix.descendant_leaves(s.name)):
                out.setdefault(leaf, {}).setdefault(a.name, f"the entry of `{s.name}`")
    _carry_past_timeouts(ix, out)
    return out


def _carry_past_timeouts(ix: MachineIndex, asked: Asked) -> None:
    """A timer's transition (`after:`, an ack timeout) leaves a state without any answer: what was
    asked there may still be answered after it, in the state it leads to (a late acknowledgement
    reaching UNRESOLVED), so that state waits for those answers too."""
    timed = {(leaf, t.event) for leaf in ix.leaves for a in ix.ancestors(leaf) for t in ix.m.states[a].timers}
    edges = [(src, leaf, t.event) for t in ix.m.transitions if t.target is not None
             for src in sorted(ix.stays_in(t.sources)) if (src, t.event) in timed
             for leaf in sorted(ix.enter(t.target))]
    changed = True
    while changed:  # a chain of timeouts carries the first request to the end
        changed = False
        for src, leaf, event in edges:
            mine = asked.setdefault(leaf, {})
            for action, origin in list(asked.get(src, {}).items()):
                if action not in mine:
                    mine[action] = f"{origin} (unanswered when `{event}` fired)"
                    changed = True
