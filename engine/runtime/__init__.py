"""The runtime: bind IR machines to code once, then run many cheap instances.

    bound = BoundMachine.build(machine, default_registry, params)
    interp = Interpreter(ReplayClock(t0), JsonlSink("audit.jsonl"))
    inst = interp.create(bound, "order-42", host=handle)  # host: what the spec's hosted actions call
    records = interp.send(inst, "filled", {"qty": 1.0}, inputs={"kpi": {...}})
    interp.advance()                     # fire due timers
    data = interp.snapshot(inst)         # plain JSON-able data
    inst = interp.restore(bound, data, host=handle)

See docs/interpreter.md for the semantics and the measured performance.
"""
from engine.runtime.audit import AuditSink, FanoutSink, JsonlSink, ListSink, NullSink, Record
from engine.runtime.clock import Clock, ReplayClock, WallClock
from engine.runtime.compiled import BindError, BoundMachine, parse_duration
from engine.runtime.instance import Instance
from engine.runtime.interpreter import ActionError, Interpreter
from engine.runtime.registry import (PROVIDER_MODULES, ActionContext, Registry, default_registry,
                                     import_providers, missing_implementations)
from engine.runtime.snapshot import SnapshotError

__all__ = [
    "ActionContext", "ActionError", "AuditSink", "BindError", "BoundMachine", "Clock", "FanoutSink",
    "Instance", "Interpreter", "JsonlSink", "ListSink", "NullSink", "PROVIDER_MODULES", "Record",
    "Registry", "ReplayClock", "SnapshotError", "WallClock", "default_registry", "import_providers",
    "missing_implementations", "parse_duration",
]
