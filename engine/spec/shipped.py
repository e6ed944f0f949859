"""The spec tree the repo ships (specs/), as a missing key's hint quotes it: the value the same
document (same kind and name) has at that key, where, and the seeds its comment credits, so a
user who deleted a key restores the shipped figure instead of guessing one. Nothing is
invented: a key the shipped document lacks too (or reached through a list, whose items differ)
gets no value. Light (re; the YAML reader only when a hint reads a document): `engine validate`
imports it to key its cache, before it knows whether it lints at all."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.spec.yamlio import YamlDoc

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "specs"
QUOTE_MAX = 80  # characters of `key: value` a hint quotes; a longer value is pointed at, not copied
_TOP = r"^{}:[ \t]*[\"']?([A-Za-z0-9_.-]+)"
# A line's trailing comment: the first `#` after whitespace outside quotes.
_COMMENT = re.compile(r"""^(?:[^#'"]|'[^']*'|"(?:[^"\\]|\\.)*")*?\s#(.*)$""")
_SEEDS = re.compile(r"\bseeds?\s+(\d{3}(?:\s*(?:/|,|and|&)\s*\d{3})*)", re.I)


@dataclass(frozen=True)
class Example:
    """What the shipped document has at a key: `key: value` in YAML ("" when too long to
    quote), its `file:line` (the file relative to the repo) and the seeds its comment names."""

    text: str
    where: str
    seeds: tuple[str, ...]

    def credit(self) -> str:
        if not self.seeds:
            return ""
        return f" (seed{'s' * (len(self.seeds) > 1)} {', '.join(self.seeds)})"


def elsewhere(path: str | Path) -> str:
    """A hint for a relative path that names nothing here but names the repo's own file or
    folder (specs/, a shipped strategy spec): the engine was started outside its checkout.
    Not a fallback: which folder is meant stays the user's call ("" when it is no such case)."""
    path = Path(path)
    if path.is_absolute() or path.exists() or not (ROOT / path).exists():
        return ""
    return f"{ROOT / path} is the engine's own: run in {ROOT}, or give that path"


def files() -> list[Path]:
    """The shipped spec files: what the hints read, so `engine validate`'s cache keys them too."""
    from engine.spec.files import spec_files

    return spec_files([SHIPPED])[0] if SHIPPED.is_dir() else []


def document(kind: str, name: str) -> tuple[YamlDoc, list[str]] | None:
    """The shipped document of `kind` named `name` (a document without `name:` is named by its
    file's stem), with its lines; None when the repo ships none."""
    from engine.spec.yamlio import parse_yaml

    for path in files():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if _top(text, "kind") != kind or (_top(text, "name") or path.stem) != name:
            continue
        doc, _ = parse_yaml(text, _shown(path))
        return (doc, text.splitlines()) if doc is not None else None
    return None


def example(shipped: tuple[YamlDoc, list[str]], path: tuple[Any, ...]) -> Example | None:
    """The shipped value at `path` (a key's path from the document's top), or None."""
    doc, lines = shipped
    if any(isinstance(p, int) for p in path):
        return None  # the shipped list's item at that index is another item than the user's
    value: Any = doc.data
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    pos = doc.key_pos_of(path)
    text = _flow(path[-1], value)
    return Example(text if len(text) <= QUOTE_MAX else "", f"{pos.file}:{pos.line}",
                   _seeds(_comment(lines, pos.line, pos.col)))


def _top(text: str, key: str) -> str | None:
    m = re.search(_TOP.format(key), text, flags=re.M)
    return m.group(1) if m else None


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def _flow(key: Any, value: Any) -> str:
    """`key: value` as one line of YAML (flow style), as a user would write it back."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = True
    yaml.width = 1 << 16
    out = io.StringIO()
    yaml.dump({key: value}, out)
    return out.getvalue().strip().removeprefix("{").removesuffix("}")


def _comment(lines: list[str], line: int, col: int) -> str:
    """The comment that goes with the key at `line`/`col`: its line's own, and the block of
    comment lines right above it at its indentation."""
    own = _COMMENT.match(lines[line - 1])
    above: list[str] = []
    for text in reversed(lines[:line - 1]):
        if not (text.startswith(" " * (col - 1) + "#")):
            break
        above.insert(0, text.strip().removeprefix("#"))
    return " ".join([*above, own.group(1) if own else ""])


def _seeds(comment: str) -> tuple[str, ...]:
    found = (n for m in _SEEDS.finditer(comment) for n in re.findall(r"\d{3}", m.group(1)))
    return tuple(dict.fromkeys(found))
