"""Events and timers: broadcasts handled everywhere, raised events handled where they are
raised, timer delays in bounds, and declarations nothing uses."""
from __future__ import annotations

import re
from typing import Iterator

from engine.diagnostics import Diagnostic, Pos, did_you_mean
from engine.spec.ir import Machine, Param, Timer
from engine.spec.lint._base import MAX_TIMER_S, diag, seconds
from engine.spec.lint._context import Context, raised_event, transition_label
from engine.spec.params import value_problem

_PARAM_REF = re.compile(r"^\s*params\.(\w+)\s*$")


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    # States sharing one `after` (a YAML alias) share its position: one finding names them all.
    shared: dict[Pos, tuple[Timer, list[str]]] = {}
    for s in m.states.values():
        for timer in s.timers:
            shared.setdefault(timer.pos, (timer, []))[1].append(s.name)
    for timer, states in shared.values():
        yield from _timer(cx, m, _names(states), timer)
    yield from _unused_params(cx, m)
    yield from _unused_events(m)
    yield from _unhandled_raises(cx, m)


def check_specset(cx: Context) -> Iterator[Diagnostic]:
    yield from _broadcasts(cx)


def _broadcasts(cx: Context) -> Iterator[Diagnostic]:
    specs = cx.specset.machines.values()
    sources = {e: k.name for k in specs for e in k.broadcasts}
    for m in specs:
        ix = cx.index(m)
        for event, origin in sources.items():
            if origin == m.name:
                continue
            missing = [leaf for leaf in ix.leaves if not ix.is_final(leaf) and event not in ix.handled(leaf)
                       and not m.ignores_in(leaf, event)]
            if missing:
                shown = ", ".join(f"`{s}`" for s in missing[:5]) + (" ..." if len(missing) > 5 else "")
                yield diag(m.pos, "UNHANDLED_BROADCAST",
                           f"`{m.name}` does not handle `{event}`, which `{origin}` broadcasts, in {shown}",
                           f"add a transition on `{event}` from \"*\" (declare the event), "
                           f"or list it under `ignores:` (the machine's, or those states')",
                           path=ix.path_to(missing[0]))


def _unhandled_raises(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    """A `raise` is processed in the state its transition (or its state's entry) leaves the
    instance in, and a timer's event in any leaf of its state: where nothing takes it and nothing
    `ignores` it, it is dropped, and the rule it carries (a gate's degrade to paper, an order's
    answer that never came) silently does not apply. A broadcast the machine raises is for the
    others (the engine relays it): what it does with it itself is its own choice. In a final
    state the instance is done and takes nothing, raised or not; an undeclared event is
    UNRESOLVED_EVENT's."""
    ix = cx.index(m)
    raisers = [(t.pos, f"{transition_label(t)} raises", [raised_event(a) for a in t.actions],
                ix.enter(t.target) if t.target is not None else ix.stays_in(t.sources)) for t in m.transitions]
    raisers += [(s.pos, f"the entry of `{s.name}` raises", [raised_event(a) for a in s.entry],
                 ix.descendant_leaves(s.name)) for s in m.states.values()]
    raisers += [(timer.pos, f"the timer of `{s.name}` fires", [timer.event], ix.descendant_leaves(s.name))
                for s in m.states.values() for timer in s.timers]
    for pos, who, raised, leaves in raisers:
        for event in dict.fromkeys(e for e in raised if e in m.events and e not in m.broadcasts):
            dropped = [leaf for leaf in sorted(leaves) if not ix.is_final(leaf) and event not in ix.handled(leaf)
                       and not m.ignores_in(leaf, event)]
            if dropped:
                shown = ", ".join(f"`{s}`" for s in dropped)
                yield diag(pos, "UNHANDLED_RAISE",
                           f"{who} `{event}` with `{m.name}` in {shown}, where nothing takes it: "
                           "it would be dropped", f"add {shown} to the sources of a transition on `{event}`, "
                           "or list it under the state's `ignores:` if dropping it is meant",
                           path=ix.path_to(dropped[0]))


def _names(states: list[str]) -> str:
    """`a`, or `a`, `b` and `c`: the states a timer delay belongs to."""
    shown = [f"`{s}`" for s in states]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def _timer(cx: Context, m: Machine, states: str, timer: Timer) -> Iterator[Diagnostic]:
    pos = cx.sources.find(timer.pos, "delay", timer.delay.strip())
    delays = _delays(cx, m, timer)
    if delays is None:
        ref = _PARAM_REF.match(timer.delay)
        if ref and ref.group(1) not in m.params:
            yield diag(pos, "UNRESOLVED_PARAM",
                       f"timer delay of {states} names parameter `{ref.group(1)}`, which is not declared",
                       did_you_mean(ref.group(1), m.params, prefix="params.") or "declare it under `parameters`")
        elif ref:
            yield diag(pos, "TIMER_BOUNDS", _bad_param_delay(states, timer, m.params[ref.group(1)]),
                       f"fix parameter `{ref.group(1)}` (declared at {m.params[ref.group(1)].pos}), "
                       "or name a duration parameter")
        else:
            yield diag(pos, "TIMER_BOUNDS", f"timer delay `{timer.delay}` of {states} is not a duration",
                       did_you_mean(timer.delay.strip(), m.params, prefix="params.")
                       or "write a literal such as `15m`, or `params.NAME` naming a duration parameter")
        return
    for where, value in delays:
        if not 0 < value <= MAX_TIMER_S:
            yield diag(pos, "TIMER_BOUNDS",
                       f"timer delay of {states} is {_fmt(value)}{where}; it must be above 0 and at most 30 days",
                       "a timer that never or instantly fires is a bug; use a state without `after`")


def _bad_param_delay(states: str, timer: Timer, p: Param) -> str:
    """Why a delay naming a declared parameter is no duration: the parameter's type, or its default."""
    head = f"timer delay `{timer.delay}` of {states} is not a duration"
    if p.type != "duration":
        unit = f" (unit: {p.unit})" if p.unit else ""
        return f"{head}: `{p.name}` is a{'n' if p.type[:1] in 'aeiou' else ''} {p.type} parameter{unit}"
    return f"{head}: the default of `{p.name}`, `{p.default}`, is not one"


def _delays(cx: Context, m: Machine, timer: Timer) -> list[tuple[str, float]] | None:
    """Every value the delay may take (default, then overrides), or None when unresolvable. A
    parameter's value outside its own type or bounds is left out: PARAM_BOUNDS reports it at the
    value, and a second finding here would contradict it (`-5m` is no duration there, -300s here).
    Only a duration parameter is a delay: an int or float one (`max_consecutive_losses: 3`, in
    trades) was read as seconds, as a bare number nowhere else is."""
    ref = _PARAM_REF.match(timer.delay)
    p = m.params.get(ref.group(1)) if ref else None
    if p is None or p.type != "duration":
        literal = timer.delay_s if timer.delay_s is not None and not ref else seconds(timer.delay)
        return None if literal is None else [("", literal)]
    default = seconds(p.default)
    if default is None:
        return None
    out = [(f" (default of `params.{p.name}`)", default)] if value_problem(p, p.default) is None else []
    for o in cx.specset.overrides:
        written = o.values.get(m.name, {}).get(p.name)
        value = seconds(written)
        if value is not None and value_problem(p, written) is None:
            out.append((f" (override for {o.scope} {o.key}, {o.path or 'overrides'})", value))
    return out


def _fmt(value: float) -> str:
    return f"{value / 86400:g}d" if abs(value) >= 86400 else f"{value:g}s"


def _unused_params(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    used = {r.split(".")[1] for site in cx.sites(m) for r in site.reads
            if r.startswith("params.") and r.count(".") >= 1}
    for s in m.states.values():
        for timer in s.timers:
            ref = _PARAM_REF.match(timer.delay)
            if ref:
                used.add(ref.group(1))
    for name, p in m.params.items():
        if name not in used:
            yield diag(p.pos, "UNUSED_PARAM", f"parameter `{name}` is never read",
                       "read it in a guard (`params.NAME`) or a timer delay, or delete it")


def _unused_events(m: Machine) -> Iterator[Diagnostic]:
    used = {t.event for t in m.transitions}
    used |= {timer.event for s in m.states.values() for timer in s.timers}
    used |= {c.event for c in m.commands.values()}
    used |= set(m.broadcasts)
    used |= {e for a in m.action_refs if (e := raised_event(a))}
    for name, e in m.events.items():
        if name not in used:
            yield diag(e.pos, "UNUSED_EVENT", f"event `{name}` is declared but never used",
                       "handle it in a transition, raise it, or delete it")

