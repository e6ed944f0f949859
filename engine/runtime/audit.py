"""Audit records and the sinks they go to.

Every decision the interpreter takes becomes one `Record`: plain data that a
sink writes as a JSON line, a test compares exactly, and a replay reproduces
bit for bit (the time comes from the injected clock).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, fields
from types import SimpleNamespace
from typing import IO, Any, Protocol, runtime_checkable

# init: an instance entered its initial configuration; transition: a transition fired;
# unhandled: no enabled transition (event dropped); guard_error: a guard raised and was
# taken as false; action_error: an action raised (the instance is in `target`, see docs).
KINDS = ("init", "transition", "unhandled", "guard_error", "action_error")


@dataclass(frozen=True)
class Record:
    """Not slotted on purpose: the interpreter makes ~24 per trade with `record_from`, and orjson
    writes a dataclass from its __dict__ 3x faster than from slots."""

    machine: str
    instance_id: str
    source: str | None
    target: str | None
    event: str
    guard_inputs: Mapping[str, Any]
    time: float
    spec_hash: str
    kind: str
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["guard_inputs"] = plain(self.guard_inputs)
        return d


_new = object.__new__
# Record's own __dict__ slot setter: what object.__setattr__(r, "__dict__", d) reaches after a
# lookup by name; called directly it costs ~50 ns instead of ~80 ns.
set_dict = Record.__dict__["__dict__"].__set__


def record_from(values: dict[str, Any]) -> Record:
    """The Record of `values`: every field, in declaration order, in a fresh dict the record then
    owns. One store of __dict__ instead of the frozen __init__'s object.__setattr__ per field
    (0.4 µs with building the dict, against 1.0 µs)."""
    r = _new(Record)
    set_dict(r, values)
    return r


def record_template(machine: str, spec_hash: str, source: str | None, target: str | None, event: str,
                    kind: str, reason: str) -> dict[str, Any]:
    """A record's fields, in declaration order, with those known before it happens filled in.
    A binder makes one per transition and leaf; the interpreter copies it and sets instance_id,
    time and guard_inputs: a dict copy and two or three stores, instead of building ten fields."""
    return {"machine": machine, "instance_id": "", "source": source, "target": target, "event": event,
            "guard_inputs": NO_INPUTS, "time": 0.0, "spec_hash": spec_hash, "kind": kind, "reason": reason}


class _NoInputs(dict):
    """The guard inputs of a record whose guard read nothing: an empty dict that refuses
    changes (it is shared by every such record), which orjson writes natively."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a record's guard inputs are read-only")

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = __ior__ = _refuse  # type: ignore[assignment]

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"


NO_INPUTS: Mapping[str, Any] = _NoInputs()


def plain(value: Any) -> Any:
    """JSON-able copy of a guard input (inputs may be mappings, namespaces or tuples)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, SimpleNamespace):
        return plain(vars(value))
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    """For orjson: read-only mappings (most records' empty guard inputs) and namespaces; else text."""
    if hasattr(value, "items"):
        return dict(value.items())
    if isinstance(value, SimpleNamespace):
        return vars(value)
    return str(value)


@runtime_checkable
class AuditSink(Protocol):
    def write(self, record: Record) -> None: ...

    def flush(self) -> None: ...


class NullSink:
    """Drops records (benchmarks; `send` still returns them)."""

    __slots__ = ()

    def write(self, record: Record) -> None:
        pass

    def flush(self) -> None:
        pass


class ListSink:
    """Keeps records in memory (tests, dry runs)."""

    __slots__ = ("records",)

    def __init__(self) -> None:
        self.records: list[Record] = []

    def write(self, record: Record) -> None:
        self.records.append(record)

    def flush(self) -> None:
        pass


_SPILL = 1 << 20  # bytes of lines a JsonlSink gathers before writing them out


class AuditGap(FileNotFoundError):
    """The audit trail is shorter than a committed checkpoint says it was."""


def trail_gap(path: str | os.PathLike[str], offset: int) -> str | None:
    """What is wrong with the audit trail at `path` (none there: 0 bytes) if it is shorter than a
    checkpoint's mark `offset`: it lost records the checkpoint covers, so no resume may go on
    from it. None when it reaches the mark. The one rule of `engine run --resume`'s check
    before anything is written and of `JsonlSink.resume_at`; each adds what to do."""
    size = os.path.getsize(path) if os.path.isfile(path) else 0
    if size >= offset:
        return None
    return (f"{path} has {size:,} bytes but the saved run's last checkpoint covers {offset:,}: the audit trail "
            "lost records (was it moved, cut or replaced?)")


def _named(e: OSError, path: str) -> OSError:
    """A failed write of the trail (a full disk) as the same kind of OSError naming the file:
    a write to an open file says only "[Errno 28] No space left on device"."""
    return e if e.filename else type(e)(e.errno, e.strerror, path)


class JsonlSink:
    """Appends one JSON object per line; with fsync=True each record is on disk before
    `write` returns (the audit trail survives a crash at the cost of one fsync per record)."""

    def __init__(self, path: str | os.PathLike[str], fsync: bool = False):
        import orjson  # serialises the Record directly: ~10x json.dumps(as_dict())

        self.path = os.fspath(path)
        self.fsync = fsync
        self._dumps = orjson.dumps
        self._error = orjson.JSONEncodeError
        # Non-str keys (only possible deep in guard inputs) need OPT_NON_STR_KEYS, which slows
        # every dict by a third; a record that has them fails the fast options and is retried.
        self._fast = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY
        self._opt = self._fast | orjson.OPT_NON_STR_KEYS
        # Lines gather in a bytearray (+= is ~4x cheaper than a buffered file's write) that goes to
        # the file in one write when it reaches _SPILL bytes, on flush and on `mark`: the same
        # bytes reach the disk at the same points as with a 1 MiB file buffer. With fsync every
        # record is written and synced at once.
        self._lines = bytearray()
        self._spill_at = 1 if fsync else _SPILL
        self._f: IO[bytes] = open(self.path, "ab")  # noqa: SIM115 - open for the sink's life; close() shuts it

    def write(self, record: Record) -> None:
        try:
            line = self._dumps(record, default=_jsonable, option=self._fast)
        except self._error:
            line = self._dumps(record, default=_jsonable, option=self._opt)
        lines = self._lines
        lines += line
        if len(lines) >= self._spill_at:
            self.flush()

    def flush(self) -> None:
        try:
            self._spill()
            self._f.flush()
            if self.fsync:
                os.fsync(self._f.fileno())
        except OSError as e:
            raise _named(e, self.path) from None

    def _spill(self) -> None:
        if self._lines:
            self._f.write(self._lines)
            self._lines.clear()

    def mark(self) -> int:
        """Everything written so far on disk; returns the file's length, which a checkpoint
        keeps so that a resumed run can cut the trail back to it (`resume_at`)."""
        try:
            self._spill()
            self._f.flush()
            os.fsync(self._f.fileno())
        except OSError as e:
            raise _named(e, self.path) from None
        return self._f.tell()

    def resume_at(self, offset: int) -> None:
        """Cut the trail back to a checkpoint's mark: the crashed run's records after it are
        re-made by the resumed run, so they move to `<path>.after-crash` (kept, never
        deleted) instead of appearing twice. A trail shorter than the mark lost records
        that a committed checkpoint covers: refuse rather than resume with a gap."""
        self._spill()
        self._f.flush()
        if gap := trail_gap(self.path, offset):
            raise AuditGap(f"{gap}; resume refused: put the run's own trail back and resume, or start a fresh run")
        if os.path.getsize(self.path) == offset:
            return
        with open(self.path, "rb") as f, open(f"{self.path}.after-crash", "ab") as tail:
            f.seek(offset)
            tail.write(f.read())
            tail.flush()
            os.fsync(tail.fileno())
        self._f.truncate(offset)
        self._f.seek(offset)

    def close(self) -> None:
        if not self._f.closed:
            self.flush()
            self._f.close()

    def __del__(self) -> None:
        # As a file's buffer is written when the file is collected unclosed (a run that ends
        # after its last checkpoint, without closing its sink), so are the gathered lines.
        f = getattr(self, "_f", None)
        if f is not None and not f.closed and self._lines:
            with suppress(OSError):  # a full disk: the run said so, and its resume re-makes these lines
                f.write(self._lines)

    def __enter__(self) -> "JsonlSink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FanoutSink:
    """Writes every record to each sink in turn."""

    __slots__ = ("sinks",)

    def __init__(self, *sinks: AuditSink):
        self.sinks = sinks

    def write(self, record: Record) -> None:
        for s in self.sinks:
            s.write(record)

    def flush(self) -> None:
        for s in self.sinks:
            s.flush()
