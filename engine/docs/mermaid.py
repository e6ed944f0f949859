"""Mermaid `stateDiagram-v2` text for a machine, which GitHub renders inline.

Nested states become `state X { ... }` blocks; `*` transitions start from one
pseudo-state so the diagram stays readable; labels are entity-escaped because
Mermaid's grammar treats `:`, `;`, `{`, `}` and `#` as syntax.
"""
from __future__ import annotations

from engine.spec.ir import Machine, Transition

ANY = "ANY_STATE"
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


def diagram(m: Machine) -> str:
    lines = ["stateDiagram-v2"]
    if any(t.sources == ("*",) for t in m.transitions):
        lines.append(f'    state "any state" as {ANY}')
    _states(m, None, lines, 1)
    for t in m.transitions:
        srcs = (ANY,) if t.sources == ("*",) else t.sources
        for s in srcs:
            lines.append(f"    {s} --> {t.target or s} : {label(t)}")
    return "\n".join(lines)


def _states(m: Machine, parent: str | None, lines: list[str], depth: int) -> None:
    pad = "    " * depth
    kids = m.roots if parent is None else m.states[parent].children
    first = m.initial_child(parent)
    if first:
        lines.append(f"{pad}[*] --> {first}")
    for name in kids:
        st = m.states[name]
        if st.description:
            lines.append(f"{pad}{name} : {escape(st.description.splitlines()[0][:80])}")
        if st.compound:
            lines.append(f"{pad}state {name} {{")
            _states(m, name, lines, depth + 1)
            lines.append(f"{pad}}}")
        if st.final:
            lines.append(f"{pad}{name} --> [*]")
