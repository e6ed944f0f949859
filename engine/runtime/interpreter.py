"""The interpreter: runs bound machines with the semantics of docs/spec-format.md.

Execution is returned as data: `send` and `advance` return the audit records of
the whole macro-step (and write them to the sink), so a caller, a test or a
replay sees exactly what was decided, from which values, at what time.
"""
from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Mapping
from typing import Any

from engine.diagnostics import Pos
from engine.runtime.audit import NO_INPUTS, AuditSink, Record, plain
from engine.runtime.clock import Clock
from engine.runtime.compiled import BoundAction, BoundMachine, Candidate, StateRt, Step
from engine.runtime.instance import Instance
from engine.runtime import snapshot as snap
from engine.spec.ir import EMPTY

_COMPACT_MIN = 1024  # heap entries before cancelled timers are worth sweeping out
_SCALARS = frozenset({int, float, str, bool, type(None)})  # guard inputs recorded as they are


class ActionError(RuntimeError):
    """An action raised. The transition was completed structurally (see docs/interpreter.md):
    the instance is in `state`, its timers match that state, the actions after the failing
    one were skipped and the events queued in this macro-step were dropped."""

    def __init__(self, instance: Instance, event: str, source: str | None, target: str | None,
                 action: str, phase: str, where: str, records: list[Record]):
        machine, instance_id, state = instance.bound.name, instance.id, instance.state
        self.instance = instance  # also how `create` hands over an instance whose entry failed
        self.machine = machine
        self.instance_id = instance_id
        self.event = event
        self.source = source
        self.target = target
        self.action = action
        self.phase = phase
        self.where = where
        self.state = state
        self.records = records
        arrow = f"{source} -> {target or '(targetless)'}"
        super().__init__(f"{machine}[{instance_id}]: action `{action}` ({phase}, {where}) failed "
                         f"on event `{event or '(init)'}` {arrow}; instance is now in `{state}`")


class Interpreter:
    """Runs instances of bound machines against one clock and one audit sink."""

    def __init__(self, clock: Clock, sink: AuditSink):
        self.clock = clock
        self.sink = sink
        self._heap: list[tuple[float, int, Instance, tuple[str, int], str]] = []
        self._seq = itertools.count()
        self._live = 0  # pending (not cancelled) timers; the heap may also hold stale ones
        self._busy = False
        self._pending: deque = deque()  # sends made from inside a step, run after it

    # -- public API -------------------------------------------------------------

    def create(self, bound: BoundMachine, instance_id: str, ctx: Mapping[str, Any] | None = None,
               host: Any = None) -> Instance:
        """A new instance in its initial configuration (entry actions run, "init" recorded)."""
        inst = Instance(bound, instance_id, bound.initial_leaf, bound.new_ctx(ctx), host,
                        bound.initial_done)
        self._guarded(self._init, inst)
        return inst

    def send(self, instance: Instance, event: str, payload: Mapping[str, Any] | None = None,
             inputs: Mapping[str, Any] | None = None) -> list[Record]:
        """Process `event` run-to-completion; returns every record of the macro-step.

        Called from inside an action (a step is running), the event is queued and
        processed once the running step is done; this call then returns []."""
        now = self.clock.now()
        if self._busy:
            self._pending.append((instance, event, payload or EMPTY, inputs or EMPTY, now))
            return []
        return self._guarded(self._drain, instance, deque(((event, payload or EMPTY),)), inputs or EMPTY, now)

    def advance(self, now: float | None = None) -> list[Record]:
        """Fire every timer due at `now` (default: the clock's time), in deadline order.

        Each timer event is processed at its own deadline (that is the record's time and
        the base of timers it starts), so one call may fire a chain of timers correctly."""
        if self._busy:
            raise RuntimeError("advance() cannot be called from inside a step")
        now = self.clock.now() if now is None else now
        records: list[Record] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, seq, inst, key, event = heapq.heappop(heap)
            timers = inst.timers
            if timers is None or timers.get(key, (0.0, -1))[1] != seq:
                continue  # cancelled on exit
            del timers[key]
            if not timers:
                inst.timers = None
            self._live -= 1
            records += self._guarded(self._drain, inst, deque(((event, EMPTY),)), EMPTY, deadline)
        return records

    def next_deadline(self) -> float | None:
        """The earliest pending timer's deadline (a host's sleep target), or None."""
        while self._heap and not self._valid(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def snapshot(self, instance: Instance) -> dict[str, Any]:
        return snap.to_data(instance)

    def restore(self, bound: BoundMachine, data: Mapping[str, Any], host: Any = None, *,
                allow_spec_change: bool = False) -> Instance:
        """Rebuild an instance from `snapshot` data; its timers rejoin this interpreter.
        No entry actions run and no record is written: the instance resumes, it does not start."""
        state, ctx, timers = snap.check(bound, data, allow_spec_change)
        inst = Instance(bound, str(data["id"]), state, ctx, host, state in bound.done_leaves)
        for s, i, deadline in timers:
            self._push(inst, (s, i), deadline, next(ev for j, ev, _ in bound.states[s].timers if j == i))
        return inst

    # -- run-to-completion --------------------------------------------------------

    def _guarded(self, fn, *args):
        self._busy = True
        try:
            records: list[Record] = []
            out = fn(*args, records)
            while self._pending:
                inst, event, payload, inputs, now = self._pending.popleft()
                self._drain(inst, deque(((event, payload),)), inputs, now, records)
            return records if out is None else out
        finally:
            self._busy = False
            self._pending.clear()

    def _init(self, inst: Instance, records: list[Record]) -> Instance:
        bound = inst.bound
        queue: deque = deque()
        step = Step(bound, inst, "", EMPTY, EMPTY, self.clock.now(), queue)
        fail = self._enter(inst, bound.initial_entries, step, None)
        self._record(records, inst, None, inst.state, "", EMPTY, step.now,
                     "action_error" if fail else "init", self._why(fail))
        if fail:
            self._raise_action_error(inst, "", None, None, fail, records)
        self._drain(inst, queue, EMPTY, step.now, records)
        return inst

    def _drain(self, inst: Instance, queue: deque, inputs: Mapping[str, Any], now: float,
               records: list[Record]) -> None:
        # Raised events keep the inputs of the send that caused them: one macro-step, one world view.
        while queue:
            event, payload = queue.popleft()
            self._step(inst, event, payload, inputs, now, records, queue)

    def _step(self, inst: Instance, event: str, payload: Mapping[str, Any], inputs: Mapping[str, Any],
              now: float, records: list[Record], queue: deque) -> None:
        bound = inst.bound
        if inst.done:
            return self._record(records, inst, inst.state, None, event, EMPTY, now, "unhandled",
                                "instance is done")
        cands = bound.table.get((inst.state, event))
        if cands is None:
            why = (f"no transition for `{event}` from `{inst.state}`" if event in bound.events
                   else f"event `{event}` is not declared by `{bound.name}`")
            return self._record(records, inst, inst.state, None, event, EMPTY, now, "unhandled", why)
        step = Step(bound, inst, event, payload, inputs, now, queue)
        g = bound.globals
        for cand in cands:
            if cand.guard is None:
                break
            try:
                if eval(cand.guard, g, step.env()):  # noqa: S307 - compiled from a checked AST
                    break
            except Exception as e:  # noqa: BLE001 - fail closed: a raising guard is false
                self._record(records, inst, inst.state, cand.transition.target, event,
                             self._reads(cand, step), now, "guard_error",
                             f"guard `{cand.guard_src}` raised {type(e).__name__}: {e} "
                             f"({cand.transition.guard.pos if cand.transition.guard else ''})")
        else:
            if bound.machine.events[event].sampled:
                return None  # a sampled measurement that passes no guard is not a decision
            return self._record(records, inst, inst.state, None, event, EMPTY, now, "unhandled",
                                f"no enabled transition for `{event}` from `{inst.state}` (guards false)")
        self._fire(inst, cand, step, records)

    def _fire(self, inst: Instance, cand: Candidate, step: Step, records: list[Record]) -> None:
        reads = self._reads(cand, step) if cand.guard_reads else EMPTY
        source = inst.state
        fail = None
        for st in cand.exits:
            if st.timers:
                self._cancel(inst, st)
            if st.exit and fail is None:
                fail = self._run(st.exit, step, "exit", st.name)
        if cand.actions and fail is None:
            fail = self._run(cand.actions, step, "transition", cand.transition.pos)
        inst.state = cand.leaf
        inst.done = cand.done
        fail = self._enter(inst, cand.entries, step, fail)
        target = None if cand.transition.target is None else cand.leaf
        self._record(records, inst, source, target, step.event, reads, step.now,
                     "action_error" if fail else "transition", self._why(fail) or cand.guard_src)
        if fail:
            self._raise_action_error(inst, step.event, source, target, fail, records)

    def _enter(self, inst: Instance, states: tuple[StateRt, ...], step: Step, fail):
        """Entry actions outermost first; timers start even if an action failed, so the
        instance's timers always match its state."""
        for st in states:
            if st.entry and fail is None:
                fail = self._run(st.entry, step, "entry", st.name)
            if st.timers:
                for i, event, delay in st.timers:
                    self._push(inst, (st.name, i), step.now + delay, event)
        return fail

    @staticmethod
    def _run(actions: tuple[BoundAction, ...], step: Step, phase: str, where: str | Pos):
        """`where`: the state's name, or the transition's position (formatted only on failure)."""
        for a in actions:
            try:
                a.run(step)
            except Exception as e:  # noqa: BLE001 - reported as ActionError after recording
                return a, phase, where if isinstance(where, str) else f"transition at {where}", e
        return None

    @staticmethod
    def _why(fail) -> str:
        if not fail:
            return ""
        a, phase, where, e = fail
        return f"action `{a.name}` ({phase}, {where}) raised {type(e).__name__}: {e}"

    def _raise_action_error(self, inst, event, source, target, fail, records) -> None:
        a, phase, where, e = fail
        self._pending.clear()
        raise ActionError(inst, event, source, target, a.name, phase, where, records) from e

    @staticmethod
    def _reads(cand: Candidate, step: Step) -> dict[str, Any]:
        out = {}
        for path, root, fields in cand.guard_reads:
            cur = step.root(root)
            for f in fields:  # a missing field reads as None
                cur = cur.get(f) if isinstance(cur, Mapping) else getattr(cur, f, None)
            out[path] = cur if type(cur) in _SCALARS else plain(cur)
        return out

    def _record(self, records: list[Record], inst: Instance, source: str | None, target: str | None,
                event: str, reads: Mapping[str, Any], now: float, kind: str, reason: str) -> None:
        bound = inst.bound
        # NO_INPUTS rather than EMPTY: a dict the JSON encoder writes natively, without a fallback call.
        r = Record(bound.name, inst.id, source, target, event, reads or NO_INPUTS, now, bound.spec_hash,
                   kind, reason)
        records.append(r)
        self.sink.write(r)

    # -- timers ----------------------------------------------------------------------

    def _push(self, inst: Instance, key: tuple[str, int], deadline: float, event: str) -> None:
        seq = next(self._seq)
        if inst.timers is None:
            inst.timers = {}
        if key not in inst.timers:
            self._live += 1
        inst.timers[key] = (deadline, seq)
        heapq.heappush(self._heap, (deadline, seq, inst, key, event))

    def _cancel(self, inst: Instance, st: StateRt) -> None:
        timers = inst.timers
        if timers is None:
            return
        for i, _, _ in st.timers:
            if timers.pop((st.name, i), None) is not None:
                self._live -= 1
        if not timers:
            inst.timers = None
        heap = self._heap
        if len(heap) > _COMPACT_MIN and len(heap) > 4 * self._live:
            # Cancelled entries are skipped lazily; sweep them once they dominate the heap.
            self._heap = [e for e in heap if self._valid(e)]
            heapq.heapify(self._heap)

    @staticmethod
    def _valid(entry) -> bool:
        _, seq, inst, key, _ = entry
        return inst.timers is not None and inst.timers.get(key, (0.0, -1))[1] == seq
