"""YAML text -> plain Python data plus the 1-based position of every node.

ruamel.yaml parses and composes (by libyaml from ruamel.yaml.clib when installed,
about 15x faster than its pure-Python parser); its node graph carries a start
mark for every key and value. We build plain dicts/lists from the nodes
ourselves instead of using a ruamel constructor: that lets us report every
duplicate key in one pass (ruamel stops at the first), reject YAML 1.1 traps
(`on`, `0755`, `1:30`) that a YAML 1.2 parser silently reads as strings or
decimals, and stop alias bombs before anything is expanded.

Conventions: `pos_of(path)` is the start of the value node (a block mapping
starts at its first key; a quoted scalar at its opening quote); `key_pos_of(path)`
is the key node for a mapping entry and the item itself for a list entry. A path
that does not exist resolves to its deepest existing ancestor, which is what a
"missing key" diagnostic wants.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from ruamel.yaml import YAML
from ruamel.yaml.error import MantissaNoDotYAML1_1Warning, YAMLError
from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:  # libyaml via ruamel.yaml.clib: about 15x faster; marks and nodes are the same
    from ruamel.yaml.cyaml import CParser, CSafeLoader
except ImportError:  # pragma: no cover - pure-Python fallback
    CParser = CSafeLoader = None

from engine.diagnostics import Diagnostic, Pos, Severity, did_you_mean

MAX_ALIASES = 100  # aliases per document; more is a bomb, not a spec
MAX_NODES = 100_000  # nodes after alias expansion; stops "few aliases, many levels" bombs
# Nesting levels; a spec nests about 6. libyaml's composer recurses in C once per level, and
# about 30,000 levels overflow its stack: a segfault, not an exception, so we look first.
MAX_DEPTH = 200

Path = tuple[Any, ...]
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_BOOL_11 = re.compile(r"(?i:y|n|yes|no|on|off)")
_OCTAL_11 = re.compile(r"[-+]?0[0-7_]+")
_SEXAGESIMAL_11 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")


@dataclass(frozen=True)
class YamlDoc:
    """A parsed document: plain data and, per path, key and value line/col and a quote offset."""

    file: str
    data: Any
    index: dict[Path, tuple[int, int, int, int, int]] = field(repr=False)

    def _entry(self, path: Sequence[Any]) -> tuple[int, int, int, int, int]:
        path = tuple(path)
        while path not in self.index:
            path = path[:-1]
        return self.index[path]

    def pos_of(self, path: Sequence[Any]) -> Pos:
        _, _, line, col, _ = self._entry(path)
        return Pos(self.file, line, col)

    def content_pos_of(self, path: Sequence[Any]) -> Pos:
        """Like pos_of, but past an opening quote: where an expression's text starts."""
        _, _, line, col, quote = self._entry(path)
        return Pos(self.file, line, col + quote)

    def key_pos_of(self, path: Sequence[Any]) -> Pos:
        line, col, _, _, _ = self._entry(path)
        return Pos(self.file, line, col)


class _AliasLimit(Exception):
    def __init__(self, message: str, node: Node):
        super().__init__(message)
        self.mark = node.start_mark


def _pos(file: str, mark: Any) -> Pos:
    return Pos(file, mark.line + 1, mark.column + 1)


def _error(file: str, mark: Any, code: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(_pos(file, mark), Severity.ERROR, code, message, hint)


def _check_aliases(root: Node) -> None:
    """Raise _AliasLimit for too many aliases, a cycle, or an expansion over MAX_NODES.

    Composing never expands an alias (it shares the anchored node), so this pass is
    linear in the text: each second reference to a node is one alias.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()
    aliases = 0

    def size(node: Node) -> int:
        nonlocal aliases
        if id(node) in sizes or id(node) in active:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _AliasLimit(f"more than {MAX_ALIASES} aliases in one document; "
                                  "the 101st refers to this node", node)
            if id(node) in active:
                raise _AliasLimit("an alias refers to a node that contains it", node)
            return sizes[id(node)]
        active.add(id(node))
        if isinstance(node, ScalarNode):
            n = 1
        elif isinstance(node, SequenceNode):
            n = 1 + sum(size(item) for item in node.value)
        else:
            n = 1 + sum(size(k) + size(v) for k, v in node.value)
        active.discard(id(node))
        if n > MAX_NODES:
            raise _AliasLimit(f"aliases expand this node beyond {MAX_NODES} nodes", node)
        sizes[id(node)] = n
        return n

    size(root)


class _Unreadable(Exception):
    """A scalar the constructor could not turn into a value."""

    def __init__(self, node: ScalarNode, cause: BaseException):
        tag = node.tag.rsplit(":", 1)[-1]
        short = node.value if len(node.value) <= 40 else f"{node.value[:20]}...({len(node.value)} characters)"
        if isinstance(cause, ValueError) and "digits" in str(cause):
            super().__init__(f"an integer of {len(node.value)} digits is too long to read")
            self.hint = "a spec's numbers are short; quote it if it is text"
        else:
            super().__init__(f"`{short}` cannot be read as a YAML {tag}")
            self.hint = f"write a valid {tag}, or drop the `!!{tag}` tag"
        self.mark = node.start_mark


class _Builder:
    """Walks the composed node graph into plain data, recording positions and problems."""

    def __init__(self, file: str, constructor: Any):
        self.file = file
        self.constructor = constructor
        self.index: dict[Path, tuple[int, int, int, int, int]] = {}
        self.diags: dict[tuple[str, int, int], Diagnostic] = {}  # aliased nodes report once

    def report(self, mark: Any, code: str, message: str, hint: str | None = None) -> None:
        d = _error(self.file, mark, code, message, hint)
        self.diags.setdefault((code, d.pos.line, d.pos.col), d)

    def build(self, node: Node, path: Path, key: Node | None) -> Any:
        km, vm = (key or node).start_mark, node.start_mark
        quote = int(isinstance(node, ScalarNode) and node.style in ("'", '"'))
        self.index[path] = (km.line + 1, km.column + 1, vm.line + 1, vm.column + 1, quote)
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            return [self.build(item, path + (i,), None) for i, item in enumerate(node.value)]
        return self.mapping(node, path)

    def scalar(self, node: ScalarNode) -> Any:
        if not node.style and node.tag != _MERGE:
            self.check_implicit(node)
        if node.tag == _STR:
            return node.value
        with warnings.catch_warnings():  # ruamel warns that `1e3` is not YAML 1.1: we read 1.2
            warnings.simplefilter("ignore", MantissaNoDotYAML1_1Warning)
            try:
                return self.constructor.construct_object(node)
            except (ValueError, KeyError, TypeError, OverflowError) as e:
                # An explicit tag on text it cannot read (`!!int abc`, `!!bool maybe`), or an
                # integer past Python's 4,300-digit limit: the constructor's error names no place.
                raise _Unreadable(node, e) from None

    def check_implicit(self, node: ScalarNode) -> None:
        v = node.value
        if _BOOL_11.fullmatch(v):
            what = "a boolean"
        elif _OCTAL_11.fullmatch(v):
            what = "an octal number"
        elif _SEXAGESIMAL_11.fullmatch(v):
            what = "a base-60 number"
        else:
            return
        hint = f'quote it: "{v}"'
        if what == "a boolean":  # most often meant as one: `final: yes`
            hint = f'write true or false; if you mean the text, {hint}'
        self.report(node.start_mark, "YAML_IMPLICIT_SCALAR",
                    f"unquoted `{v}` is read as {what} by YAML 1.1 tools", hint)

    def mapping(self, node: MappingNode, path: Path) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        first: dict[Any, Node] = {}
        for knode, vnode in node.value:
            if knode.tag == _MERGE:
                continue
            key = self.key(knode)
            if key in first:
                line = first[key].start_mark.line + 1
                self.report(knode.start_mark, "YAML_DUPLICATE_KEY", f"duplicate key `{key}`",
                            f"first defined at line {line}; remove or rename one of them")
                continue
            first[key] = knode
            out[key] = self.build(vnode, path + (key,), knode)
        for knode, vnode in self.merged(node):
            key = self.key(knode)
            if key not in out:
                out[key] = self.build(vnode, path + (key,), knode)
        return out

    def merged(self, node: MappingNode) -> Iterator[tuple[Node, Node]]:
        """Pairs brought in by `<<: *anchor` (or a list of anchors), earlier sources first."""
        for knode, vnode in node.value:
            if knode.tag != _MERGE:
                continue
            sources = vnode.value if isinstance(vnode, SequenceNode) else [vnode]
            for src in sources:
                if not isinstance(src, MappingNode):
                    self.report(src.start_mark, "YAML_SYNTAX", "`<<` merges only mappings")
                    continue
                yield from ((k, v) for k, v in src.value if k.tag != _MERGE)
                yield from self.merged(src)

    def key(self, knode: Node) -> Any:
        if not isinstance(knode, ScalarNode):
            self.report(knode.start_mark, "YAML_SYNTAX", "a mapping key must be a plain value",
                        "use a string key")
            return f"<{knode.start_mark.line + 1}:{knode.start_mark.column + 1}>"
        return self.scalar(knode)


class _TooDeep(Exception):
    def __init__(self, mark: Any):
        super().__init__(f"nested deeper than {MAX_DEPTH} levels")
        self.mark = mark


def _check_depth(text: str) -> None:
    """Raise _TooDeep at the first collection nested deeper than MAX_DEPTH. A cheap bound from
    the text clears every real spec; only a file that may be that deep gets the exact check,
    over parser events (libyaml's parser keeps its own stack, unlike its composer)."""
    if _depth_bound(text) <= MAX_DEPTH:
        return
    depth = 0
    for event in _events(text):
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _TooDeep(event.start_mark)
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def _depth_bound(text: str) -> int:
    """At least the nesting depth of `text`: the deepest run of open brackets, plus per line
    what block nesting can reach (a level per indicator, two per column of indentation)."""
    flow = text.count("[") + text.count("{")
    if flow > MAX_DEPTH:
        flow = depth = 0
        for m in re.finditer(r"[\[\]{}]", text):
            depth = depth + 1 if m.group() in "[{" else max(depth - 1, 0)
            flow = max(flow, depth)
    block = max((2 * (len(line) - len(line.lstrip())) + line.count("-") + line.count("?") + line.count(":") + 2
                 for line in text.splitlines()), default=0)
    return flow + block


def _events(text: str) -> Iterator[Any]:
    if CParser is None:
        yield from YAML(typ="safe", pure=True).parse(text)
        return
    parser = CParser(text)
    try:
        while (event := parser.get_event()) is not None:
            yield event
    finally:
        parser.dispose()


def _compose(text: str) -> tuple[Node | None, Any]:
    """The node graph of the one document in `text` (by libyaml when available), and a
    constructor for its scalars."""
    if CSafeLoader is not None:
        loader = CSafeLoader(text)
        return loader.get_single_node(), loader
    yaml = YAML(typ="safe", pure=True)
    return yaml.compose(text), yaml.constructor


def parse_yaml(text: str, file: str) -> tuple[YamlDoc | None, list[Diagnostic]]:
    """Parse one YAML document. Never raises on bad input; None when nothing usable came out."""
    try:
        _check_depth(text)
        root, constructor = _compose(text)
        if root is None:
            return YamlDoc(file, None, {(): (1, 1, 1, 1, 0)}), []
        _check_aliases(root)
        builder = _Builder(file, constructor)
        data = builder.build(root, (), None)
    except _TooDeep as e:
        return None, [_error(file, e.mark, "YAML_SYNTAX", f"invalid YAML: {e}",
                             "a spec nests a few levels; look for an unclosed `[` or `{` before this")]
    except _AliasLimit as e:
        return None, [_error(file, e.mark, "YAML_ALIAS_LIMIT", str(e),
                             "use fewer anchors and aliases; a spec never needs this many")]
    except (YAMLError, RecursionError) as e:
        return None, [_syntax(file, text, e)]
    except _Unreadable as e:
        return None, [_error(file, e.mark, "YAML_SYNTAX", f"invalid YAML: {e}", e.hint)]
    diags = sorted(builder.diags.values(), key=lambda d: (d.pos.line, d.pos.col, d.code))
    return YamlDoc(file, data, builder.index), diags


def _syntax(file: str, text: str, e: BaseException) -> Diagnostic:
    problem = getattr(e, "problem", None) or getattr(e, "context", None)
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    hint = "check indentation, colons and quotes near this position"
    if isinstance(e, RecursionError):
        problem = "nested too deeply"
    elif _is_tab(text, mark):
        problem, hint = "a tab in indentation (YAML allows only spaces there)", "indent with spaces"
    elif problem and "undefined alias" in problem and (name := _alias_at(text, mark)):
        anchors = list(dict.fromkeys(re.findall(r"&([^\s,\[\]{}]+)", text)))
        problem = f"`*{name}` names no anchor: no `&{name}` is defined before it"
        hint = did_you_mean(name, anchors) or (
            f"anchors defined: {', '.join(anchors)}" if anchors else f"mark the value to repeat with `&{name}` first")
    elif _unclosed_quote(e):
        end = e.problem_mark
        problem = f"this quote is never closed (the text ends at line {end.line + 1})"
        mark, hint = e.context_mark, "close the quote; inside '...' write a quote as '', inside \"...\" as \\\""
    elif getattr(e, "context", None) and getattr(e, "context_mark", None) and mark is not e.context_mark:
        c = e.context_mark
        problem = f"{problem} ({e.context} at line {c.line + 1}, column {c.column + 1})"
    message = f"invalid YAML: {problem or str(e).splitlines()[0]}"
    pos = _pos(file, mark) if mark is not None else Pos(file, 1, 1)
    return Diagnostic(pos, Severity.ERROR, "YAML_SYNTAX", message, hint)


def _alias_at(text: str, mark: Any) -> str | None:
    """The alias name written at `mark` (`*announce_flattn`), which the parser's message leaves out."""
    if mark is None:
        return None
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    found = re.match(r"\*([^\s,\[\]{}]+)", line[mark.column:])
    return found.group(1) if found else None


def _is_tab(text: str, mark: Any) -> bool:
    """The error is at a tab, or at the first token after a tab, in a line's indentation."""
    if mark is None:
        return False
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    lead = line[: len(line) - len(line.lstrip(" \t"))]
    return "\t" in lead and mark.column <= len(lead)


def _unclosed_quote(e: BaseException) -> bool:
    return ("quoted scalar" in str(getattr(e, "context", "") or "")
            and "end of stream" in str(getattr(e, "problem", "") or "")
            and getattr(e, "context_mark", None) is not None)


def decode(raw: bytes, file: str) -> tuple[str | None, list[Diagnostic]]:
    """UTF-8 text of a spec file, or a YAML_SYNTAX diagnostic at the first bad byte."""
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as e:
        head = raw[: e.start]
        line = head.count(b"\n") + 1
        col = e.start - (head.rfind(b"\n") + 1) + 1
        return None, [Diagnostic(Pos(file, line, col), Severity.ERROR, "YAML_SYNTAX",
                                 "file is not valid UTF-8", "save the file as UTF-8")]
