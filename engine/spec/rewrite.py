"""Set values in a spec file in place, for commands that write a decision into a spec
(`engine tune --write`).

Only the text of each changed value is replaced: comments, key order and layout stay as the
user wrote them, and the diff is the decision alone. Each value is copied from another scalar
of the same file, as written there (`4`, not `4.0`): what lands in the spec is text the user
wrote and `engine validate` already checked. The new text is checked by the caller before it
replaces the file (atomically, the target of a symlink), and only if the file still holds the
bytes the caller decided on.
"""
from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

YamlPath = tuple[str | int, ...]


class ChangedMeanwhile(Exception):
    """The file is no longer what the caller read: writing would drop someone's edit."""


class NotInPlace(Exception):
    """A value to change or copy is not a scalar written at its own place in the file."""


def copy_values(path: Path, read: bytes, moves: Sequence[tuple[YamlPath, YamlPath]],
                check: Callable[[Path], None]) -> None:
    """For each (to, source): the scalar at `to` becomes the text of the scalar at `source`.
    `check(file)` is called on the new text, written beside the file, before it replaces it:
    when it raises, the file is left as it was."""
    from ruamel.yaml import YAML

    path = Path(os.path.realpath(path))  # a linked spec: write where the link points, keep the link
    if path.read_bytes() != read:
        raise ChangedMeanwhile(f"{path} changed since it was read; run the command again")
    text = read.decode("utf-8")
    root = YAML(typ="safe", pure=True).compose(text)  # pure: marks index characters of `text`
    shared = _shared(root)
    edits = []
    for to, source in moves:
        (target, after), (value, _) = _scalar(root, to, text, shared), _scalar(root, source, text, shared)
        new = text[value.start_mark.index:value.end_mark.index]
        start, end = target.start_mark.index, target.end_mark.index
        if start == end:  # `key:` with no value (null): its empty node sits wherever the next token does
            colon = text.find(":", after)
            if colon < 0 or text[after:colon].strip():
                raise NotInPlace(f"`{'.'.join(map(str, to))}` has no value to replace: write one there")
            start = end = colon + 1
            new = " " + new
        edits.append((start, end, new))
    for start, end, new in sorted(edits, reverse=True):  # from the end: earlier offsets stay valid
        text = text[:start] + new + text[end:]
    _replace(path, text.encode("utf-8"), check)


def _shared(root: Node) -> set[int]:
    """Nodes reached more than once: an anchor and its aliases are one node, and text changed
    there changes every place that uses it."""
    seen = Counter(id(n) for n in _walk(root))
    return {n for n, count in seen.items() if count > 1}


def _walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, MappingNode):
        for k, v in node.value:
            yield from _walk(k)
            yield from _walk(v)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _walk(item)


def _scalar(node: Node, path: YamlPath, text: str, shared: set[int]) -> tuple[ScalarNode, int]:
    """The scalar at `path`, written there, reached through no node used in another place too,
    and where its text may start (past its key)."""
    where = ".".join(map(str, path))
    after = 0
    for key in path:
        found = _child(node, key)
        if found is None:  # e.g. a value a merge key (`<<: *base`) brings in
            raise NotInPlace(f"`{where}` is not written in the file (a merge key brings it in?)")
        after, node = found
        if id(node) in shared:
            raise NotInPlace(f"`{where}` goes through an anchor used elsewhere too (`&name` / `*name`): "
                             "changing it there would change every place that uses it")
    start = node.start_mark.index
    empty = isinstance(node, ScalarNode) and start == node.end_mark.index
    if not isinstance(node, ScalarNode) or start < after or (text[after:start].strip(" \t\r\n:-") and not empty):
        raise NotInPlace(f"`{where}` is not a plain value written in its place")
    if text[start:start + 1] in ("&", "!") and not empty:
        raise NotInPlace(f"`{where}` carries an anchor or a tag: write the plain value there")
    return node, after


def _child(node: Node, key: str | int) -> tuple[int, Node] | None:
    """The child at `key`, and where its text may start (past its key)."""
    if isinstance(node, MappingNode):
        return next(((k.end_mark.index, v) for k, v in node.value if k.value == key), None)
    if isinstance(node, SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        return node.value[key].start_mark.index, node.value[key]
    return None


def _replace(path: Path, data: bytes, check: Callable[[Path], None]) -> None:
    """Write beside `path`, check, then rename over it: a crash leaves the old file or the new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    try:
        os.chmod(tmp, path.stat().st_mode & 0o7777)  # mkstemp makes it 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        check(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
