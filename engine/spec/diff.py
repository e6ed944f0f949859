"""What changed between two versions of a spec, for review before it goes live.

Machines are compared on their IR (engine/spec/ir.py), field by field and generically:
every field of `Machine` and of the nodes inside it is compared unless it is listed in
`NOT_COMPARED` (where the file lives, positions, the byte hash), so a field added to
the IR later shows up in the diff without touching this module. `AREAS` only gives
the known fields readable labels.

Transitions are matched by (event, sources, target); when several share that key
they are matched in document order. Everything else in a machine is matched by name.

Every other document (risk, overrides, catalogue, strategies, ml, ...) is compared
as the plain data its YAML holds: one change per key path, lists of mappings matched
by `id` or `name` when every item has a distinct one, by position otherwise.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from engine.spec.ir import ActionRef, Check, Expr, Machine, Timer, Transition, selection_order

# Machine fields with no behaviour: where the file is, and its byte hash (shown in the header).
NOT_COMPARED = frozenset({"path", "spec_hash", "pos"})
# Readable labels of the known Machine fields; any other field is labelled with its own name.
AREAS: dict[str, str] = {
    "kind": "machine", "name": "machine", "version": "machine", "description": "machine",
    "params": "parameter", "context": "context", "inputs": "input", "events": "event",
    "states": "state", "transitions": "transition", "checks": "check", "commands": "command",
    "broadcasts": "broadcast", "ignores": "ignore",
}
# Node fields that are not compared: source positions, and what a node is matched by.
_NODE_SKIP = frozenset({"pos", "name"})
# `index` is document order, which shifts whenever an earlier transition is added; the
# order that matters, among the transitions of one event, is compared on its own.
_TRANSITION_SKIP = frozenset({"pos", "index", "event", "sources", "target"})
_MATCH_KEYS = ("id", "name")  # what identifies an item in a list of mappings


@dataclass(frozen=True, slots=True)
class Change:
    area: str  # machine | state | transition | ... ; "" for a document's key path
    op: str  # added | removed | changed
    subject: str
    detail: str = ""

    def __str__(self) -> str:
        mark = {"added": "+", "removed": "-", "changed": "~"}[self.op]
        head = f"{self.area} {self.subject}" if self.area else self.subject
        return f"{mark} {head}" + (f": {self.detail}" if self.detail else "")


# --- values: a full comparable form, and a short readable one ----------------------

def plain(value: Any) -> Any:
    """`value` as plain data (dicts, lists, scalars): every dataclass field but positions."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "pos"}
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, frozenset):
        return sorted(plain(v) for v in value)
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value


def _types(value: Any) -> Any:
    """The scalar types inside plain data: 1, 1.0 and True are equal in Python but not in a spec."""
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value)


def same(a: Any, b: Any) -> bool:
    pa, pb = plain(a), plain(b)
    return pa == pb and _types(pa) == _types(pb)


def _short(value: Any) -> str:
    """How a reviewer reads a value: expressions and actions as written, the rest as Python data."""
    if isinstance(value, Expr):
        return repr(value.source)
    if isinstance(value, ActionRef):
        args = ", ".join(f"{k}={v.source}" for k, v in value.args.items())
        return value.name + (f"({args})" if value.args else "")
    if isinstance(value, Timer):
        return f"after {value.delay} -> {value.event}"
    if isinstance(value, Check):
        return f"{value.kind}: {value.describe()}"
    if isinstance(value, (tuple, list)) and any(isinstance(v, (ActionRef, Timer)) for v in value):
        return "[" + ", ".join(map(_short, value)) + "]"
    if isinstance(value, (tuple, list, frozenset, Mapping)) or dataclasses.is_dataclass(value):
        return repr(plain(value))
    return repr(value)


def _change(a: Any, b: Any) -> str:
    """`old -> new`; in full when the short forms hide the difference."""
    sa, sb = _short(a), _short(b)
    if sa == sb:
        sa, sb = repr(plain(a)), repr(plain(b))
    return f"{sa} -> {sb}"


def _summary(node: Any, skip: frozenset[str]) -> str:
    """The fields of a new node that differ from their defaults, descriptions left out."""
    if not dataclasses.is_dataclass(node):
        return ""
    parts = []
    for f in dataclasses.fields(node):
        if f.name in skip or f.name == "description":
            continue
        v = getattr(node, f.name)
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        if not same(v, default):
            parts.append(f"{f.name} {_short(v)}")
    return ", ".join(parts)


# --- machines ------------------------------------------------------------------------

def _node(area: str, subject: str, a: Any, b: Any, skip: frozenset[str]) -> Iterable[Change]:
    """Changes between two versions of one node (a State, Param, ... or a plain value)."""
    names = [f.name for f in dataclasses.fields(a) if f.name not in skip] if dataclasses.is_dataclass(a) else []
    if not names or type(a) is not type(b):
        if not same(a, b):
            yield Change(area, "changed", subject, _change(a, b))
        return
    for name in names:
        x, y = getattr(a, name), getattr(b, name)
        if not same(x, y):
            yield Change(area, "changed", subject, f"{name} {_change(x, y)}")


def _named(area: str, old: Mapping[str, Any], new: Mapping[str, Any],
           skip: frozenset[str] = _NODE_SKIP) -> Iterable[Change]:
    for name in old:
        if name not in new:
            yield Change(area, "removed", name)
    for name, node in new.items():
        if name in old:
            yield from _node(area, name, old[name], node, skip)
        else:
            yield Change(area, "added", name, _summary(node, skip))


def _members(area: str, old: Iterable[Any], new: Iterable[Any], path: str = "") -> Iterable[Change]:
    """Items of a sequence, matched by value; a changed order (or count) of the kept ones is one more
    change. Machine tuples are labelled `area item`; a document's list `path[item]`."""
    a, b = [(_short(x), _item(x)) for x in old], [(_short(x), _item(x)) for x in new]  # repr tells 1 from "1"
    in_a, in_b = {k for k, _ in a}, {k for k, _ in b}
    subject = (lambda x: f"{path}[{x}]") if path else (lambda x: x)
    yield from (Change(area, "removed", subject(shown)) for k, shown in dict(a).items() if k not in in_b)
    yield from (Change(area, "added", subject(shown)) for k, shown in dict(b).items() if k not in in_a)
    common_a = [shown for k, shown in a if k in in_b]
    common_b = [shown for k, shown in b if k in in_a]
    if common_a != common_b:
        yield Change(area, "changed", f"{path} order" if path else "order",
                     f"{', '.join(common_a)} -> {', '.join(common_b)}")


def _item(x: Any) -> str:
    return x if isinstance(x, str) else _short(x)


def _transition_name(k: tuple) -> str:
    return f"{k[1]} --{k[0]}--> {k[2]}" + (f" #{k[3] + 1}" if k[3] else "")


def _keyed(old: tuple[Transition, ...], new: tuple[Transition, ...]) -> tuple[dict[str, Transition],
                                                                             dict[str, Transition]]:
    """Both versions' transitions by name: `source --event--> target`, `#n` among those sharing it.
    Among those, an unchanged one keeps its name whatever moved around it (deleting the first of two
    is that one removed, not the second removed and the first edited); the rest pair in order."""
    groups: dict[tuple, tuple[list[Transition], list[Transition]]] = {}
    for side, ts in enumerate((old, new)):
        for t in ts:
            groups.setdefault((t.event, ",".join(t.sources), t.target or "(internal)"), ([], []))[side].append(t)
    a: dict[str, Transition] = {}
    b: dict[str, Transition] = {}
    for base, (olds, news) in groups.items():
        pairs = _pairs(olds, news)
        for i, t in enumerate(olds):
            a[_transition_name(base + (i,))] = t
        extra = len(olds)
        for j, t in enumerate(news):
            i = pairs.get(j)
            if i is None:
                i, extra = extra, extra + 1
            b[_transition_name(base + (i,))] = t
    return a, b


def _pairs(olds: list[Transition], news: list[Transition]) -> dict[int, int]:
    """New index -> the old index it is a version of: identical ones first, then the rest in order."""
    def sig(t: Transition) -> tuple:
        return _short(t.guard), _short(t.actions), t.priority

    olds_sig = [sig(t) for t in olds]
    free = list(range(len(olds)))
    pairs: dict[int, int] = {}
    for j, t in enumerate(news):
        same_as = next((i for i in free if olds_sig[i] == sig(t)), None)
        if same_as is not None:
            pairs[j] = same_as
            free.remove(same_as)
    for j in range(len(news)):
        if j not in pairs and free:
            pairs[j] = free.pop(0)
    return pairs


def _transitions(old: tuple[Transition, ...], new: tuple[Transition, ...]) -> Iterable[Change]:
    a, b = _keyed(old, new)
    for change in _named("transition", a, b, _TRANSITION_SKIP):
        if change.op == "removed":  # what was removed, as an added one shows what was added
            change = dataclasses.replace(change, detail=_summary(a[change.subject], _TRANSITION_SKIP))
        yield change
    # Selection order (priority, then document order) decides which of an event's transitions
    # fires: a swap is a change. `a` and `b` are grouped by name, so they are sorted back first.
    for event in dict.fromkeys(t.event for t in new):
        before = [n for n, t in sorted(a.items(), key=_by_selection) if t.event == event and n in b]
        after = [n for n, t in sorted(b.items(), key=_by_selection) if t.event == event and n in a]
        if before != after:
            yield Change("transition", "changed", f"order of `{event}`", f"{'; '.join(before)} -> {'; '.join(after)}")


def _by_selection(item: tuple[str, Transition]) -> tuple[bool, int, int]:
    return selection_order(item[1])


def diff(old: Machine, new: Machine) -> list[Change]:
    """Every behavioural difference between two machines, grouped by area in field order."""
    out: list[Change] = []
    for f in dataclasses.fields(Machine):
        if f.name in NOT_COMPARED:
            continue
        area, a, b = AREAS.get(f.name, f.name), getattr(old, f.name), getattr(new, f.name)
        if f.name == "transitions":
            out += _transitions(a, b)
        elif isinstance(a, Mapping):
            out += _named(area, a, b)
        elif isinstance(a, tuple):
            out += _members(area, a, b)
        elif not same(a, b):
            out.append(Change(area, "changed", f.name, _change(a, b)))
    return out


# --- other documents -----------------------------------------------------------------

def _match_key(old: list[Any], new: list[Any]) -> str | None:
    """The key that names every mapping in both lists, distinctly, if there is one."""
    items = old + new
    if not items or not all(isinstance(x, dict) for x in items):
        return None
    for key in _MATCH_KEYS:
        if all(key in x and isinstance(x[key], (str, int)) for x in items) and \
                all(len({str(x[key]) for x in side}) == len(side) for side in (old, new)):
            return key
    return None


def _list(path: str, old: list[Any], new: list[Any]) -> Iterable[Change]:
    key = _match_key(old, new)
    if key is None and all(not isinstance(x, (dict, list)) for x in old + new):
        # Scalars (a guard chain, weekdays): matched by value, since order may matter, said apart.
        yield from _members("", old, new, path)
        return
    if key is None:
        for i in range(max(len(old), len(new))):
            sub = f"{path}[{i}]"
            if i >= len(new):
                yield Change("", "removed", sub, _short(old[i]))
            elif i >= len(old):
                yield Change("", "added", sub, _short(new[i]))
            else:
                yield from data_diff(old[i], new[i], sub)
        return
    a, b = {str(x[key]): x for x in old}, {str(x[key]): x for x in new}
    yield from (Change("", "removed", f"{path}[{n}]") for n in a if n not in b)
    for n, item in b.items():
        if n in a:
            yield from data_diff(a[n], item, f"{path}[{n}]")
        else:
            yield Change("", "added", f"{path}[{n}]", _short(item))
    common_a, common_b = [n for n in a if n in b], [n for n in b if n in a]
    if common_a != common_b:
        yield Change("", "changed", f"{path} order", f"{', '.join(common_a)} -> {', '.join(common_b)}")


def data_diff(old: Any, new: Any, path: str = "") -> list[Change]:
    """Changes between two plain YAML documents, one per key path, in document order."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[Change] = []
        for k in old:  # in document order: a removed key where it was, added ones after
            sub = _join(path, k)
            out += data_diff(old[k], new[k], sub) if k in new else [Change("", "removed", sub, _short(old[k]))]
        out += [Change("", "added", _join(path, k), _short(new[k])) for k in new if k not in old]
        return out
    if isinstance(old, list) and isinstance(new, list):
        return list(_list(path or "(document)", old, new))
    if not same(old, new):
        return [Change("", "changed", path or "(document)", f"{_short(old)} -> {_short(new)}")]
    return []


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)
