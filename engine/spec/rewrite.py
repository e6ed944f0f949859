"""Set values in a spec file in place, for commands that write a decision into a spec
(`engine tune --write`).

Only the text of each changed value is replaced: comments, key order and layout stay as the
user wrote them, and the diff is the decision alone. Each value is copied from another scalar
of the same file, as written there (`4`, not `4.0`): what lands in the spec is text the user
wrote and `engine validate` already checked. The file is replaced atomically, and only if it
still holds the bytes the caller decided on.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

YamlPath = tuple[str | int, ...]


class ChangedMeanwhile(Exception):
    """The file is no longer what the caller read: writing would drop someone's edit."""


class NotInPlace(Exception):
    """A value to change or copy is not a scalar written at its own place in the file."""


def copy_values(path: Path, read: bytes, moves: Sequence[tuple[YamlPath, YamlPath]]) -> None:
    """For each (to, source): the scalar at `to` becomes the text of the scalar at `source`."""
    from ruamel.yaml import YAML

    if path.read_bytes() != read:
        raise ChangedMeanwhile(f"{path} changed since it was read; run the command again")
    text = read.decode("utf-8")
    root = YAML(typ="safe", pure=True).compose(text)  # pure: marks index characters of `text`
    edits = []
    for to, source in moves:
        target, value = _scalar(root, to, text), _scalar(root, source, text)
        edits.append((target.start_mark.index, target.end_mark.index,
                      text[value.start_mark.index:value.end_mark.index]))
    for start, end, new in sorted(edits, reverse=True):  # from the end: earlier offsets stay valid
        text = text[:start] + new + text[end:]
    _replace(path, text.encode("utf-8"))


def _scalar(node: Node, path: YamlPath, text: str) -> ScalarNode:
    """The scalar at `path`, written there: an alias (`*a`) is the anchor's node, and replacing
    that text would change every place that uses the anchor (an anchor's own value, too)."""
    after = 0
    for key in path:
        found = _child(node, key)
        if found is None:  # e.g. a value a merge key (`<<: *base`) brings in
            raise NotInPlace(f"`{'.'.join(map(str, path))}` is not written in the file")
        after, node = found
    start = node.start_mark.index
    if (not isinstance(node, ScalarNode) or start < after or text[after:start].strip(" \t:-")
            or text[start] in "&!"):
        raise NotInPlace(f"`{'.'.join(map(str, path))}` is not a plain value written in its place "
                         "(an alias, an anchor or a tag)")
    return node


def _child(node: Node, key: str | int) -> tuple[int, Node] | None:
    """The child at `key`, and where its text may start (past its key)."""
    if isinstance(node, MappingNode):
        return next(((k.end_mark.index, v) for k, v in node.value if k.value == key), None)
    if isinstance(node, SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        return node.value[key].start_mark.index, node.value[key]
    return None


def _replace(path: Path, data: bytes) -> None:
    """Write beside `path`, then rename over it: a crash leaves the old file or the new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, path.stat().st_mode & 0o7777)  # mkstemp makes it 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
