"""A run session: the stage's machines, bound once, around one store and one venue.

The session is the host of the rollout, kill and gate instances: the actions
those specs name with provider `engine` (apply_stage, report_gate, notify,
record_rejection, flatten_all) are its methods. It relays the kill machine's
broadcasts to every other machine, as the kill spec's `broadcasts` require.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.diagnostics import Diagnostic, Pos, Severity, SpecError
from engine.domain import Domain
from engine.exec.execution import Execution
from engine.run.book import DomainBook
from engine.run.config import RunConfig
from engine.run.optin import Routing
from engine.runtime import (ActionContext, BoundMachine, Instance, Interpreter, Record,
                            ReplayClock, default_registry, missing_implementations)
from engine.spec.ir import SpecSet

MACHINES = ("rollout", "kill_modes", "model_promotion", "order", "bracket")


class RefusedToStart(Exception):
    """The run cannot start safely; the message says why and what to do."""


def load_specset(paths: list[str]) -> SpecSet:
    """The spec set to run; raises SpecError on any error `engine validate` reports (the same check)."""
    from engine.spec.validation import check_specs

    specs, diags = check_specs(paths)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    if errors:
        raise SpecError(errors)
    missing = missing_implementations(specs)
    if missing:
        raise RefusedToStart("specs name actions or guards with no implementation: " + ", ".join(missing))
    absent = [m for m in MACHINES if m not in specs.machines]
    if absent:
        raise SpecError([Diagnostic(Pos("specs"), Severity.ERROR, "UNRESOLVED_STATE",
                                    f"engine run needs machine `{m}`") for m in absent])
    return specs


def spec_hash(specs: SpecSet) -> str:
    h = hashlib.sha256()
    for name in sorted(specs.machines):
        h.update(f"{name}:{specs.machines[name].spec_hash};".encode())
    return h.hexdigest()[:16]


@dataclass
class Session:
    specs: SpecSet
    cfg: RunConfig
    stage: int
    routing: Routing
    run_dir: Path
    clock: ReplayClock
    store: Any
    venue: Any
    interp: Interpreter
    bound: dict[str, BoundMachine]
    books: dict[Domain, DomainBook] = field(default_factory=dict)
    kill: Instance | None = None
    rollout: Instance | None = None
    gates: dict[Domain, Instance] = field(default_factory=dict)
    execution: Execution | None = None
    ledger: Any = None
    gate_decisions: list[dict] = field(default_factory=list)
    kill_events: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    flatten_pending: bool = False
    _broadcasts: frozenset[str] | None = field(default=None, repr=False)

    # -- engine-provided actions (specs/catalogue.yaml provider `engine`) -----------
    def apply_stage(self, ctx: ActionContext, paper_wallet_usd: float, exploration_min: float,
                    exploration_max_chop: float) -> None:
        domains = self.specs.machines["rollout"].states[ctx.instance.state].attrs.get("domains", {})
        for name, mode in domains.items():
            routed = self.routing.modes.get(name, mode) if ctx.instance.state == f"stage_{self.stage}" else mode
            if routed == "off":
                continue
            dom = Domain(name)
            wallet = self.store.open_wallet(dom, routed, paper_wallet_usd, reason=f"{ctx.instance.state} activates {name}")
            if dom not in self.books:
                self.books[dom] = DomainBook(dom, routed, wallet.start_balance, wallet.balance, ctx.now,
                                             wallet.balance, wallet.balance)
        self.ledger.journal("stage", ctx.instance.state, {"domains": dict(domains), "exploration_min": exploration_min,
                                                         "exploration_max_chop": exploration_max_chop},
                            reason="apply_stage")

    def report_gate(self, ctx: ActionContext, phase: str, passed: bool) -> None:
        domain = ctx.instance.id.split(":", 1)[1]
        decision = {"ts": ctx.now, "domain": domain, "phase": phase, "passed": passed, "state": ctx.instance.state}
        self.gate_decisions.append(decision)
        self.ledger.journal("gate", domain, decision, reason=f"{phase} {'passed' if passed else 'failed'}")
        if passed and self.rollout is not None:
            self.send(self.rollout, "gate_passed", {"domain": domain, "phase": phase})

    def notify(self, ctx: ActionContext, text: str) -> None:
        self.notes.append(text)
        self.ledger.journal("notify", ctx.instance.id, {"text": text}, reason=text)

    def record_rejection(self, ctx: ActionContext, reason: str) -> None:
        self.ledger.journal("rejection", ctx.instance.id, {"event": ctx.event}, reason=reason)

    def flatten_all(self, ctx: ActionContext) -> None:
        # The kill_flatten broadcast makes every bracket close at market; `flattened`
        # goes back to the kill machine once nothing is open (see Runner.after_bar).
        self.flatten_pending = True

    # -- sending, with the kill broadcasts relayed ---------------------------------
    def send(self, inst: Instance, event: str, payload: dict | None = None,
             inputs: dict | None = None, cause: str = "") -> list[Record]:
        """`cause`: the operator's reason for a command's event, which the kill events it makes carry."""
        records = self.interp.send(inst, event, payload, inputs)
        if inst is self.kill:
            self._relay(records, cause)
        return records

    def _relay(self, records: list[Record], cause: str = "") -> None:
        if not records:
            return
        broadcasts = self._broadcasts
        if broadcasts is None:  # the specs are fixed for the session: the set is made once
            broadcasts = self._broadcasts = frozenset(self.specs.machines["kill_modes"].broadcasts)
        for r in records:
            if r.kind == "transition" and r.target is not None and r.target != r.source:
                self.kill_events.append({"ts": r.time, "from": r.source, "to": r.target, "event": r.event,
                                         "reason": cause or self._kill_reason(r)})
            if r.event in broadcasts and r.kind == "unhandled":
                for inst in [self.rollout, *self.gates.values()]:
                    if inst is not None and event_declared(inst, r.event):
                        self.interp.send(inst, r.event)
                if self.execution is not None:
                    self.execution.broadcast(r.event)

    def _kill_reason(self, r: Record) -> str:
        """Why the kill machine moved: what its spec says tripped it (ctx `tripped_by`: the rule,
        or `fault: ` and the fault's reason), else the event that moved it (`cooldown_elapsed`,
        `day_rolled`: a restriction lifted)."""
        tripped = self.kill.ctx.get("tripped_by") if self.kill is not None else None
        return tripped or r.event

    @property
    def entries_allowed(self) -> bool:
        return self.kill is not None and self.kill.has_tag("opens_risk")


def event_declared(inst: Instance, event: str) -> bool:
    return event in inst.bound.machine.events


def bind(specs: SpecSet, stage: int, env: str) -> dict[str, BoundMachine]:
    from engine.spec.params import effective_params

    return {name: BoundMachine.build(specs.machines[name], default_registry,
                                     effective_params(specs, name, stage=stage, env=env))
            for name in MACHINES}
