"""Markdown pages for every machine, from the IR only (never from raw YAML)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2

from engine.docs.mermaid import diagram
from engine.spec.contract import contract_of
from engine.spec.ir import ActionRef, Machine, Overrides, Param, SpecSet, State

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("engine.docs", "templates"),
    keep_trailing_newline=True, trim_blocks=False, lstrip_blocks=False,
    autoescape=False,  # Markdown, not HTML; cells are escaped by `cell`
    undefined=jinja2.StrictUndefined,
)


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def actions(refs: tuple[ActionRef, ...]) -> str:
    out = []
    for a in refs:
        if a.args:
            args = ", ".join(f"{k}={v.source}" for k, v in a.args.items())
            out.append(f"`{a.name}({cell(args)})`")
        else:
            out.append(f"`{a.name}`")
    return ", ".join(out)


def bounds(p: Param) -> str:
    lo = "" if p.min is None else f"{p.min} ≤"
    hi = "" if p.max is None else f"≤ {p.max}"
    return f"{lo} x {hi}".strip() if (lo or hi) else ""


def literal(value: Any) -> str:
    """A value as YAML writes it (`false`, `null`, `""`), not as Python prints it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return '""' if value == "" else str(value)


def names(items: tuple[str, ...]) -> str:
    return ", ".join(f"`{i}`" for i in items)


def domains(s: State) -> str:
    """A rollout state's domains and what each trades: the routing a promotion changes."""
    return ", ".join(f"{d}: {mode}" for d, mode in s.attrs.get("domains", {}).items())


def shown(path: str, root: Path | None) -> str:
    """`path` as the spec tree's folder names it (specs/rollout/rollout.yaml), however the tree was
    given on the command line: a page must not change with the spelling of the path."""
    if root is not None:
        try:
            return Path(path).resolve().relative_to(root.parent).as_posix()
        except ValueError:
            pass
    return Path(path).as_posix()


def overridden(m: Machine, overrides: tuple[Overrides, ...], root: Path | None = None) -> dict[str, str]:
    """Parameter -> each override of it, in the order they apply (env, then stage), as a table
    cell: a reviewer must see what a stage or environment really runs with, not only defaults."""
    ordered = sorted(overrides, key=lambda o: (o.scope != "env", _stage_order(o.key), o.key))
    out: dict[str, list[str]] = {}
    for o in ordered:
        where = f"env `{o.key}`" if o.scope == "env" else f"stage {o.key}"
        for name, value in o.values.get(m.name, {}).items():
            out.setdefault(name, []).append(f"{where}: `{value}` ({shown(o.path or o.pos.file, root)})")
    return {name: cell("; ".join(parts)) for name, parts in out.items()}


def _stage_order(key: str) -> int:
    return int(key) if key.isascii() and key.isdigit() else 0  # "²" is a digit int() cannot read


def machine_page(m: Machine, overrides: tuple[Overrides, ...], root: Path | None = None,
                 run: bool = True) -> str:
    """`run`: `engine run` hosts instances of `m` (engine/spec/contract.py contract_of); a page of
    one it does not says so first, as a reviewer must not take a linted rule for an enforced one."""
    tpl = _ENV.get_template("machine.md.j2")
    text = tpl.render(m=m, run=run, diagram=diagram(m), cell=cell, actions=actions, bounds=bounds, names=names,
                      domains=domains, literal=literal, rollout=m.kind == "rollout", gates=m.kind == "gates",
                      source=shown(m.path, root), overridden=overridden(m, overrides, root))
    return re.sub(r"\n{3,}", "\n\n", text)  # the optional sections leave runs of blank lines


def page_of(m: Machine) -> str:
    """The page of `m`, relative to the output folder."""
    return f"{m.kind}/{m.name}.md"


def pages(specs: SpecSet) -> dict[str, str]:
    """Relative path -> content for every generated page, index included."""
    ms = sorted(specs.machines.values(), key=lambda m: (m.kind, m.name))
    root = Path(specs.catalogue.path).resolve().parent if specs.catalogue.path else None
    out = {page_of(m): machine_page(m, tuple(specs.overrides), root, contract_of(specs, m) is not None) for m in ms}
    out["index.md"] = _ENV.get_template("index.md.j2").render(machines=ms)
    return out


def write(out_dir: Path, generated: dict[str, str], prune: bool = True) -> list[str]:
    """Write pages; with `prune` (`generated` is every page), remove the pages no longer
    generated; return what changed."""
    changed = stale(out_dir, generated, prune)
    for rel, text in generated.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    if prune:
        for rel in _existing(out_dir) - set(generated):
            (out_dir / rel).unlink()
    return changed


def stale(out_dir: Path, generated: dict[str, str], prune: bool = True) -> list[str]:
    """Pages that are missing, different, or (with `prune`: `generated` is every page) no longer
    generated."""
    problems = []
    for rel, text in sorted(generated.items()):
        path = out_dir / rel
        if not path.exists():
            problems.append(f"{rel}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{rel}: out of date")
    if prune:
        problems += [f"{rel}: no longer generated" for rel in sorted(_existing(out_dir) - set(generated))]
    return problems


def _existing(out_dir: Path) -> set[str]:
    if not out_dir.exists():
        return set()
    return {p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*.md")}
