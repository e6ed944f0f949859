"""YAML text -> plain Python data plus the 1-based position of every node.

We let ruamel.yaml parse and compose (its node graph carries a start mark for
every key and value) and build plain dicts/lists ourselves instead of using its
round-trip constructor: that is what lets us report every duplicate key in one
pass (ruamel stops at the first), reject YAML 1.1 traps (`on`, `0755`, `1:30`)
that a YAML 1.2 parser silently reads as strings or decimals, and stop alias
bombs before anything is expanded. It is also about twice as fast.

Conventions: `pos_of(path)` is the start of the value node (a block mapping
starts at its first key; a quoted scalar at its opening quote); `key_pos_of(path)`
is the key node for a mapping entry and the item itself for a list entry. A path
that does not exist resolves to its deepest existing ancestor, which is what a
"missing key" diagnostic wants.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.diagnostics import Diagnostic, Pos, Severity

MAX_ALIASES = 100  # aliases per document; more is a bomb, not a spec
MAX_NODES = 100_000  # nodes after alias expansion; stops "few aliases, many levels" bombs

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

    def has(self, path: Sequence[Any]) -> bool:
        return tuple(path) in self.index


class _AliasLimit(Exception):
    def __init__(self, message: str, node_or_mark: Any):
        super().__init__(message)
        self.mark = getattr(node_or_mark, "start_mark", node_or_mark)


class _CountingComposer(Composer):
    """Counts aliases while composing so that a bomb stops before any expansion."""

    aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _AliasLimit(f"more than {MAX_ALIASES} aliases in one document",
                                  self.parser.peek_event().start_mark)
        return super().compose_node(parent, index)


def _pos(file: str, mark: Any) -> Pos:
    return Pos(file, mark.line + 1, mark.column + 1)


def _error(file: str, mark: Any, code: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(_pos(file, mark), Severity.ERROR, code, message, hint)


def _check_expansion(root: Node) -> None:
    """Raise _AliasLimit for a cycle or an expanded size over MAX_NODES, in time linear in the text."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in active:
            raise _AliasLimit("an alias refers to a node that contains it", node)
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
        if node.style is None and node.tag != _MERGE:
            self.check_implicit(node)
        if node.tag == _STR:
            return node.value
        return self.constructor.construct_object(node)

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
        self.report(node.start_mark, "YAML_IMPLICIT_SCALAR",
                    f"unquoted `{v}` is read as {what} by YAML 1.1 tools", f'quote it: "{v}"')

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


def parse_yaml(text: str, file: str) -> tuple[YamlDoc | None, list[Diagnostic]]:
    """Parse one YAML document. Never raises on bad input; None when nothing usable came out."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Composer = _CountingComposer
    try:
        root = yaml.compose(text)
        if root is None:
            return YamlDoc(file, None, {(): (1, 1, 1, 1, 0)}), []
        if yaml.composer.aliases:
            _check_expansion(root)
        builder = _Builder(file, yaml.constructor)
        data = builder.build(root, (), None)
    except _AliasLimit as e:
        return None, [_error(file, e.mark, "YAML_ALIAS_LIMIT", str(e),
                             "use fewer anchors and aliases; a spec never needs this many")]
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        return None, [_syntax(file, mark, e)]
    except (YAMLError, RecursionError) as e:
        return None, [_syntax(file, None, e)]
    diags = sorted(builder.diags.values(), key=lambda d: (d.pos.line, d.pos.col, d.code))
    return YamlDoc(file, data, builder.index), diags


def _syntax(file: str, mark: Any, e: BaseException) -> Diagnostic:
    problem = getattr(e, "problem", None) or getattr(e, "context", None)
    if isinstance(e, RecursionError):
        problem = "nested too deeply"
    message = f"invalid YAML: {problem or str(e).splitlines()[0]}"
    pos = _pos(file, mark) if mark is not None else Pos(file, 1, 1)
    return Diagnostic(pos, Severity.ERROR, "YAML_SYNTAX", message,
                      "check indentation, colons and quotes near this position")


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
