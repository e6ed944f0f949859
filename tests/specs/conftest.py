"""Drive the real specs with the real loader and interpreter on a ReplayClock.

Every catalogue action is bound to a recording stub (a test double: tests only),
so a test sees which actions ran, with which arguments, in which order.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.diagnostics import Severity
from engine.runtime import (BoundMachine, Interpreter, ListSink, Record, Registry, ReplayClock, default_registry,
                            missing_implementations)
from engine.spec.ir import SpecSet
from engine.spec.loader import load_specs
from engine.spec.params import effective_params

ROOT = Path(__file__).resolve().parents[2] / "specs"
OWNED = [ROOT / d for d in ("rollout", "orders", "gates", "kill", "overrides")] + [ROOT / "catalogue.yaml"]
T0 = 1_700_000_000.0


def _recording_registry(specset: SpecSet) -> Registry:
    """Actions recorded, not run; guard functions are the real ones (pure functions)."""
    reg = Registry()
    missing_implementations(specset)  # imports the guards' provider modules
    for name in specset.catalogue.guards:
        reg.guard(name)(default_registry.guards[name])
    for name in specset.catalogue.actions:
        def stub(actx: Any, _name: str = name, **args: Any) -> None:
            actx.host.calls.append((_name, args))
        reg.action(name)(stub)
    return reg


class Harness:
    """One instance of one machine, with its clock, its records and the actions it called."""

    def __init__(self, specset: SpecSet, machine: str, *, stage: int | None = None,
                 env: str | None = None, ctx: dict | None = None, params: dict | None = None):
        self.clock = ReplayClock(T0)
        self.sink = ListSink()
        self.interp = Interpreter(self.clock, self.sink)
        values = {**effective_params(specset, machine, stage=stage, env=env), **(params or {})}
        self.bound = BoundMachine.build(specset.machines[machine], _recording_registry(specset), values)
        self.calls: list[tuple[str, dict]] = []
        self.inst = self.interp.create(self.bound, f"{machine}-1", ctx=ctx, host=self)

    @property
    def state(self) -> str:
        return self.inst.state

    @property
    def ctx(self) -> dict:
        return self.inst.ctx

    @property
    def params(self) -> dict:
        return dict(self.bound.params)

    def send(self, event: str, inputs: dict | None = None, **payload: Any) -> list[Record]:
        return self.interp.send(self.inst, event, payload, inputs)

    def wait(self, seconds: float) -> list[Record]:
        self.clock.advance(seconds)
        return self.interp.advance()

    def states(self) -> list[str]:
        """The state after every record so far (init and transitions), in order, deduplicated."""
        out: list[str] = []
        for r in self.sink.records:
            if r.kind in ("init", "transition") and r.target and (not out or out[-1] != r.target):
                out.append(r.target)
        return out

    def called(self, name: str) -> list[dict]:
        return [args for n, args in self.calls if n == name]


@pytest.fixture(scope="session")
def specset() -> SpecSet:
    ss, diags = load_specs(OWNED)
    errors = [d.text() for d in diags if d.severity is Severity.ERROR]
    assert not errors, "\n".join(errors)
    return ss


@pytest.fixture
def machine(specset):
    def make(name: str, **kw: Any) -> Harness:
        return Harness(specset, name, **kw)
    return make
