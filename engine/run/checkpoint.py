"""Checkpoints: everything a replay needs to resume after a crash, committed at once.

A checkpoint holds the bar cursor, the domain books, the order and bracket
handles and a snapshot of every live machine instance, in ONE store
transaction; then the venue's catch-up log is acknowledged. After a crash the
engine restores the last checkpoint and re-processes the bars after it; the
engine is deterministic, the venue answers those repeated calls from its
catch-up log, and the store's writes are idempotent (intents by
client_order_id, fills by fill_id), so nothing is lost and nothing doubles.
Closed trades and equity points (with their exploration shares) are journaled;
those written after the checkpoint are ignored on resume and re-created by the
re-processed bars.
"""
from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from itertools import repeat
from typing import Any

from engine.domain import Domain, Fill, OrderRequest, OrderType, Role, Side
from engine.exec.handles import BracketHandle, OrderHandle
from engine.run.book import DomainBook
from engine.run.keys import CHECKPOINT_KEY
from engine.run.kpi import RunningKpis
from engine.run.result import ClosedTrade
from state.control import Command
from state.ledger import Book as Position

# Keys that do not change what the replay does: where the store and the outputs live (a resume
# may find them by other means: --db, ENGINE_DB_URL, the saved run dir), and how long the replay
# holds for the operator (a command it takes is journaled at its row like any other).
CONFIG_PLACES = frozenset({"db", "runs_dir", "operator_wait_s"})
# Which strategy spec the config names and where it lies: the spec hash holds what it says
# (session.spec_hashes), and a resume checks that, so the same specs moved elsewhere still resume.
RESOLVED = frozenset({"strategy.spec", "strategy.file"})


def config_digest(cfg: Any) -> dict[str, str]:
    """{dotted key: hash of its value} of the effective run config. Hashes, not values: whatever a
    config holds (a venue key one day) never reaches the store, yet a changed key can be named."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):  # an empty one adds nothing: setting a key in it names that key
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif prefix not in CONFIG_PLACES | RESOLVED:
            flat[prefix] = value

    walk("", cfg.model_dump(mode="json"))
    return {k: hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()[:16] for k, v in flat.items()}


def config_changes(saved: dict[str, str], cfg: Any) -> list[str]:
    """The config keys whose value differs from the saved digest's (added or removed ones too)."""
    now = config_digest(cfg)
    return sorted(k for k in (saved.keys() - RESOLVED) | now.keys() if saved.get(k) != now.get(k))


def plain(obj: Any) -> Any:
    if isinstance(obj, Enum):
        return obj.value
    if dataclasses.is_dataclass(obj):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [plain(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    return obj


def request(d: dict) -> OrderRequest:
    return OrderRequest(**{**d, "side": Side(d["side"]), "type": OrderType(d["type"]), "role": Role(d["role"]),
                           "tags": tuple(d["tags"])})


def fill(d: dict) -> Fill:
    return Fill(**{**d, "side": Side(d["side"])})


# -- books --------------------------------------------------------------------------
def book_data(b: DomainBook) -> dict:
    return {"domain": b.domain.value, "mode": b.mode, "start_balance": b.start_balance, "balance": b.balance,
            "activated_ts": b.activated_ts, "peak_equity": b.peak_equity, "day_start_equity": b.day_start_equity,
            "day_risk": b.day_risk,
            "positions": {s: plain(p) for s, p in b.positions.items()}, "marks": b.marks,
            "multipliers": b.multipliers, "recent": [list(x) for x in b.recent],
            "trades": b.trades, "wins": b.wins, "win_sum": b.win_sum, "losses": b.losses, "loss_sum": b.loss_sum,
            "marked_ts": b.marked_ts, "canary_from": b.canary_from, "exploited": b.exploited}


def book_from(d: dict) -> DomainBook:
    b = DomainBook(Domain(d["domain"]), d["mode"], d["start_balance"], d["balance"], d["activated_ts"],
                   d["peak_equity"], d["day_start_equity"], d["day_risk"])
    b.positions = {s: Position(**p) for s, p in d["positions"].items()}
    b.marks, b.multipliers = dict(d["marks"]), dict(d["multipliers"])
    b.trades, b.wins, b.win_sum, b.losses, b.loss_sum = d["trades"], d["wins"], d["win_sum"], d["losses"], d["loss_sum"]
    b.recent.extend(tuple(x) for x in d["recent"])
    b.marked_ts = d.get("marked_ts")  # (absent from older checkpoints: the gate's next close waits for a bar)
    b.canary_from = d.get("canary_from", 0)  # (absent from older checkpoints: no restart yet)
    b.exploited = d.get("exploited", b.trades)  # (absent from older checkpoints: their canary counted every trade)
    return b


# -- handles ------------------------------------------------------------------------
def order_data(o: OrderHandle) -> dict:
    return {"request": plain(o.request), "domain": o.domain.value, "bracket": o.bracket.id if o.bracket else None}


def bracket_data(b: BracketHandle) -> dict:
    return {"id": b.id, "symbol": b.symbol, "domain": b.domain.value, "side": b.side.value,
            "strategy": b.strategy, "ts": b.ts, "tags": list(b.tags), "entry": b.entry.id if b.entry else None,
            "legs": {k: o.id for k, o in b.legs.items()}, "exits": [o.id for o in b.exits],
            "entry_fills": plain(b.entry_fills), "exit_fills": plain(b.exit_fills),
            "exit_reason": b.exit_reason, "exit_whys": b.exit_whys, "funding": b.funding, "nonce": b.nonce,
            "extra": b.extra, **({"close_faulted": True} if b.close_faulted else {})}


def restore_handles(execution: Any, orders: list[dict], brackets: list[dict], snapshots: dict,
                    closing: Sequence[dict] = ()) -> None:
    """Rebuild handles and their machine instances (timers rejoin the interpreter); `closing`:
    brackets whose machine closed while an order of theirs still worked (Execution.closing)."""
    interp = execution.interp
    bmap: dict[str, BracketHandle] = {}
    waiting = {d["id"] for d in closing}
    for d in (*brackets, *closing):
        b = BracketHandle(execution, d["id"], d["symbol"], Domain(d["domain"]), Side(d["side"]), d["strategy"],
                          d["ts"], tuple(d["tags"]), exit_reason=d["exit_reason"],
                          exit_whys=d.get("exit_whys", {}), funding=d.get("funding", 0.0), nonce=d["nonce"],
                          extra=d["extra"], close_faulted=d.get("close_faulted", False))
        b.entry_fills = [fill(f) for f in d["entry_fills"]]
        b.exit_fills = [fill(f) for f in d["exit_fills"]]
        b.instance = interp.restore(execution.bracket_machine, snapshots["bracket"][b.id], host=b)
        bmap[b.id] = b
        (execution.closing if b.id in waiting else execution.brackets)[b.id] = b
    for d in orders:
        req = request(d["request"])
        o = OrderHandle(execution, req, Domain(d["domain"]), bmap.get(d["bracket"]))
        o.instance = interp.restore(execution.order_machine, snapshots["order"][req.client_order_id], host=o)
        execution.orders[req.client_order_id] = o
    for d in (*brackets, *closing):
        b = bmap[d["id"]]
        b.entry = execution.orders.get(d["entry"]) if d["entry"] else None
        b.legs = {k: execution.orders[i] for k, i in d["legs"].items() if i in execution.orders}
        b.exits = [execution.orders[i] for i in d["exits"] if i in execution.orders]
        for f in (*b.entry_fills, *b.exit_fills):  # what each order has booked (OrderHandle.fill_ids)
            o = execution.orders.get(f.client_order_id)
            if o is not None:
                o.fill_ids.add(f.fill_id)


def trade_from(d: dict) -> ClosedTrade:
    return ClosedTrade(**d)


# -- save and load ------------------------------------------------------------------
def save(runner: Any, take_commands: bool = False) -> None:
    """Checkpoint the run; `take_commands`: claim the operator's waiting commands in the same
    transaction, saved as taken and not yet applied (Runner.poll_commands)."""
    ses = runner.session
    if ses.held is not None:
        ses.held.check()
    store, interp, ex = ses.store, ses.interp, ses.execution
    sync = getattr(ses.venue, "sync", None)  # a durable paper venue: its call count joins the checkpoint
    venue_calls = sync() if sync is not None else 0
    mark = getattr(interp.sink, "mark", None)  # a file trail: its length joins the checkpoint
    audit_offset = mark() if mark is not None else None
    at = (runner.bars, ses.clock.now(), venue_calls, audit_offset, runner._held)
    if _unchanged(runner, at, take_commands):
        return
    with _collector_paused(), store.atomic():
        if take_commands:
            runner.taken += store.take_commands()
        ses.ledger.flush(ses.books.values(), ex.orders.values())
        seq = store.journal("equity", "points", runner._equity_pending.payload())
        ledger_rows = ses.ledger.state()
        store.put_json(CHECKPOINT_KEY, {
            "cursor": runner.bars, "clock": ses.clock.now(), "venue_calls": venue_calls, "audit_offset": audit_offset,
            "journal_seq": seq, "stage": ses.stage, "stage_log": ses.stage_log,
            "day": runner._day,  # each domain's start of day and peak are its book's
            "rejections": runner.rejections, "seq": ex._seq, "refused": ex.refused, "decider": runner.decider.state(),
            "ledger": ledger_rows, "gate_kpis": {d.value: k.state() for d, k in runner.gate_kpis.items()},
            "last_risk_equity": runner._last_risk_equity, "flatten_pending": ses.flatten_pending,
            "gate_decisions": ses.gate_decisions, "kill_events": ses.kill_events,
            "books": [book_data(b) for b in ses.books.values()], "gates": [d.value for d in ses.gates],
            "orders": [order_data(o) for o in ex.orders.values()],
            "brackets": [bracket_data(b) for b in ex.brackets.values()],
            # Only when one waits: a checkpoint without stays as it was (load reads it as none).
            **({"closing": [bracket_data(b) for b in ex.closing.values()]} if ex.closing else {}),
            **({"commands": plain(runner.taken)} if runner.taken else {}),
            **({"disagreed": [[*k, v] for k, v in runner.disagreed.items()]} if runner.disagreed else {}),
            **({"opened_ahead": sorted(runner.opened_ahead)} if runner.opened_ahead else {}),
            # The rollout state the replay finished holding for the operator: a resume holds again
            # only for one it had not (a kill during the hold, whose checkpoint comes before it).
            **({"held": runner._held} if runner._held else {})})
        store.save_snapshots((inst.bound.name, inst.id, inst.bound.machine.spec_hash, interp.snapshot(inst))
                             for inst in [ses.kill, ses.rollout, *ses.gates.values(),
                                          *(b.instance for b in ex.brackets.values()),
                                          *(b.instance for b in ex.closing.values()),
                                          *(o.instance for o in ex.orders.values())])
    store.commit()
    runner._equity_pending.clear()
    runner.saved = (at, store.units)
    ack = getattr(ses.venue, "ack", None)
    if ack is not None:
        # A crash before this ack is safe: a resumed venue skips to `venue_calls` first.
        ack(venue_calls)


def _unchanged(runner: Any, at: tuple, take_commands: bool) -> bool:
    """Nothing happened since the last checkpoint, which was of this very row (a run whose last
    row is a checkpoint's ends with another): a second one would only repeat it, with an empty
    equity row. Known only where the audit trail is a file whose length says no machine moved, and
    the store took no write since (an applied command's effect: the checkpoint claiming it must
    not stay the last, or a resume applies it again)."""
    return (runner.saved == (at, runner.session.store.units) and at[3] is not None and not take_commands
            and not runner._equity_pending.ts and not runner.session.ledger.pending)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A checkpoint builds a parameter tuple for every fact since the last one (10^5 at once),
    short-lived and acyclic: the cycle collector, set off by their count alone, ran ~70 times
    during a 100k-bar checkpoint to free ~100 objects (the next collection frees them now);
    ~20% of that checkpoint's time."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def load(runner: Any, data: dict) -> None:
    """Restore a runner (and its session) from checkpoint data, inside a freshly assembled run."""
    ses = runner.session
    store, interp, ex = ses.store, ses.interp, ses.execution
    # The open orders and brackets the checkpoint names, not every one the run ever saved.
    saved = {"kill_modes": None, "rollout": None,
             "order": [d["request"]["client_order_id"] for d in data["orders"]],
             "bracket": [d["id"] for d in (*data["brackets"], *data.get("closing", ()))]}
    snaps = {m: {i: row.data for i, row in store.load_snapshots(m, ids).items()} for m, ids in saved.items()}
    ses.kill = interp.restore(ses.bound["kill_modes"], snaps["kill_modes"]["kill"], host=ses)
    ses.rollout = interp.restore(ses.bound["rollout"], snaps["rollout"]["rollout"], host=ses)
    ses.books = {Domain(d["domain"]): book_from(d) for d in data["books"]}
    gate = ses.gate_of(ses.rollout.state, ses.rollout.ctx.get("stage", ses.stage))  # the machine its gates run
    gates = {i: row.data for i, row in store.load_snapshots(gate).items()} if data["gates"] else {}
    ses.gates = {Domain(d): interp.restore(ses.bound[gate], gates[f"gate:{d}"], host=ses) for d in data["gates"]}
    ses.gate_decisions, ses.kill_events = list(data["gate_decisions"]), list(data["kill_events"])
    ses.flatten_pending = data["flatten_pending"]
    ses.stage_log = [(float(e[0]), int(e[1]), e[2] if len(e) > 2 else None) for e in data.get("stage_log", ())]
    restore_handles(ex, data["orders"], data["brackets"], snaps, data.get("closing", []))
    ex._seq, ex.refused = data["seq"], data.get("refused", 0)
    runner.bars, runner._day = data["cursor"], data["day"]
    runner.resumed_at_bar = runner.bars  # this process's share of `bars` (its report's rate) starts here
    runner.rejections = dict(data["rejections"])
    runner.decider.load(data["decider"])
    ses.ledger.load(data["ledger"])
    runner.gate_kpis = {Domain(d): RunningKpis.restored(k) for d, k in data["gate_kpis"].items()}
    runner._last_risk_equity = data["last_risk_equity"]
    runner.taken = [Command(**c) for c in data.get("commands", ())]
    runner.disagreed = {(d, s): text for d, s, text in data.get("disagreed", ())}
    runner.opened_ahead = set(data.get("opened_ahead", ()))
    runner._held = data.get("held")
    upto = data["journal_seq"]
    store.replaying(upto)
    runner.trades = [trade_from(e.payload) for e in store.journal_entries("trade") if e.seq < upto]
    for e in store.journal_entries("equity"):
        if e.seq <= upto:
            shares = e.payload.get("explored") or repeat(0.0)  # (absent: every share was 0.0)
            for (dom, t, eq), x in zip(e.payload["points"], shares, strict=False):
                runner._curve(dom).append(t, eq, x)
