"""ENGINE_CONTRACT: a spec tree gives `engine run` everything engine/spec/contract.py lists.

Applied to a spec tree `engine run` could run (a catalogue and a rollout), and by `engine
run` to whatever it is given. Each problem is reported at the spec node to fix: the machine,
its `events:`/`states:`/... key when a name is missing there, or the declaration at fault.
"""
from __future__ import annotations

import re
from typing import Any, Iterator

from engine.diagnostics import Diagnostic, Pos, closest, did_you_mean
from engine.spec.contract import ENGINE_CONTRACT, Needs, numbered
from engine.spec.ir import Machine, SpecSet
from engine.spec.lint._base import Sources, diag
from engine.spec.lint._context import Context
from engine.spec.lint._index import MachineIndex
from engine.spec.params import effective_params

CODE = "ENGINE_CONTRACT"


def runnable(specset: SpecSet) -> bool:
    """A whole spec tree with a rollout: what `engine run` runs, so what the contract applies to."""
    has_catalogue = bool(specset.catalogue.path) or specset.may_define(("catalogue",))
    return has_catalogue and any(m.kind == "rollout" for m in specset.machines.values())


def check(cx: Context, anchor: Pos) -> Iterator[Diagnostic]:
    """Every contract violation; `anchor`: where to report machines the tree lacks altogether."""
    absent = []
    for name, needs in ENGINE_CONTRACT.items():
        m = cx.specset.machines.get(name)
        if m is None:
            if not cx.specset.may_define((needs.kind,), name):  # else its file's loader error says why
                absent.append(name)
        elif m.kind != needs.kind:
            yield diag(m.pos, CODE, f"`engine run` runs machine `{name}` as {needs.role}, so it must be of "
                                    f"kind `{needs.kind}`, not `{m.kind}`", f"move it back to specs/{needs.kind}/")
        else:
            yield from _machine(cx, m, needs)
    yield from _absent(cx.specset, absent, anchor)


def _absent(specset: SpecSet, names: list[str], anchor: Pos) -> Iterator[Diagnostic]:
    """A renamed machine at its name; the rest in one diagnostic at `anchor`."""
    alone = []
    for name in names:
        kind = ENGINE_CONTRACT[name].kind
        others = {m.name: m for m in specset.machines.values() if m.kind == kind and m.name not in ENGINE_CONTRACT}
        near = closest(name, others)
        if near is None:
            alone.append(name)
            continue
        yield diag(others[near].pos, CODE, f"`engine run` needs a machine named `{name}` ({ENGINE_CONTRACT[name].role})"
                                           f", and the spec set has none", f"did you mean to name this one `{name}`?")
    if alone:
        where = ", ".join(f"specs/{ENGINE_CONTRACT[n].kind}/{n}.yaml" for n in alone)
        yield diag(anchor, CODE, f"`engine run` needs the machines {_list(alone)}, and the spec set lacks them",
                   f"restore {where}")


def _machine(cx: Context, m: Machine, needs: Needs) -> Iterator[Diagnostic]:
    ix = cx.index(m)
    yield from _events(cx.sources, m, ix, needs)
    yield from _inputs(cx.sources, m, needs)
    yield from _names(cx.sources, m, "context", m.context, needs.context, "context variable")
    yield from _names(cx.sources, m, "parameters", m.params, needs.params, "parameter")
    yield from _names(cx.sources, m, "commands", m.commands, needs.commands, "command")
    yield from _tags(cx.sources, m, ix, needs)
    yield from _states(cx.sources, m, ix, needs)
    yield from _classified(m, ix, needs)
    yield from _param_order(cx.specset, m, needs)


def _events(src: Sources, m: Machine, ix: MachineIndex, needs: Needs) -> Iterator[Diagnostic]:
    handled = {t.event for t in m.transitions}
    for name, sent in {**needs.events, **needs.optional_events}.items():
        ev = m.events.get(name)
        if ev is None and name in needs.optional_events:
            continue
        if ev is None:
            yield diag(_key(src, m, "events"), CODE,
                       f"the engine sends `{name}` to `{m.name}` {sent.why}, and `{m.name}` declares no such event",
                       did_you_mean(name, m.events) or f"declare `{name}` under `events:` and handle it")
            continue
        extra = sorted(set(ev.payload) - set(sent.fields))
        if extra:
            yield diag(ev.pos, CODE, f"event `{name}` declares payload {_list(extra)}, which the engine does not "
                                     f"send (it sends {_list(sent.fields) if sent.fields else 'no payload'})",
                       did_you_mean(extra[0], sent.fields) or "declare only the payload the engine sends")
        if name not in handled:
            yield diag(ev.pos, CODE, f"the engine sends `{name}` {sent.why}, and no transition of `{m.name}` "
                                     "handles it: it would be dropped", f"add a transition on `{name}`")
    for name, tag in needs.handled_where.items():
        if name not in m.events:
            continue
        missing = [leaf for leaf in ix.leaves if tag in ix.tags(leaf) and name not in ix.handled(leaf)]
        for leaf in missing:
            yield diag(m.states[leaf].pos, CODE, f"state `{leaf}` carries `{tag}` and does not handle `{name}`, "
                                                 f"which the engine sends {needs.events[name].why}",
                       f"add a transition on `{name}` from `{leaf}` that leaves `{tag}` (fail closed)")


def _inputs(src: Sources, m: Machine, needs: Needs) -> Iterator[Diagnostic]:
    for name, sent in needs.inputs.items():
        i = m.inputs.get(name)
        if i is None:
            yield diag(_key(src, m, "inputs"), CODE,
                       f"the engine gives `{m.name}` the inputs `{name}` {sent.why}, and it declares no such input",
                       did_you_mean(name, m.inputs) or f"declare `{name}` under `inputs:`")
            continue
        extra = sorted(set(i.fields) - set(sent.fields))
        if extra:
            yield diag(i.pos, CODE, f"input `{name}` declares {_list(extra)}, which the engine does not provide "
                                    f"(it provides {_list(sent.fields)})",
                       did_you_mean(extra[0], sent.fields) or "declare only the fields the engine provides")


def _names(src: Sources, m: Machine, key: str, declared: Any, needed: dict, what: str) -> Iterator[Diagnostic]:
    for name, why in needed.items():
        if name not in declared:
            yield diag(_key(src, m, key), CODE,
                       f"the engine reads {what} `{name}` of `{m.name}` ({why}), and it declares none",
                       did_you_mean(name, declared) or f"declare `{name}` under `{key}:`")


def _tags(src: Sources, m: Machine, ix: MachineIndex, needs: Needs) -> Iterator[Diagnostic]:
    present = {t for s in m.states.values() for t in s.tags}
    for tag, why in needs.tags.items():
        if tag in present:
            continue
        near = closest(tag, present)
        # A misspelling is reported where it is written (the first state carrying it), told what to write.
        at = next((src.find(s.pos, "tags", near) for s in m.states.values() if near in s.tags), None) if near else None
        yield diag(at or _key(src, m, "states"), CODE,
                   f"no state of `{m.name}` carries the tag `{tag}`, which the engine reads: {why}",
                   f"`{near}` is written here: rename it `{tag}`" if near
                   else f"add `tags: [{tag}]` to the states it applies to")


def _states(src: Sources, m: Machine, ix: MachineIndex, needs: Needs) -> Iterator[Diagnostic]:
    missing = [n for n in needs.states if n not in m.states]
    if missing:
        yield diag(_key(src, m, "states"), CODE, f"`{m.name}` has no state {_list(missing)}: the engine enters "
                                                 f"{_list(needs.states)} by name", _renamed_hint(m, needs, missing))
    for name in _entered_by_name(m, needs):
        if name in m.states and needs.entered_by and not _entered(ix, needs.entered_by, name):
            yield diag(m.states[name].pos, CODE,
                       f"no `{needs.entered_by}` transition from the initial state enters `{name}`, and the "
                       f"engine starts `{m.name}` there with `{needs.entered_by}`",
                       f"add `{{event: {needs.entered_by}, source: <initial>, target: {name}}}`")


def _entered_by_name(m: Machine, needs: Needs) -> list[str]:
    """The states the engine needs, and those the spec adds under their numbered name."""
    prefix = needs.numbered
    added = [n for n in m.states if prefix and numbered(n, prefix) is not None]
    return list(dict.fromkeys([*needs.states, *added]))


def _renamed_hint(m: Machine, needs: Needs, missing: list[str]) -> str:
    """Name the states that look renamed: those `entered_by` enters that are not among `states`."""
    entered = [t.target for t in m.transitions if t.event == needs.entered_by and t.target is not None]
    renamed = [n for n in dict.fromkeys(entered) if n not in needs.states]
    if renamed:
        return f"`{needs.entered_by}` enters {_list(renamed)}: rename to {_list(missing)}"
    return f"add {_list(missing)} (the names `engine run --stage N` and `scope: stage` overrides use)"


def _entered(ix: MachineIndex, event: str, target: str) -> bool:
    starts = ix.initial_leaves or frozenset()
    return any(t.event == event and t.target == target
               for leaf in starts for h in ix.chain(leaf) for t in ix.holders.get(h, ()))


def _classified(m: Machine, ix: MachineIndex, needs: Needs) -> Iterator[Diagnostic]:
    if not needs.classified_by:
        return
    initial = ix.initial_leaves or frozenset()
    for leaf in ix.leaves:
        if ix.is_final(leaf) or leaf in initial:
            continue
        got = sorted(ix.tags(leaf) & set(needs.classified_by))
        if len(got) != 1:
            yield diag(m.states[leaf].pos, CODE,
                       f"state `{leaf}` of `{m.name}` must carry exactly one of {_list(needs.classified_by)} "
                       f"(it has {_list(got) if got else 'none'}): the engine tells live orders from done ones "
                       f"by them", f"tag it `{needs.classified_by[1]}` if nothing works there any more, else "
                                   f"`{needs.classified_by[0]}`")


def _param_order(specset: SpecSet, m: Machine, needs: Needs) -> Iterator[Diagnostic]:
    reported: set[Pos] = set()  # one diagnostic per value to fix, not one per setting it shows in
    for low, high, why, strict in needs.param_order:
        if low not in m.params or high not in m.params:
            continue  # the missing parameter is reported above
        for stage, env, a, b in _inverted(specset, m, low, high, strict):
            pos = (_value_pos(specset, m, low, stage, env) or _value_pos(specset, m, high, stage, env)
                   or m.params[low].pos)
            if pos in reported:
                continue
            reported.add(pos)
            where = " and ".join(x for x in (f"env `{env}`" if env else "", f"stage {stage}" if stage else "") if x)
            yield diag(pos, CODE, f"`{low}` ({a}) is {'above' if a > b else 'equal to'} `{high}` ({b})"
                       + (f" in {where}" if where else "") + f": {why}",
                       f"set `{low}` {'below' if strict else 'at most'} `{high}`")


def _inverted(specset: SpecSet, m: Machine, low: str, high: str,
              strict: bool) -> Iterator[tuple[Any, Any, Any, Any]]:
    """(stage, env, low's value, high's value) of each setting where low's value is above high's
    (or equal to it, when `strict`)."""
    for stage, env in _settings(specset):
        try:
            values = effective_params(specset, m.name, stage=stage, env=env)
        except (TypeError, ValueError):
            continue  # a value that is no duration: PARAM_BOUNDS reports it
        a, b = values[low], values[high]
        if _number(a) and _number(b) and (a >= b if strict else a > b):
            yield stage, env, a, b


def _settings(specset: SpecSet) -> list[tuple[str | None, str | None]]:
    """(stage, env) of every combination overrides can make, the defaults first."""
    stages = [None] + sorted({o.key for o in specset.overrides if o.scope == "stage"})
    envs = [None] + sorted({o.key for o in specset.overrides if o.scope == "env"})
    return [(s, e) for e in envs for s in stages]


def _value_pos(specset: SpecSet, m: Machine, param: str, stage: str | None, env: str | None) -> Pos | None:
    """Where the override that sets `param` in this setting is written (stage beats env), if any."""
    for scope, key in (("stage", stage), ("env", env)):
        for o in reversed(specset.overrides):
            if key is not None and o.scope == scope and o.key == key and param in o.values.get(m.name, {}):
                return o.positions.get(f"{m.name}.{param}", o.pos)
    return None


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _key(src: Sources, m: Machine, key: str) -> Pos:
    """The top-level `key:` of the machine's file (else the machine's name), where a missing name goes."""
    pattern = re.compile(rf"^{re.escape(key)}\s*:")
    for n, line in enumerate(src.lines(m.pos.file), 1):
        if pattern.match(line):
            return Pos(m.pos.file, n, 1)
    return m.pos


def _list(names: Any) -> str:
    return ", ".join(f"`{n}`" for n in names)
