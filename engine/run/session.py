"""A run session: the machines, bound once per stage, around one store and one venue.

The session is the host of the rollout, kill and gate instances: the actions
those specs name with provider `engine` (apply_stage, report_gate, restate_gate,
recall_gates, notify, record_rejection, flatten_all) are its methods. It relays the kill machine's
broadcasts to every other machine, as the kill spec's `broadcasts` require: every
broadcast event the kill machine processes (raised by its own actions, whatever it
does with it itself: nothing, a targetless transition, a transition) is relayed once.
A guard of any machine of the run that raises is taken as false by the interpreter;
the session then raises `fault` to the kill machine (fail closed: its spec goes
close-only), naming the machine, the guard and the error.

It also makes the rollout's state govern the run. Whenever the rollout enters a
state, that state's `domains` (routed by the run's opt-in: engine/run/optin.py)
decide which domains take new entries (a domain `off`, or whose book trades
another mode, takes none; its open positions keep their stops and may exit), and
the stage the rollout names in ctx.stage picks the bound machines, so that a
promoted stage's overrides apply. A transition into a state with a live leg the
run has no opt-in for is refused before it is made.
"""
from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from engine.diagnostics import Diagnostic, Severity, SpecError, sort_key
from engine.domain import Domain
from engine.exec.execution import Execution
from engine.run.book import DomainBook
from engine.run.config import RunConfig, with_specs
from engine.run.currency import WalletCurrency
from engine.run.held import HeldFiles
from engine.run.optin import Routing
from engine.run.report import run_spec_hash
from engine.runtime import (PROVIDER_MODULES, ActionContext, BoundMachine, Instance, Interpreter, ListSink, Record,
                            ReplayClock, default_registry)
from engine.spec.contract import MACHINES, OPENS_RISK_TAG, stage_state, stages_of
from engine.spec.files import contracts_path
from engine.spec.ir import SpecSet

# The kill machine's records of a broadcast event that it processed (it raised the event; a
# guard_error record only says a guard of its own was false, the event's record follows).
_PROCESSED = frozenset({"transition", "unhandled"})
OPERATOR = "operator"  # who causes a command's event; also the reason `engine kill` etc. post by default


def operator_cause(cause: str) -> str:
    """The reason an operator's command gives the transitions it fires: `operator: <text>`, or
    the operator alone for the default text (not "operator: operator")."""
    return OPERATOR if cause == OPERATOR else f"{OPERATOR}: {cause}"


class RefusedToStart(Exception):
    """The run cannot start safely; the message says why and what to do."""


def load_specset(paths: list[str]) -> SpecSet:
    """The spec set to run; raises SpecError on any error `engine validate` reports (the same check,
    with the engine's contract applied even to a set that is not a whole spec tree with a rollout),
    and on a guard or action some machine uses that no provider implements (UNIMPLEMENTED)."""
    return check_specset(paths)[0]


def check_specset(paths: list[str]) -> tuple[SpecSet, list[Diagnostic]]:
    """load_specset, with the warnings `engine validate` prints for the set (a run shows them)."""
    from engine.spec.lint._context import Context
    from engine.spec.lint.implemented import unimplemented
    from engine.spec.validation import check_specs

    specs, diags = check_specs(paths, for_run=True)
    errors = [d for d in diags if d.severity is Severity.ERROR]
    if errors:
        raise SpecError(errors)
    # validate checked the light providers only; the run imports every provider it uses
    missing = sorted(unimplemented(Context(specs), PROVIDER_MODULES), key=sort_key)
    if missing:
        raise SpecError(missing)
    return specs, sorted(diags, key=sort_key)


def allowlist_names(specs: SpecSet) -> tuple[str, ...]:
    """The entries of the set's allowlists document (kind: allowlists), which the run config's
    `strategy.allowlist` may name; none when the set has no such document."""
    docs = [specs.extra[n] for n, kind in specs.extra_kinds.items() if kind == "allowlists"]
    return tuple(name for doc in docs for name in doc.strategies)


# The ML documents a run's entries are filtered by (engine/run/signals.py ml_spec): allowlists,
# regimes, exploration, the ensemble of two models, the active set. The `ml` filter spec is
# not among them: a run builds a model's features from its manifest, never from that spec.
RUN_ML_KINDS = ("allowlists", "ensemble", "exploration", "regime", "selection")


def spec_hashes(specs: SpecSet, cfg: RunConfig) -> dict[str, str]:
    """What a run's decisions are made from, each hashed: every machine's spec file (by name),
    the risk spec (`risk`: trade sizes, limits, brackets), the overrides that can apply to the
    run (`overrides`: its env's, and every stage's, since a promotion switches to that stage's
    parameters mid-run), the strategy config (`strategy`: the run config's `strategy` section
    and the bytes of the strategy file it names), each ML spec the run reads (RUN_ML_KINDS,
    by kind, as validated) and the paper venue's contract catalogue (`contracts`: its lot steps
    and minimum notionals size and refuse entries)."""
    cfg = with_specs(cfg, None, specs)
    out = {name: m.spec_hash for name, m in specs.machines.items()}
    out["risk"] = specs.extra["risk"].run_hash()  # `engine diff` prints it for the risk file
    for kind in RUN_ML_KINDS:
        docs = [specs.extra[n].model_dump(mode="json") for n, k in sorted(specs.extra_kinds.items()) if k == kind]
        if docs:
            out[kind] = _digest(docs)
    applied = [_digest([o.scope, o.key, o.values]) for o in specs.overrides  # what they set, not where
               if o.scope == "stage" or (o.scope, o.key) == ("env", cfg.env)]
    out["overrides"] = _digest(sorted(applied))
    # The strategy spec by its bytes, not by where it lies or how the config named it: the same
    # --specs copied elsewhere trades the same (as each machine hashes its spec's content).
    out["strategy"] = _digest({"config": cfg.strategy.model_dump(mode="json", exclude={"spec", "file"}),
                               "file": _file_hash(Path(cfg.strategy.file))})
    out["contracts"] = _file_hash(contracts_path())
    return out


def spec_hash(specs: SpecSet, cfg: RunConfig) -> str:
    """The one hash a run's journal rows carry: of every part `spec_hashes` names, joined as
    report.json's `spec_hash` documents (engine/run/report.py `run_spec_hash`)."""
    return run_spec_hash(spec_hashes(specs, cfg))


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _plain(value: Any) -> Any:
    """Frozen mappings (override values) as dicts; anything else as its text."""
    return dict(value) if hasattr(value, "items") else str(value)


def _file_hash(path: Path) -> str:
    """The file's sha256, or where it was looked for: a run that read no such file (its series
    were given) still names the file its config says."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError as e:
        return f"unreadable {path}: {e.strerror}"


class _Inert:
    """The host of a dry run: every engine action does nothing."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


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
    # Each domain's wallet currency and USD rate (engine/run/currency.py): the USD figures of the
    # specs (the paper wallet, the risk thresholds) are converted at it.
    currencies: dict[Domain, WalletCurrency] = field(default_factory=dict)
    kill: Instance | None = None
    rollout: Instance | None = None
    gates: dict[Domain, Instance] = field(default_factory=dict)
    execution: Execution | None = None
    ledger: Any = None
    decider: Any = None  # engine/run/decide.py: explores at the rates apply_stage passes
    gate_decisions: list[dict] = field(default_factory=list)
    kill_events: list[dict] = field(default_factory=list)
    # What a `risk_update` trip adds to its kill event's reason: the worst domain and its fraction
    # of each measure the firing guard read (Runner._worst_domain, given the record's guard_inputs),
    # as the spec's inputs carry the fraction alone.
    kill_detail: Callable[[Mapping[str, Any]], str] | None = None
    notes: list[str] = field(default_factory=list)
    untradable: list = field(default_factory=list)  # engine/run/preflight.py: symbols the opening wallets never trade
    # Domains whose wallets apply_stage opened since the last untradable check, with the rollout
    # state that opened them: a promotion's are checked when it lands (Runner._check_opened).
    opened: list[tuple[Domain, str]] = field(default_factory=list)
    flatten_pending: bool = False
    refused: str = ""  # why the last event sent to the rollout was refused ("" if it was not)
    stages: dict[int, dict[str, BoundMachine]] = field(default_factory=dict)  # bind_stages: per stage, at load
    held: HeldFiles | None = None  # the store's and the venue's files, checked at each checkpoint
    modes: dict[str, str | None] = field(default_factory=dict)  # domain -> routed mode of the rollout's state
    # (from time, stage, rollout state): whose rules applied from then on; activation starts it, a
    # promotion, a demotion by the kill switch and a reinstatement add one (state None: an older checkpoint's).
    stage_log: list[tuple[float, int, str | None]] = field(default_factory=list)
    _broadcasts: frozenset[str] | None = field(default=None, repr=False)
    _demotions: frozenset[str] | None = field(default=None, repr=False)  # rollout states a kill broadcast enters
    _applied: str | None = field(default=None, repr=False)  # the rollout state `modes` and `bound` follow
    _blocked: dict[Domain, tuple[str, dict]] = field(default_factory=dict, repr=False)  # domain -> why none, numbers

    def __post_init__(self) -> None:
        self.interp.on_guard_error = self._guard_failed

    # -- engine-provided actions (specs/catalogue.yaml provider `engine`) -----------
    def apply_stage(self, ctx: ActionContext, paper_wallet_usd: float, exploration_min: float,
                    exploration_max_chop: float) -> None:
        state = ctx.instance.state
        spec = self.domains_of(state)
        routed = self.routed(state)
        if self.decider is not None:  # the rates exploration uses from now on: these arguments, as journaled
            self.decider.use_rates(exploration_min, exploration_max_chop)
        funded = {}
        for name, mode in routed.items():
            dom = Domain(name)
            if mode in (None, "off") or dom in self.books:  # a book keeps its wallet; see _sync_rollout
                continue
            funded[name] = funding = {"usd": paper_wallet_usd, **self.currencies[dom].as_dict()}
            amount = self.currencies[dom].from_usd(paper_wallet_usd)
            # One amount for both: the venue's account first (it may refuse), then the store's wallet.
            self.venue.fund(dom, amount)
            wallet = self.store.open_wallet(dom, mode, amount, reason=f"{state} activates {name}", detail=funding)
            self.books[dom] = DomainBook(dom, mode, wallet.start_balance, wallet.balance, ctx.now,
                                         wallet.balance, wallet.balance)
            self.opened.append((dom, state))
        # What the run trades (a live leg routed to paper by --paper says paper) beside what the spec says,
        # and each wallet it opened: its USD amount, currency and the rate between them.
        self.ledger.journal("stage", state, {"domains": {d: m or "off" for d, m in routed.items()},
                                             "spec_domains": dict(spec), "exploration_min": exploration_min,
                                             "exploration_max_chop": exploration_max_chop, "wallets": funded},
                            reason="apply_stage")

    def report_gate(self, ctx: ActionContext, phase: str, passed: bool) -> None:
        decision = self._gate_row(ctx, phase, passed, f"{phase} {'passed' if passed else 'failed'}")
        self.gate_decisions.append(decision)

    def restate_gate(self, ctx: ActionContext, phase: str) -> None:
        # Journaled, not a gate decision: the gate decided this when it passed; the rollout asked again.
        self._gate_row(ctx, phase, True, f"{phase} still passed (asked again)", restated=True)

    def _gate_row(self, ctx: ActionContext, phase: str, passed: bool, reason: str, **extra: Any) -> dict:
        """Journal a gate's report (kind `gate`) and relay it to the rollout: a pass as gate_passed,
        a degrade (the only report that does not pass) as gate_withdrawn."""
        domain = ctx.instance.id.split(":", 1)[1]
        row = {"ts": ctx.now, "domain": domain, "phase": phase, "passed": passed, "state": ctx.instance.state, **extra}
        self.ledger.journal("gate", domain, row, reason=reason)
        if self.rollout is not None:
            self.send(self.rollout, "gate_passed" if passed else "gate_withdrawn", {"domain": domain, "phase": phase})
        return row

    def recall_gates(self, ctx: ActionContext) -> None:
        for gate in self.gates.values():
            if event_declared(gate, "recall"):
                self.send(gate, "recall")

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
        if inst is self.rollout:
            twin = self._preview(event, payload, inputs)
            refused = self.refused = self._unroutable(twin)
            if refused:
                self.ledger.journal("rejection", inst.id, {"event": event, "state": inst.state},
                                    reason=f"not applied: {refused}")
                return []
            self._switch_stage(twin.ctx.get("stage", self.stage), f"rollout {inst.state} -> {twin.state}")
        held_by = inst.ctx.get("tripped_by") if inst is self.kill else None
        if cause:
            records = self.interp.send_because(inst, event, operator_cause(cause), payload, inputs)
        else:
            records = self.interp.send(inst, event, payload, inputs)
        if inst is self.kill:
            self._relay(records, cause)
            self._note_takeover(records, held_by, cause)
        else:
            self._sync_rollout()
        return records

    def _relay(self, records: list[Record], cause: str = "") -> None:
        """Relay the kill broadcasts in `records`; then the rollout's state governs the run (a
        broadcast demotes it; Runner.step passes the records of due timers here too)."""
        if records:
            self._broadcast(records, cause)
        self._sync_rollout()

    def _broadcast(self, records: list[Record], cause: str) -> None:
        broadcasts = self._broadcasts
        if broadcasts is None:  # the specs are fixed for the session: the set is made once
            broadcasts = self._broadcasts = frozenset(self.specs.machines["kill_modes"].broadcasts)
        for r in records:
            if r.kind == "transition" and r.target is not None and r.target != r.source:
                reason = cause or self._kill_reason(r)
                if r.event == "risk_update" and self.kill_detail is not None:
                    reason += self.kill_detail(r.guard_inputs)
                self.kill_events.append({"ts": r.time, "from": r.source, "to": r.target, "event": r.event,
                                         "reason": reason})
                # At the transition's time: a timer's fires at its deadline, inside the bar whose
                # close the ledger's clock reads (the audit record and report.json say the same).
                self.ledger.journal("kill", r.target, {"from": r.source, "to": r.target, "event": r.event},
                                    reason=reason, ts=r.time)
            if r.event in broadcasts and r.kind in _PROCESSED:
                for inst in [self.rollout, *self.gates.values()]:
                    if inst is not None and event_declared(inst, r.event):
                        self.interp.send(inst, r.event)
                if self.execution is not None:
                    self.execution.broadcast(r.event)

    def _note_takeover(self, records: list[Record], held_by: str | None, cause: str) -> None:
        """A kill event for a change of who holds the mode without a change of mode (an operator's
        close-only over a daily-loss one): what lifts it changed (the day roll no longer does), and
        the report's last kill event must not say otherwise."""
        kill = self.kill
        moved = [r for r in records if r.kind == "transition" and r.target is not None and r.target != r.source]
        now_by = kill.ctx.get("tripped_by")
        if moved or now_by == held_by or not records:
            return
        r = records[-1]
        reason = f"held by {now_by}, was {held_by or 'nobody'}" + (f" ({operator_cause(cause)})" if cause else "")
        self.kill_events.append({"ts": r.time, "from": kill.state, "to": kill.state, "event": r.event,
                                 "reason": reason})
        self.ledger.journal("kill", kill.state, {"from": kill.state, "to": kill.state, "event": r.event,
                                                 "tripped_by": now_by, "was": held_by}, reason=reason)

    def _guard_failed(self, r: Record) -> None:
        """The interpreter took a raising guard as false. A run must not trade on a rule it cannot
        evaluate: the kill machine hears `fault` (close-only in its spec), like any fault execution
        cannot resolve, once the current batch is done (Runner._raise_faults); one per error."""
        reason = f"guard error in {r.machine} `{r.instance_id}` on `{r.event}`: {r.reason}"
        ex = self.execution
        if ex is not None and reason not in ex.faults:
            ex.fault(reason, key=r.instance_id)

    def _kill_reason(self, r: Record) -> str:
        """Why the kill machine moved: what its spec says tripped it (ctx `tripped_by`: the rule,
        or `fault: ` and the fault's reason), else the event that moved it (`cooldown_elapsed`,
        `day_rolled`: a restriction lifted)."""
        tripped = self.kill.ctx.get("tripped_by") if self.kill is not None else None
        return tripped or r.event

    @property
    def usd_rates(self) -> dict[str, float]:
        """Domain -> USD per unit of its wallet's currency: what the risk chain converts the risk
        spec's USD thresholds at."""
        return {d.value: c.usd_rate for d, c in self.currencies.items()}

    @property
    def entries_allowed(self) -> bool:
        return self.kill is not None and self.kill.has_tag(OPENS_RISK_TAG)

    # -- the rollout's state governs the run --------------------------------------------
    def domains_of(self, state: str) -> dict[str, str]:
        """The spec's `domains` of a rollout state (domain -> off | paper | live)."""
        return dict(self.specs.machines["rollout"].states[state].attrs.get("domains", {}))

    def routed(self, state: str) -> dict[str, str | None]:
        """A rollout state's domains as this run trades them (off, paper, live; None: live
        without the opt-in this run lacks)."""
        return self.routing.state_modes(self.stage, state, self.domains_of(state))

    def gate_of(self, state: str, stage: int) -> str | None:
        """The gate machine that governs promotion out of rollout state `state`: its `gate:`, else
        that of the stage it belongs to (`stage_N`, N = the rollout's ctx.stage: a confirm or
        demoted state waits on its stage's gate), else none (nothing gates it)."""
        states = self.specs.machines["rollout"].states
        own = states[state].gate
        if own is not None:
            return own
        home = states.get(stage_state(stage))
        return home.gate if home is not None else None

    def spec_hashes(self) -> dict[str, str]:
        """What this run's decisions are made from, hashed part by part (see `spec_hashes`)."""
        return spec_hashes(self.specs, self.cfg)

    def stage_at(self, ts: float) -> int:
        """The stage whose rules applied at time `ts` (the start stage before the log begins). A
        change is logged at the time of the bar it was taken after, so that bar is the old stage's
        last, as the report's equity split counts it (kpi.py): an entry decided there, before an
        `engine promote` applied between bars, was opened by the old stage's rules."""
        log = self.stage_log
        if len(log) < 2:  # a run that never moved
            return log[0][1] if log else self.stage
        i = bisect.bisect_left(log, ts, key=lambda e: e[0]) - 1
        return log[max(i, 0)][1]

    def _log_stage(self) -> None:
        """A new entry when the stage changes (ctx.stage: whose parameters apply), and when the kill
        switch demotes the rollout or the operator reinstates it (the stage stays; the demoted state's
        domains trade). The rollout's initial state comes before `activate`: no stage applies there."""
        ro = self.rollout
        if ro.bound.machine.states[ro.state].initial:
            return
        stage, demoted = int(ro.ctx.get("stage", self.stage)), self._demoted(ro.state)
        last = self.stage_log[-1] if self.stage_log else None
        if last is None or last[1] != stage or self._demoted(last[2]) != demoted:
            self.stage_log.append((self.clock.now(), stage, ro.state))

    def _demoted(self, state: str | None) -> bool:
        """Is `state` one a kill broadcast moves the rollout to (its spec's demotion)?"""
        if self._demotions is None:  # the specs are fixed for the session: the set is made once
            broadcasts = self.specs.machines["kill_modes"].broadcasts
            self._demotions = frozenset(t.target for t in self.specs.machines["rollout"].transitions
                                        if t.event in broadcasts and t.target is not None)
        return state in self._demotions

    def entry_block(self, dom: Domain) -> tuple[str, dict]:
        """Why the rollout's state lets `dom` open no new position now ("" if it may), and the
        figures a refusal records: the rollout's state, the domain's mode there and its book's."""
        self._sync_rollout()
        return self._blocked.get(dom, ("", {}))

    def _preview(self, event: str, payload: dict | None, inputs: dict | None) -> Instance:
        """Where the rollout would be after `event`: a dry run on a copy of the instance (the
        engine's own selection; guards real, actions inert)."""
        ro = self.rollout
        scratch = Interpreter(ReplayClock(self.clock.now()), ListSink())
        twin = scratch.restore(ro.bound, self.interp.snapshot(ro), host=_Inert())
        scratch.send(twin, event, payload, inputs)
        return twin

    def _switch_stage(self, stage: int, why: str) -> None:
        """Stage `stage`'s machines from now on, before the rollout enters the state: its entry
        actions (apply_stage: the paper wallet, exploration) read that stage's parameters."""
        changed = self.use_stage(stage)
        if changed:
            self.ledger.journal("params", f"stage_{stage}", changed, reason=f"{why}: stage {stage}'s parameters apply")

    def _unroutable(self, twin: Instance) -> str:
        """Why the rollout must not enter the state `twin` reached ("" if it may): that state
        has a live leg this run has no opt-in for."""
        ro = self.rollout
        if twin.state == ro.state:
            return ""
        legs = [d for d, m in self.routed(twin.state).items()
                if m is None]
        if not legs:
            return ""
        return (f"{twin.state} trades {', '.join(legs)} live, and this run was started without the live opt-in "
                f"and without --paper: the rollout stays in `{ro.state}`. Restart the run with --paper (live "
                "legs on the paper venue) or with the triple opt-in to run that stage")

    def _sync_rollout(self) -> None:
        """After the rollout moved: apply its new state's domains and its stage's bound machines,
        each change journaled with its reason."""
        ro = self.rollout
        if ro is None or ro.state == self._applied:
            return
        before, self._applied = self._applied, ro.state
        spec = self.domains_of(ro.state)
        modes = self.routed(ro.state)
        for name, mode in modes.items():
            old = self.modes.get(name, "off")
            if mode != old:
                self.ledger.journal("domain", name, {"from": old, "to": mode or "off", "state": ro.state},
                                    reason=f"rollout {before} -> {ro.state}: {_why(name, mode, spec[name])}")
        self.modes = modes
        self._blocked = self._blocks()
        if before is not None:
            self._restart_canaries(before, spec)
        self._switch_stage(ro.ctx.get("stage", self.stage), f"rollout {before} -> {ro.state}")  # unless send did
        self._log_stage()
        self._follow_gate(ro)

    def _restart_canaries(self, before: str, spec: dict[str, str]) -> None:
        """Risk spec `sizing.canary.restart_on_live`: each domain this rollout move turns live in
        the spec starts its canary again (a --paper run rehearses the live leg as it would trade)."""
        if not self.specs.extra["risk"].sizing.canary.restart_on_live:
            return
        was, now = self.domains_of(before), self.clock.now()
        for name, mode in spec.items():
            book = self.books.get(Domain(name))
            if mode == "live" and was.get(name) != "live" and book is not None and book.restart_canary(now):
                self.ledger.journal("canary", name, {"from_trades": book.trades, "state": self._applied},
                                    reason=f"rollout {before} -> {self._applied}: {name} turns live, its canary "
                                           "starts again (risk sizing.canary.restart_on_live)")

    def _follow_gate(self, ro: Instance) -> None:
        """Each domain with a book has an instance of the gate the rollout's state names (a domain
        a promotion activated gets one; a stage gated by another machine replaces them: the old
        ones are retired, so that no timer of theirs reports a pass any more)."""
        gate = self.gate_of(ro.state, ro.ctx.get("stage", self.stage))
        if gate is None:
            return
        for dom in self.books:
            old = self.gates.get(dom)
            if old is not None and old.bound.name == gate:
                continue
            if old is not None:
                self.interp.retire(old)
                self.ledger.journal("gate_machine", dom.value, {"from": old.bound.name, "to": gate},
                                    reason=f"rollout `{ro.state}` is gated by {gate}")
            self.gates[dom] = self.interp.create(self.bound[gate], f"gate:{dom.value}", host=self)

    def _blocks(self) -> dict[Domain, tuple[str, dict]]:
        out = {}
        state = self._applied
        for dom, book in self.books.items():
            mode = self.modes.get(dom.value, "off")
            numbers = {"state": state, "domain": dom.value, "mode": "live, no opt-in" if mode is None else mode,
                       "book": book.mode}
            if mode is None:
                out[dom] = (f"rollout `{state}` trades {dom.value} live, and this run has no live opt-in for it", numbers)
            elif mode == "off":
                out[dom] = (f"rollout `{state}` has {dom.value} off", numbers)
            elif mode != book.mode:
                out[dom] = (f"rollout `{state}` trades {dom.value} {mode}; its book here is {book.mode}", numbers)
        return out

    def use_stage(self, stage: int) -> dict[str, dict]:
        """Every instance runs on `stage`'s bound machines from now on (its parameter overrides):
        the session's, the execution's new and open orders and brackets. Bound at load. Returns
        the parameters that changed: {machine: {name: [old, new]}}."""
        new = self.stages.get(stage)
        if new is None or new is self.bound:
            return {}
        changed = {}
        for name, b in new.items():
            was = self.bound[name].params
            diff = {p: [was[p], v] for p, v in b.params.items() if was[p] != v}
            if diff:
                changed[name] = diff
        self.bound = new
        for inst in (self.kill, self.rollout, *self.gates.values()):
            if inst is not None:
                inst.bound = new[inst.bound.name]
        ex = self.execution
        if ex is not None:
            ex.order_machine, ex.bracket_machine = new["order"], new["bracket"]
            for o in ex.orders.values():
                o.instance.bound = new["order"]
            for b in ex.brackets.values():
                b.instance.bound = new["bracket"]
        return changed

    def follow_rollout(self) -> None:
        """The rollout instance just made (its initial state) or restored from a checkpoint
        governs the run from now on; nothing changed, so nothing is journaled."""
        ro = self.rollout
        self._applied = ro.state
        self.modes = self.routed(ro.state)
        self._blocked = self._blocks()
        self.use_stage(ro.ctx.get("stage", self.stage))
        self._log_stage()  # a resumed run's log came with its checkpoint


def _why(domain: str, mode: str | None, spec_mode: str) -> str:
    if mode is None:
        return f"{domain} is live there, and this run has no live opt-in for it: no new entries"
    if mode == "off":
        return f"{domain} is off: no new entries; its open positions keep their stops and may exit"
    if mode != spec_mode:
        return f"{domain} is {spec_mode} there; this run trades it {mode} (--paper)"
    return f"{domain} trades {mode}"


def event_declared(inst: Instance, event: str) -> bool:
    return event in inst.bound.machine.events


def hosted_machines(specs: SpecSet) -> tuple[str, ...]:
    """Every machine a run of `specs` may host: those the engine creates (ENGINE_CONTRACT) and the
    gate machine of each rollout state (a stage may name a gate of its own)."""
    rollout = specs.machines["rollout"]
    return tuple(dict.fromkeys([*MACHINES, *(s.gate for s in rollout.states.values() if s.gate is not None)]))


def bind_stages(specs: SpecSet, env: str) -> dict[int, dict[str, BoundMachine]]:
    """Every stage's machines, bound once at load: a stage-scoped override applies from the
    moment the rollout enters its stage. Stages with equal parameters share one binding. Each
    binding's hosted actions are checked against its host's class here (host_problems): an
    order's handle exists only once an order is sent, a gate's host once its stage starts."""
    from engine.exec.handles import BracketHandle, OrderHandle
    from engine.runtime.compiled import BindError
    from engine.runtime.hosted import host_problems
    from engine.spec.params import effective_params

    hosts: dict[str, type] = {"order": OrderHandle, "bracket": BracketHandle}  # the rest are the session's

    rollout = specs.machines["rollout"]
    stages = stages_of(rollout)
    names = hosted_machines(specs)
    built: dict[tuple[str, str], BoundMachine] = {}
    problems: dict[Diagnostic, None] = {}  # every stage's binding of a spec finds the same ones
    out = {}
    for stage in stages:
        out[stage] = {}
        for name in names:
            params = effective_params(specs, name, stage=stage, env=env)
            key = (name, repr(sorted(params.items())))
            if key not in built:
                built[key] = BoundMachine.build(specs.machines[name], default_registry, params, specs.catalogue)
                problems.update(dict.fromkeys(host_problems(built[key], hosts.get(name, Session))))
            out[stage][name] = built[key]
    if problems:
        raise BindError(sorted(problems, key=sort_key))
    return out
