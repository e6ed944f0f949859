"""A running machine instance: a few slots of plain data, nothing per-instance
is compiled, so a process can hold 100k of them (one per order, say)."""
from __future__ import annotations

from typing import Any

from engine.runtime.compiled import BoundMachine
from engine.runtime.hosted import bind_host


class Instance:
    """The active leaf state, `ctx`, pending timers and whatever the host attached.

    Only the interpreter changes it. `timers` maps (state, timer index) to
    (deadline, sequence number), or is None when nothing is pending (saves a dict).
    """

    __slots__ = ("bound", "id", "state", "ctx", "done", "host", "hosted", "timers")

    def __init__(self, bound: BoundMachine, instance_id: str, state: str, ctx: dict[str, Any],
                 host: Any = None, done: bool = False):
        self.bound = bound
        self.id = instance_id
        self.state = state
        self.ctx = ctx
        self.done = done
        self.host = host
        # The host's methods for the spec's hosted actions, bound (and checked) now, not per call.
        # `host` may be cleared (None) once the instance is forgotten; it is never replaced.
        self.hosted = bind_host(bound, host, instance_id)
        self.timers: dict[tuple[str, int], tuple[float, int]] | None = None

    def in_state(self, name: str) -> bool:
        """True when `name` is the active leaf or one of its ancestors."""
        return name in self.bound.config[self.state]

    def has_tag(self, tag: str) -> bool:
        """True when the active leaf or an ancestor carries `tag` (e.g. `opens_risk`)."""
        return tag in self.bound.tags[self.state]

    def __repr__(self) -> str:
        return f"<Instance {self.bound.name}:{self.id} state={self.state}{' done' if self.done else ''}>"
