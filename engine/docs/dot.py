"""Graphviz DOT text and SVG (through the `dot` program, only where it is installed)."""
from __future__ import annotations

import shutil
import subprocess

from engine.spec.ir import Machine


def dot_source(m: Machine) -> str:
    out = [f'digraph "{m.name}" {{', "  compound=true; rankdir=LR; node [shape=box, style=rounded];"]
    for name, st in m.states.items():
        if st.compound:
            continue
        shape = "doublecircle" if st.final else "box"
        out.append(f'  "{name}" [shape={shape}];')
    for t in m.transitions:
        srcs = [n for n, s in m.states.items() if not s.final and not s.compound] if t.sources == ("*",) else t.sources
        for s in srcs:
            out.append(f'  "{s}" -> "{t.target or s}" [label="{t.event}"];')
    out.append("}")
    return "\n".join(out)


def svg(m: Machine) -> str | None:
    exe = shutil.which("dot")
    if exe is None:
        return None
    done = subprocess.run([exe, "-Tsvg"], input=dot_source(m), capture_output=True, text=True, check=True)
    return done.stdout
