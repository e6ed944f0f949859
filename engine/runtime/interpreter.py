"""The interpreter: runs bound machines with the semantics of docs/spec-format.md.

Execution is returned as data: `send` and `advance` return the audit records of
the whole macro-step (and write them to the sink), so a caller, a test or a
replay sees exactly what was decided, from which values, at what time.
"""
from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from engine.diagnostics import Pos
from engine.runtime.audit import NO_INPUTS, AuditSink, Record, plain, record_from, set_dict
from engine.runtime.clock import Clock
from engine.runtime.compiled import SLOW, BoundAction, BoundMachine, Candidate, StateRt, Step
from engine.runtime.instance import Instance
from engine.runtime import snapshot as snap
from engine.spec.ir import EMPTY

_new = object.__new__  # record_from's way past the frozen __init__ (see audit.record_from)
_COMPACT_MIN = 1024  # heap entries before cancelled timers are worth sweeping out
_SCALARS = frozenset({int, float, str, bool, type(None)})  # guard inputs recorded as they are
# An action that raised: it, the phase (entry, exit, transition), where, and what it raised.
_Failure = tuple[BoundAction, str, str, Exception]
# deadline, seq (the arming's order: it breaks a tie in deadlines), a number no other entry has (so
# that a tie in both never compares instances), instance, key, event
_TimerEntry = tuple[float, int, int, Instance, tuple[str, int], str]


def _not_finite(v: Any) -> bool:
    """NaN or infinite; False for what is not a number (a guard comparing it raises, and says so)."""
    try:
        return not math.isfinite(v)
    except (TypeError, OverflowError):  # not a number, or missing; an int too large for a float
        return False
    except ValueError:  # Decimal's signalling NaN
        return True


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
        self._heap: list[_TimerEntry] = []
        self._seq = 0  # the next arming's number
        self._entries = itertools.count()
        self._live = 0  # pending (not cancelled) timers; the heap may also hold stale ones
        self._busy = False
        self._pending: deque = deque()  # sends made from inside a step, run after it
        # Called with each guard_error record as it is made: a host that must not trade on a
        # guard it cannot evaluate hears of it once, without reading every record it is handed.
        self.on_guard_error: Callable[[Record], None] | None = None

    # -- public API -------------------------------------------------------------

    def create(self, bound: BoundMachine, instance_id: str, ctx: Mapping[str, Any] | None = None,
               host: Any = None) -> Instance:
        """A new instance in its initial configuration (entry actions run, "init" recorded).

        Called from inside an action (an order created by a bracket's action, say), it is part
        of the running step: its records go to the sink and nothing else is run before it returns."""
        inst = Instance(bound, instance_id, bound.initial_leaf, bound.new_ctx(ctx), host,
                        bound.initial_done)
        if self._busy:
            self._init(inst, [])
        else:
            self._top(self._init, inst)
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
        # _top(_macro, ...) written out: this is the path every event takes.
        records: list[Record] = []
        queue: list = []
        inputs = inputs or EMPTY
        self._busy = True
        try:
            self._step(instance, event, payload or EMPTY, inputs, now, records, queue)
            if queue:
                self._drain(instance, queue, inputs, now, records)
            pending = self._pending
            while pending:
                self._macro(*pending.popleft(), records)
            return records
        except BaseException:
            self._pending.clear()  # drained on the way out, except when something raised
            raise
        finally:
            self._busy = False

    def send_because(self, instance: Instance, event: str, because: str, payload: Mapping[str, Any] | None = None,
                     inputs: Mapping[str, Any] | None = None) -> list[Record]:
        """`send` for an event a person caused (an operator command), from outside any step:
        `because` joins the reason of the transition the event fires in `instance`, so its
        audit record says why it moved, not only what moved it. `send` itself stays as it is."""
        if self._busy:  # the event would be queued, and run after this sink is gone
            raise RuntimeError("send_because() cannot be called from inside a step")
        sink = self.sink
        self.sink = _Because(sink, instance.id, event, because)
        try:
            return self.send(instance, event, payload, inputs)
        finally:
            self.sink = sink

    def advance(self, now: float | None = None) -> list[Record]:
        """Fire every timer due at `now` (default: the clock's time), in deadline order.

        Each timer event is processed at its own deadline (that is the record's time and
        the base of timers it starts), so one call may fire a chain of timers correctly.
        A timer that its own firing re-armed (a retry: a self-transition restarting it)
        fires once per call: the periods it missed up to `now` are coalesced, its next
        deadline the first of its period after `now`. A timer armed again by a later step
        (states handing over to each other by timers) is no retry and fires each time."""
        if self._busy:
            raise RuntimeError("advance() cannot be called from inside a step")
        now = self.clock.now() if now is None else now
        records: list[Record] = []
        heap = self._heap
        # (instance, timer) -> the deadline it fired at in this call, and the arming its own firing
        # left (a retry), if any: only that arming is coalesced; one a later step made (a chain
        # a -> b -> a) fires at its deadline, as a live run would fire it.
        fired: dict[tuple[int, tuple[str, int]], float] = {}
        retries: dict[tuple[int, tuple[str, int]], int] = {}
        while heap and heap[0][0] <= now:
            deadline, seq, _, inst, key, event = heapq.heappop(heap)
            timers = inst.timers
            if timers is None or timers.get(key, (0.0, -1))[1] != seq:
                continue  # cancelled on exit
            at = (id(inst), key)
            if retries.get(at) == seq:
                self._push(inst, key, _next_after(now, deadline, deadline - fired[at]), event)
                continue
            fired[at] = deadline
            del timers[key]
            if not timers:
                inst.timers = None
            self._live -= 1
            records += self._fire_timer(inst, key, event, deadline)
            if inst.timers and key in inst.timers:
                retries[at] = inst.timers[key][1]
        return records

    def _fire_timer(self, inst: Instance, key: tuple[str, int], event: str, deadline: float) -> list[Record]:
        reasons = inst.bound.timer_reasons.get(key)
        if reasons is None:  # its event fires no transition there
            return self._top(self._macro, inst, event, EMPTY, EMPTY, deadline)
        sink = self.sink
        self.sink = _Timed(sink, inst, event, reasons)
        try:
            return self._top(self._macro, inst, event, EMPTY, EMPTY, deadline)
        finally:
            self.sink = sink

    def next_deadline(self) -> float | None:
        """The earliest pending timer's deadline (a host's sleep target), or None."""
        heap, valid = self._heap, self._valid
        while heap and not valid(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def retire(self, instance: Instance) -> None:
        """The host forgets `instance`: its pending timers are cancelled and it is done (an
        event sent to it later is recorded as unhandled). No record is written."""
        if instance.timers:
            self._live -= len(instance.timers)
            instance.timers = None  # its heap entries are stale now (see _valid)
        instance.done = True

    def snapshot(self, instance: Instance) -> dict[str, Any]:
        return snap.to_data(instance)

    def restore(self, bound: BoundMachine, data: Mapping[str, Any], host: Any = None, *,
                allow_spec_change: bool = False) -> Instance:
        """Rebuild an instance from `snapshot` data; its timers rejoin this interpreter.
        No entry actions run and no record is written: the instance resumes, it does not start."""
        state, ctx, timers = snap.check(bound, data, allow_spec_change)
        inst = Instance(bound, str(data["id"]), state, ctx, host, state in bound.done_leaves)
        for s, i, deadline, seq in timers:
            event = next(ev for j, ev, _ in bound.states[s].timers if j == i)
            if seq is None:  # a snapshot from before timers kept their number: armed now
                self._push(inst, (s, i), deadline, event)
            else:  # its saved number: timers due at once fire in the order they were armed
                self._push(inst, (s, i), deadline, event, seq)
                self._seq = max(self._seq, seq + 1)
        return inst

    # -- run-to-completion --------------------------------------------------------
    # The common path is short on purpose: send -> _step -> _fire, the guards and arguments in
    # their fast forms (compiled.FastForm), a Step only when an action runs.

    def _top(self, fn: Callable[..., None], *args: Any) -> list[Record]:
        """`fn(*args, records)` from outside any step, then the sends its actions made."""
        records: list[Record] = []
        self._busy = True
        try:
            fn(*args, records)
            pending = self._pending
            while pending:
                self._macro(*pending.popleft(), records)
            return records
        except BaseException:
            self._pending.clear()
            raise
        finally:
            self._busy = False

    def _init(self, inst: Instance, records: list[Record]) -> None:
        bound = inst.bound
        queue: list = []
        now = self.clock.now()
        step = Step(bound, inst, "", EMPTY, EMPTY, now, queue) if bound.initial_acts else None
        fail = self._enter(inst, bound.initial_entering, step, None, now) if bound.initial_entering else None
        if fail:
            self._record(records, inst, None, inst.state, "", now, "action_error", self._why(fail))
            self._raise_action_error(inst, "", None, None, fail, records)
        self._emit(records, inst, bound.init_record.copy(), now)
        if queue:
            self._drain(inst, queue, EMPTY, now, records)

    def _macro(self, inst: Instance, event: str, payload: Mapping[str, Any], inputs: Mapping[str, Any],
               now: float, records: list[Record]) -> None:
        """One event and the events its actions raise (they are queued in `queue`)."""
        queue: list = []
        self._step(inst, event, payload, inputs, now, records, queue)
        if queue:
            self._drain(inst, queue, inputs, now, records)

    def _drain(self, inst: Instance, queue: list, inputs: Mapping[str, Any], now: float,
               records: list[Record]) -> None:
        # Raised events keep the inputs of the send that caused them: one macro-step, one world view.
        while queue:
            event, payload = queue.pop(0)
            self._step(inst, event, payload, inputs, now, records, queue)

    def _step(self, inst: Instance, event: str, payload: Mapping[str, Any], inputs: Mapping[str, Any],
              now: float, records: list[Record], queue: list) -> None:
        bound = inst.bound
        if inst.done:
            self._record(records, inst, inst.state, None, event, now, "unhandled", "instance is done")
            return
        cands = bound.table.get((inst.state, event))
        if cands is None:
            if event in bound.sampled:
                return None  # a sample where no transition takes it decides nothing either
            if event in bound.events:
                return self._emit(records, inst, bound.unhandled[(inst.state, event)].copy(), now)
            self._record(records, inst, inst.state, None, event, now, "unhandled",
                         f"`{event}` ignored by `{bound.name}` (`ignores`)" if event in bound.machine.ignores
                         else f"event `{event}` is not declared by `{bound.name}`")
            return
        numbers = bound.numbers.get(event)
        if numbers is not None:  # written out, not a call: every report a venue sends comes this way
            for f in numbers:
                v = payload.get(f)
                if (v - v != 0.0) if v.__class__ is float else _not_finite(v):  # NaN/inf minus itself is NaN
                    return self._refuse(records, inst, event, payload, numbers, now)
        ctx = inst.ctx
        step = None  # made when a guard needs the general way or an action runs
        for cand in cands:
            test = cand.test
            if test is None:
                break
            try:
                ok = test(ctx, payload, inputs)
                if ok is SLOW:
                    if step is None:
                        step = Step(bound, inst, event, payload, inputs, now, queue)
                    ok = eval(cand.guard, bound.globals, step.env())  # noqa: S307 - compiled from a checked AST
                if ok:
                    break
            except Exception as e:  # noqa: BLE001 - fail closed: a raising guard is false
                r = self._record(records, inst, inst.state, cand.transition.target, event, now, "guard_error",
                                 f"guard `{cand.guard_src}` raised {type(e).__name__}: {e} "
                                 f"({cand.transition.guard.pos if cand.transition.guard else ''})",
                                 self._reads(cand, inst, payload, inputs))
                if self.on_guard_error is not None:
                    self.on_guard_error(r)
        else:
            if event in bound.sampled:
                return None  # a sampled measurement that passes no guard is not a decision
            return self._emit(records, inst, self._refused_by_guards(bound, inst, event, payload, inputs, cands), now)
        self._fire(inst, cand, event, payload, inputs, now, records, queue, step)

    def _fire(self, inst: Instance, cand: Candidate, event: str, payload: Mapping[str, Any],
              inputs: Mapping[str, Any], now: float, records: list[Record], queue: list,
              step: Step | None) -> None:
        record = cand.record.copy()  # its source is the leaf the candidate is seen from: inst.state
        if cand.guard_reads:
            reads = cand.read(inst.ctx, payload, inputs)
            if reads is SLOW:
                reads = self._reads(cand, inst, payload, inputs)
            record["guard_inputs"] = reads
        if cand.acts and step is None:
            step = Step(inst.bound, inst, event, payload, inputs, now, queue)
        fail = None
        for st in cand.leaving:
            if st.timers:
                self._cancel(inst, st)
            if st.exit and fail is None:
                fail = self._run(st.exit, step, "exit", st.name)
        if fail is None:
            for a in cand.actions:  # _run written out: most transitions that act do it here
                try:
                    a.run(step)
                except Exception as e:  # noqa: BLE001 - reported as ActionError after recording
                    fail = a, "transition", f"transition at {cand.transition.pos}", e
                    break
        inst.state = cand.leaf
        inst.done = cand.done
        if cand.entering:
            fail = self._enter(inst, cand.entering, step, fail, now)
        if fail:
            source, target = record["source"], record["target"]
            self._record(records, inst, source, target, event, now, "action_error", self._why(fail),
                         record["guard_inputs"])
            self._raise_action_error(inst, event, source, target, fail, records)
        self._emit(records, inst, record, now)

    def _enter(self, inst: Instance, states: tuple[StateRt, ...], step: Step | None, fail: _Failure | None,
               now: float) -> _Failure | None:
        """Entry actions outermost first; timers start even if an action failed, so the
        instance's timers always match its state."""
        for st in states:
            if st.entry and fail is None:
                fail = self._run(st.entry, step, "entry", st.name)
            if st.timers:
                for i, event, delay in st.timers:
                    self._push(inst, (st.name, i), now + delay, event)
        return fail

    @staticmethod
    def _run(actions: tuple[BoundAction, ...], step: Step, phase: str, where: str | Pos) -> _Failure | None:
        """`where`: the state's name, or the transition's position (formatted only on failure)."""
        for a in actions:
            try:
                a.run(step)
            except Exception as e:  # noqa: BLE001 - reported as ActionError after recording
                return a, phase, where if isinstance(where, str) else f"transition at {where}", e
        return None

    @staticmethod
    def _why(fail: _Failure | None) -> str:
        if not fail:
            return ""
        a, phase, where, e = fail
        return f"action `{a.name}` ({phase}, {where}) raised {type(e).__name__}: {e}"

    def _raise_action_error(self, inst: Instance, event: str, source: str | None, target: str | None,
                            fail: _Failure, records: list[Record]) -> None:
        a, phase, where, e = fail
        self._pending.clear()
        raise ActionError(inst, event, source, target, a.name, phase, where, records) from e

    def _refuse(self, records: list[Record], inst: Instance, event: str, payload: Mapping[str, Any],
                numbers: tuple[str, ...], now: float) -> None:
        """Refuse an event whose payload holds a number that is NaN or infinite. Every guard
        comparing one is false, so the event would fall through to a later transition, or an
        unguarded one would carry it into ctx: no transition is tried, and a guard_error record
        says which field (the host hears of it as of any guard error)."""
        bad = {f"event.{f}": repr(v) for f in numbers if _not_finite(v := payload.get(f))}
        where = inst.bound.machine.events[event].pos
        r = self._record(records, inst, inst.state, None, event, now, "guard_error",
                         f"payload {', '.join(f'`{k}` = {v}' for k, v in bad.items())} is not a finite number: "
                         f"`{event}` refused, no transition tried (declared at {where})", bad)
        if self.on_guard_error is not None:
            self.on_guard_error(r)

    def _refused_by_guards(self, bound: BoundMachine, inst: Instance, event: str, payload: Mapping[str, Any],
                           inputs: Mapping[str, Any], cands: tuple[Candidate, ...]) -> dict[str, Any]:
        """The unhandled record of an event every guard refused, with the values those guards read:
        what held it back (a gate's KPIs against its thresholds) is then in the audit trail too."""
        record = bound.unhandled[(inst.state, event)].copy()
        reads: dict[str, Any] = {}
        for cand in cands:
            if cand.guard_reads:
                reads.update(self._reads(cand, inst, payload, inputs))
        if reads:
            record["guard_inputs"] = reads
        return record

    @staticmethod
    def _reads(cand: Candidate, inst: Instance, payload: Mapping[str, Any],
               inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The values the guard reads, as plain data (the general way of `Candidate.read`)."""
        out = {}
        for path, root, fields in cand.guard_reads:
            cur = (inst.ctx if root == "ctx" else payload if root == "event"
                   else inst.bound.params if root == "params" else inputs.get(root))
            for f in fields:  # a missing field reads as None
                cur = cur.get(f) if isinstance(cur, Mapping) else getattr(cur, f, None)
            out[path] = cur if type(cur) in _SCALARS else plain(cur)
        return out

    def _emit(self, records: list[Record], inst: Instance, record: dict[str, Any], now: float) -> None:
        """The Record of `record`, a copy of a bound template (audit.record_template) it then owns."""
        record["instance_id"] = inst.id
        record["time"] = now
        r = _new(Record)
        set_dict(r, record)
        records.append(r)
        self.sink.write(r)

    def _record(self, records: list[Record], inst: Instance, source: str | None, target: str | None,
                event: str, now: float, kind: str, reason: str, reads: Mapping[str, Any] = NO_INPUTS) -> Record:
        bound = inst.bound
        # NO_INPUTS rather than EMPTY: a dict the JSON encoder writes natively, without a fallback call.
        r = record_from({"machine": bound.name, "instance_id": inst.id, "source": source, "target": target,
                         "event": event, "guard_inputs": reads or NO_INPUTS, "time": now,
                         "spec_hash": bound.spec_hash, "kind": kind, "reason": reason})
        records.append(r)
        self.sink.write(r)
        return r

    # -- timers ----------------------------------------------------------------------

    def _push(self, inst: Instance, key: tuple[str, int], deadline: float, event: str,
              seq: int | None = None) -> None:
        if seq is None:
            seq = self._seq
            self._seq = seq + 1
        if inst.timers is None:
            inst.timers = {}
        if key not in inst.timers:
            self._live += 1
        inst.timers[key] = (deadline, seq)
        heapq.heappush(self._heap, (deadline, seq, next(self._entries), inst, key, event))

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
    def _valid(entry: _TimerEntry) -> bool:
        _, seq, _, inst, key, _ = entry
        return inst.timers is not None and inst.timers.get(key, (0.0, -1))[1] == seq


class _Because:
    """The sink of a `send_because`: the first transition of `event` in instance `iid` whose
    record is about to be written gets the person's reason (after the guard that held, if any)."""

    __slots__ = ("inner", "iid", "event", "because")

    def __init__(self, inner: AuditSink, iid: str, event: str, because: str):
        self.inner, self.iid, self.event, self.because = inner, iid, event, because

    def write(self, r: Record) -> None:
        if self.because and r.kind == "transition" and r.instance_id == self.iid and r.event == self.event:
            # Before anything reads it: the record is made with this reason, as if bound so.
            set_dict(r, {**r.__dict__, "reason": f"{r.reason}; {self.because}" if r.reason else self.because})
            self.because = ""
        self.inner.write(r)

    def flush(self) -> None:
        self.inner.flush()


class _Timed:
    """The sink of a timer's firing: the record of what its event did in its instance (the first
    transition or unhandled one) gets, if a transition, its reason saying which timer fired
    (BoundMachine.timer_reasons, bound at load: a lookup, no text built here)."""

    __slots__ = ("inner", "inst", "event", "reasons")

    def __init__(self, inner: AuditSink, inst: Instance, event: str, reasons: Mapping[str, str]):
        self.inner, self.inst, self.event, self.reasons = inner, inst, event, reasons

    def write(self, r: Record) -> None:
        reasons = self.reasons
        if (reasons and r.event == self.event and r.instance_id == self.inst.id
                and r.machine == self.inst.bound.name and r.kind in ("transition", "unhandled")):
            self.reasons = None
            reason = reasons.get(r.reason) if r.kind == "transition" else None
            if reason is not None:  # before anything reads it, as _Because does
                set_dict(r, {**r.__dict__, "reason": reason})
        self.inner.write(r)

    def flush(self) -> None:
        self.inner.flush()


def _next_after(now: float, deadline: float, period: float) -> float:
    """The first deadline of `period` (from `deadline`) later than `now`."""
    if period <= 0:
        return math.nextafter(now, math.inf)
    return deadline + period * ((now - deadline) // period + 1)
