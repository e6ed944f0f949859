"""Graphviz DOT text and SVG (through the `dot` program, only where it is installed).

The drawing says what the Mermaid diagram says: a compound state is a cluster whose start point
leads to its initial child, so an edge into the state ends at that point (entering it starts
there) and an edge out of it leaves the cluster's border (`ltail`: any state inside handles it);
`*` transitions start from one "any state" node; a targetless transition is labelled
`(internal)`. An SVG carries the hash of the DOT source it was drawn from, so `engine docs
--check` tells a stale SVG without graphviz (its own output varies by version)."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

from engine.docs.mermaid import ANY
from engine.spec.ir import Machine, Transition

_STAMP = re.compile(r"<!-- stagecraft dot source sha256:([0-9a-f]{64}) -->")


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _start(parent: str | None) -> str:
    return quoted(f"__start__{parent or ''}")


def dot_source(m: Machine) -> str:
    out = [f"digraph {quoted(m.name)} {{", "  compound=true; rankdir=LR; node [shape=box, style=rounded];"]
    if any(t.sources == ("*",) for t in m.transitions):
        out.append(f'  {quoted(ANY)} [label="any state", shape=plaintext];')
    _states(m, None, out, 1)
    for t in m.transitions:
        out += [f"  {edge}" for edge in _edges(m, t)]
    out.append("}")
    return "\n".join(out)


def _states(m: Machine, parent: str | None, out: list[str], depth: int) -> None:
    pad = "  " * depth
    first = m.initial_child(parent)
    if first:
        out.append(f"{pad}{_start(parent)} [shape=point, label=\"\"];")
        out.append(f"{pad}{_start(parent)} -> {_entry(m, first)};")
    for name in (m.roots if parent is None else m.states[parent].children):
        st = m.states[name]
        if st.compound:
            out.append(f"{pad}subgraph {quoted('cluster_' + name)} {{ label={quoted(name)}; style=rounded;")
            _states(m, name, out, depth + 1)
            out.append(f"{pad}}}")
        else:
            out.append(f"{pad}{quoted(name)} [shape={'doublecircle' if st.final else 'box'}];")


def _entry(m: Machine, state: str) -> str:
    """Where an edge into `state` ends: the state, or the start point of the cluster it is."""
    return _start(state) if m.states[state].compound else quoted(state)


def _exit_node(m: Machine, state: str) -> str:
    """Where an edge out of `state` starts: a compound state's edge leaves from its start point,
    clipped at the cluster's border; a compound without an initial child from its first leaf."""
    if m.initial_child(state) is not None:
        return _start(state)
    while m.states[state].compound:
        state = m.states[state].children[0]
    return quoted(state)


def _edges(m: Machine, t: Transition) -> list[str]:
    text = t.event + (f" [{t.guard.source.strip()}]" if t.guard is not None else "")
    out = []
    for s in (ANY,) if t.sources == ("*",) else t.sources:
        tail = quoted(s) if s == ANY else _exit_node(m, s)
        attrs = [f"label={quoted(text if t.target else text + ' (internal)')}"]
        if s != ANY and m.states[s].compound and t.target != s:
            attrs.append(f"ltail={quoted('cluster_' + s)}")
        head = _entry(m, t.target) if t.target else tail
        out.append(f"{tail} -> {head} [{', '.join(attrs)}];")
    return out


def stamp(m: Machine) -> str:
    return hashlib.sha256(dot_source(m).encode()).hexdigest()


class DotFailed(Exception):
    """graphviz `dot` ran and failed: its own message says why."""


def svg(m: Machine) -> str | None:
    """The machine drawn by graphviz, stamped with its source's hash; None without `dot`."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    done = subprocess.run([exe, "-Tsvg"], input=dot_source(m), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DotFailed(f"graphviz `dot` ({exe}) failed on `{m.name}` with exit {done.returncode}: "
                        f"{done.stderr.strip() or '(no message)'}")
    drawn = done.stdout
    mark = f"<!-- stagecraft dot source sha256:{stamp(m)} -->\n"
    head, sep, rest = drawn.partition("?>\n")  # after the XML declaration, which must come first
    return head + sep + mark + rest if sep else mark + drawn


def svg_of(page: str) -> str:
    return page.removesuffix(".md") + ".svg"


def stale_svgs(out_dir: Path, machines: dict[str, Machine], prune: bool) -> list[str]:
    """SVGs drawn from another version of their spec (`machines`: page -> machine) and, with
    `prune` (every machine given), SVGs of machines no longer generated. SVGs are optional:
    a missing one is not stale."""
    problems = []
    for page, m in sorted(machines.items()):
        path = out_dir / svg_of(page)
        if path.exists():
            found = _STAMP.search(path.read_text(encoding="utf-8", errors="replace"))
            if found is None or found.group(1) != stamp(m):
                problems.append(f"{svg_of(page)}: out of date (engine docs --svg redraws it)")
    if prune:
        problems += [f"{rel}: no longer generated" for rel in _orphans(out_dir, machines)]
    return problems


def prune_svgs(out_dir: Path, machines: dict[str, Machine]) -> None:
    for rel in _orphans(out_dir, machines):
        (out_dir / rel).unlink()


def _orphans(out_dir: Path, machines: dict[str, Machine]) -> list[str]:
    """The SVGs under `out_dir` (relative, sorted) that no machine of `machines` draws."""
    if not out_dir.exists():
        return []
    wanted = {svg_of(p) for p in machines}
    return [rel for rel in sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.svg"))
            if rel not in wanted]
