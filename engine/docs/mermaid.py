"""Mermaid `stateDiagram-v2` text for a machine, which GitHub renders inline.

Nested states become `state X { ... }` blocks, each child declared inside its parent (a state
first named by a transition would be drawn at the top level); `*` transitions start from one
pseudo-state so the diagram stays readable; labels are entity-escaped because Mermaid's grammar
treats `:`, `;`, `{`, `}` and `#` as syntax. A state whose name is a word of that grammar
(`default`, `note`, `state`, ...) gets an id of its own and its name as label, or the diagram
would not parse. A targetless transition is labelled `(internal)`: a self-transition exits and
re-enters (its timers restart), a targetless one does neither.
"""
from __future__ import annotations

import re

from engine.spec.ir import Machine, Transition

ANY = "ANY_STATE"
# Words of Mermaid's stateDiagram grammar that a state id may not be (compared case-blind).
_KEYWORDS = frozenset({"as", "class", "classdef", "click", "default", "direction", "end", "hide", "left", "linkstyle",
                       "note", "of", "right", "scale", "state", "style", "accdescr", "acctitle", "statediagram",
                       "empty", "description"})
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_ESCAPES = {"#": "#35;", ":": "#58;", ";": "#59;", "{": "#123;", "}": "#125;",
            "<": "#60;", ">": "#62;", '"': "#34;", "\n": " "}


def escape(text: str) -> str:
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def label(t: Transition, max_guard: int = 60) -> str:
    text = t.event
    if t.guard is not None:
        guard = t.guard.source.strip()
        text += f" [{guard if len(guard) <= max_guard else guard[:max_guard - 1] + '…'}]"
    return escape(text)


def node(name: str) -> str:
    """The diagram id of state `name`: the name itself unless the grammar would misread it."""
    if _PLAIN.match(name) and name.lower() not in _KEYWORDS:
        return name
    return "state_" + re.sub(r"\W", "_", name)


def diagram(m: Machine) -> str:
    lines = ["stateDiagram-v2"]
    if any(t.sources == ("*",) for t in m.transitions):
        lines.append(f'    state "any state" as {ANY}')
    lines += [f'    state "{escape(n)}" as {node(n)}' for n in m.states if node(n) != n]
    _states(m, None, lines, 1)
    for t in m.transitions:
        srcs = (ANY,) if t.sources == ("*",) else tuple(map(node, t.sources))
        for s in srcs:
            target, text = (node(t.target), label(t)) if t.target else (s, f"{label(t)} (internal)")
            lines.append(f"    {s} --> {target} : {text}")
    return "\n".join(lines)


def _states(m: Machine, parent: str | None, lines: list[str], depth: int) -> None:
    pad = "    " * depth
    kids = m.roots if parent is None else m.states[parent].children
    first = m.initial_child(parent)
    if first:
        lines.append(f"{pad}[*] --> {node(first)}")
    for name in kids:
        st, n = m.states[name], node(name)
        if st.description:
            lines.append(f"{pad}{n} : {escape(st.description.splitlines()[0][:80])}")
        elif not st.compound and name != first and not st.final:
            lines.append(f"{pad}{n}")  # declared here, inside its parent
        if st.compound:
            lines.append(f"{pad}state {n} {{")
            _states(m, name, lines, depth + 1)
            lines.append(f"{pad}}}")
        if st.final:
            lines.append(f"{pad}{n} --> [*]")
