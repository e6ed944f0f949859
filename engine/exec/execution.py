"""Execution: every order and every bracket is an instance of its YAML machine.

The venue's reports become order-machine events; fills are booked by the
`record_fill` action the order spec names; brackets hear about their orders
through an outbox, drained run-to-completion. Nothing here decides what may
happen: the specs do. This module only carries events and calls the venue.
"""
from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any, Callable, Mapping

from adapters.base import ReportStatus, Venue, VenueEvent, VenueReport
from engine.domain import Bar, Domain, Fill, OrderRequest, on_lot_grid
from engine.exec.handles import ENDED_SHORT, BracketHandle, OrderHandle
from engine.exec.plausible import outside_bar, unbookable
from engine.risk.types import Intent
from engine.runtime import BoundMachine, Clock, Instance, Interpreter
from engine.runtime.audit import Record
from engine.runtime.compiled import GUARDED
from engine.spec.contract import ADOPT, ORDER_DONE_TAG

_REPORT_EVENTS = {ReportStatus.TRIGGERED: "triggered", ReportStatus.CANCELED: "canceled",
                  ReportStatus.EXPIRED: "expired", ReportStatus.REJECTED: "rejected",
                  ReportStatus.UNKNOWN: "ack_timeout"}
_FINAL = frozenset(s for s in ReportStatus if s.is_final)  # a set: ReportStatus.is_final costs ~500 ns a call
_GONE = frozenset({ReportStatus.CANCELED, ReportStatus.EXPIRED})  # ended by the venue, the rest unfilled
# Retired orders kept for a fill the venue reports late (Execution._late_fill): a live venue's
# fill report trails the order's cancel by seconds at most, while a replay retires ~10 orders
# a trade; one further back is read from the store (Execution._recall).
RETIRED_KEPT = 256
# The venue's word on an order becomes its stored status. "filled" too: the venue fills the qty it
# conformed to its lot grid, which a float sum of fills may miss by an ulp of the request's. A part
# fill's status comes with its quantities (ledger.fill); an ack timeout is not the venue's word.
_ACKS = {s: s.value for s in (ReportStatus.ACCEPTED, ReportStatus.REJECTED, ReportStatus.TRIGGERED,
                              ReportStatus.CANCELED, ReportStatus.EXPIRED, ReportStatus.FILLED)}


class Execution:
    def __init__(self, interp: Interpreter, order_machine: BoundMachine, bracket_machine: BoundMachine,
                 venue: Venue, ledger: Any, clock: Clock, *,
                 multiplier: Callable[[str], float], on_closed: Callable[[BracketHandle], None],
                 on_fill: Callable[[Domain, Fill, float], None] = lambda d, f, m: None,
                 on_funding: Callable[[Domain, str, float], None] = lambda d, s, p: None,
                 fill_price_band: float) -> None:
        self.interp, self.venue, self.ledger, self.clock = interp, venue, ledger, clock
        self.fill_price_band = fill_price_band  # the risk spec's limits.fill_price_band
        self.order_machine, self.bracket_machine = order_machine, bracket_machine
        # The order spec says where an order is done: a final state, or one tagged `terminal`
        # (CANCELED: a late fill is still booked, but nothing works). A stage switch rebinds
        # the same spec with other parameters, so its states, and this set, stay.
        self._done = done_states(order_machine)
        self.multiplier, self.on_closed, self.on_fill = multiplier, on_closed, on_fill
        self.on_funding = on_funding
        self.orders: dict[str, OrderHandle] = {}
        self.brackets: dict[str, BracketHandle] = {}
        # Brackets their machine closed while an order of theirs still works (a late entry fill's
        # market close-out, an entry whose cancel is unconfirmed): their trade is recorded once
        # no order of theirs can fill any more, so that it holds every fill and fee of the bracket.
        self.closing: dict[str, BracketHandle] = {}
        self.retired: OrderedDict[str, OrderHandle] = OrderedDict()  # the last RETIRED_KEPT forgotten
        self._outbox: deque[tuple[Instance, str, Mapping[str, Any] | None]] = deque()
        self._seq = 0
        self.refused = 0  # orders the venue rejected (each also journaled as a `rejection`)
        self.faults: list[str] = []  # what execution cannot resolve, for the run to raise to the kill machine
        self._gaps: set[tuple[str, str, str]] = set()  # (instance, state, event) already raised as a fault
        # The machines whose dropped events are faults (_check), by name: the spec's gaps are the
        # same in every stage's binding of it.
        self._hosted = {m.name: m for m in (order_machine, bracket_machine)}
        self._steps: dict[str, tuple[float, bool]] = {}  # symbol -> (lot step, whole?): the catalogue is fixed
        self._mults: dict[str, float] = {}  # symbol -> contract multiplier, for the same reason
        # Orders whose bracket is not open (or that have none): only they, or a bracket that
        # closed, give _retire anything to forget.
        self._unbracketed = True
        self._refusals: list[str] | None = None  # the rejections recorded while an operator's event runs
        # The venue batch on_reports applies, and the index of its first report not yet applied.
        self._batch: list[VenueReport] | tuple = ()
        self._next = 0
        self._bar: Bar | None = None  # the bar the batch's fills were reported in, to judge their prices
        self._later: list[Callable[[], None]] = []  # run once the step under way is over (later)

    # -- creating instances -----------------------------------------------------
    def new_order(self, req: OrderRequest, domain: Domain, bracket: BracketHandle | None = None) -> OrderHandle:
        handle = OrderHandle(self, req, domain, bracket)
        handle.instance = self.interp.create(self.order_machine, req.client_order_id, host=handle)
        self.orders[req.client_order_id] = handle
        if bracket is None or bracket.id not in self.brackets:
            self._unbracketed = True
        return handle

    def on_step(self, symbol: str, qty: float, down: bool = False) -> float:
        """`qty` on the instrument's lot grid (domain.on_lot_grid): entries down, legs and exits nearest."""
        got = self._steps.get(symbol)
        if got is None:
            step = self.venue.catalogue.get(symbol).step
            got = self._steps[symbol] = (step, float(step).is_integer())
        return on_lot_grid(qty, got[0], got[1], down)

    def open_bracket(self, intent: Intent, qty: float, tags: tuple[str, ...] = ()) -> BracketHandle:
        qty = self.on_step(intent.symbol, qty, down=True)  # the bracket's qty is what the venue will fill
        self._seq += 1
        bid = f"{intent.strategy}:{intent.symbol}:{intent.ts:.0f}:{self._seq}"
        b = BracketHandle(self, bid, intent.symbol, intent.domain, intent.side, intent.strategy, intent.ts, tags)
        b.instance = self.interp.create(self.bracket_machine, bid, host=b)
        self.brackets[bid] = b
        self.post(b.instance, "open", {"side": intent.side.value, "qty": qty, "entry_price": intent.entry,
                                       "limit_price": 0.0, "stop": intent.stop, "take_profit": intent.take_profit})
        self.pump()
        self._retire()
        return b

    # -- events -------------------------------------------------------------------
    def post(self, instance: Instance | None, event: str, payload: Mapping[str, Any] | None = None) -> None:
        if instance is not None:  # no payload stays None: Interpreter.send reads it as empty
            self._outbox.append((instance, event, payload))

    def post_latest(self, instance: Instance | None, event: str, payload: Mapping[str, Any] | None,
                    supersedes: frozenset[str]) -> None:
        """Post `event`, dropping the events of `supersedes` still queued for `instance`: a later
        word on the same fact (a position flat, then past flat, as the fills of one venue answer
        are booked in turn) replaces the earlier one, which would otherwise act first."""
        if instance is None:
            return
        box = self._outbox
        if any(i is instance and e in supersedes for i, e, _ in box):
            keep = [x for x in box if not (x[0] is instance and x[1] in supersedes)]
            box.clear()
            box.extend(keep)
        box.append((instance, event, payload))

    def pump(self) -> None:
        send, check = self.interp.send, self._check
        while self._outbox:
            inst, event, payload = self._outbox.popleft()
            check(send(inst, event, payload))

    def advance(self, now: float) -> list[Record]:
        """Fire the timers due at `now` (every machine's: the interpreter holds them all). An order's
        or bracket's drop in a timer's step is a fault as in a sent event's: a submit whose ack timed
        out reconciles at once, and a reconciliation the venue cannot answer yet is dropped on
        purpose (`unknown`) so that the run goes close-only: its exposure is unknown. Then what
        the steps' actions posted is sent. Returns the steps' records (the kill machine's too)."""
        fired = self.interp.advance(now)
        if fired:
            self._check(fired)
            self.pump()
            self._retire()  # a timer's step can close a bracket, as a report's can
        return fired

    def operator_event(self, bracket: BracketHandle, event: str, payload: Mapping[str, Any],
                       because: str) -> tuple[list[Record], list[str]]:
        """An operator's event for one bracket (`engine move-stop`), with the operator as the cause of
        the transition it fires (Interpreter.send_because); then what its actions set off. Returns
        the bracket's records of the event and the rejections recorded meanwhile (the spec's
        `record_rejection` reasons). A state that drops the event answers the operator (the run
        journals it as not applied), not a gap in the spec: only the step's other records are
        checked as the engine's own."""
        self._refusals = refusals = []
        try:
            records = self.interp.send_because(bracket.instance, event, because, payload)
            mine = [r.instance_id == bracket.id and r.event == event for r in records]
            self._check([r for r, m in zip(records, mine, strict=True) if not m])
            self.pump()
        finally:
            self._refusals = None
        self._retire()
        return [r for r, m in zip(records, mine, strict=True) if m], refusals

    def later(self, fn: Callable[[], None]) -> None:
        """Run `fn` once the machine step under way is over, its raised events taken (every send
        is followed by _check)."""
        self._later.append(fn)

    def _check(self, records: list) -> None:
        """The events an order or bracket dropped in these records (each unhandled one: sent by
        the engine, or raised by an action of the step) that its state neither takes nor
        `ignores`, nor `sampled` excuses: the spec has a gap (a bracket would wait for ever for
        what it dropped, an UNRESOLVED order for the answer it cannot read), so the run stops
        opening risk and says where (fail closed)."""
        for r in records:
            if r.kind == "unhandled":
                bound = self._hosted.get(r.machine)
                gap = 0 if bound is None or r.source is None else bound.drops(r.source, r.event)
                if gap:
                    self._dropped(bound, r.instance_id, r.source, r.event, guarded=gap == GUARDED)
        if self._later:
            later, self._later = self._later, []
            for fn in later:
                fn()

    def _dropped(self, bound: BoundMachine, iid: str, state: str, event: str, guarded: bool) -> None:
        """Raised as a fault once per instance, state and event, naming the state's place in the spec."""
        key = (iid, state, event)
        if key in self._gaps:
            return
        self._gaps.add(key)
        m = bound.machine
        st = m.states.get(state)
        where = f"{st.pos.file}:{st.pos.line}:{st.pos.col}" if st is not None else m.path
        what = (f"no enabled transition for `{event}` (every guard was false)" if guarded
                else f"no transition for `{event}`")
        self.fault(f"{m.name} `{iid}` in `{state}` ({where}) has {what}, which the engine sent it, "
                   f"and does not list it under `ignores`", key=iid)

    def on_reports(self, reports: list[VenueReport], bar: Bar | None = None) -> None:
        """Apply a batch of the venue's reports; `bar`: the bar they were reported in, if any."""
        outer, self._batch = (self._batch, self._next, self._bar), reports
        self._bar = bar
        try:
            for i, r in enumerate(reports):
                self._next = i + 1
                self._on_report(r)
        finally:
            self._batch, self._next, self._bar = outer
        # Only after the whole batch: one bar can hold a leg's fill that closes the bracket
        # and the entry's last fill, which must still reach its order (see on_order_fill).
        self._retire()

    def canceled_in_batch(self, order: OrderHandle) -> bool:
        """The batch being applied still holds the venue's report that `order` is canceled (or
        expired), without fills: a venue's own one-cancels-other cancel of a bracket leg's sibling
        comes with the leg's fill. That report is the answer a cancel would get, and a cancel
        sent now could only be refused (`cancel_rejected`, a wasted round trip)."""
        return self._ahead(order, _GONE, with_fills=False)

    def ended_in_batch(self, order: OrderHandle) -> bool:
        """The batch being applied still holds the venue's report that `order` ended (filled,
        cancelled, expired or refused). The venue answers a request by the order as it holds it,
        so a refusal sent meanwhile (an amend of a leg it already filled or cancelled) is explained
        by that report, applied next, which tells the bracket what became of the leg."""
        return self._ahead(order, _FINAL, with_fills=True)

    def _ahead(self, order: OrderHandle, statuses: frozenset[ReportStatus], with_fills: bool) -> bool:
        """A report of `order` with one of `statuses` (and no fills unless `with_fills`) is still
        to be applied in the batch under way."""
        batch, cid = self._batch, order.id
        for i in range(self._next, len(batch)):
            r = batch[i]
            if r.client_order_id == cid and r.status in statuses and (with_fills or not r.fills):
                return True
        return False

    def _on_report(self, r: VenueReport) -> None:
        order = self.orders.get(r.client_order_id)
        fills = self._believable(r) if r.fills else ()
        if order is None:
            gone = (self.retired.get(r.client_order_id) or self._recall(r.client_order_id)) if fills else None
            for fill in fills if gone is not None else ():
                if fill.fill_id not in gone.fill_ids:
                    self._late_fill(gone, fill)
            return  # else an order this run never held (a resumed run's books are checked at checkpoints)
        was_live = self.is_live(order)  # else its bracket heard of its end already: a repeated report
        for fill in fills:
            self._dispatch_fill(order, fill)
        event = _REPORT_EVENTS.get(r.status)
        if event == "rejected":
            self.post(order.instance, event, {"reason": r.reason})
        elif event is not None:
            self.post(order.instance, event)
        if self._outbox:
            self.pump()
        self.journal_report(order, r)
        # A final report with fills ends the order too when the venue cancelled, expired or
        # refused the rest (Bybit's PartiallyFilledCanceled, or Rejected with cumExecQty > 0):
        # the bracket must hear its entry or leg is gone. Not while the order spec holds the
        # order live (UNRESOLVED ignores such a report): the reconciliation decides, and tells it.
        if (order.bracket is not None and r.status in _FINAL and (not r.fills or r.status in ENDED_SHORT)
                and was_live and not self.is_live(order)):
            order.bracket.on_order_done(order, r.status, r.reason)
            self.pump()

    def on_venue_event(self, event: VenueEvent) -> None:
        """The venue's hook for what it did besides answering orders. Funding moves the
        domain's cash, as the venue's own ledger did (seed 004: accrue pay/receive to P&L).
        A CLAMP also rides on its order's report, which stores the clamped figures."""
        if event.kind != "FUNDING":
            return
        domain, paid = self.venue.catalogue.get(event.symbol).domain, event.detail["paid"]
        held = event.detail["qty"]
        # Each position's share, for its trade's P&L: a closing bracket's late units pay theirs too.
        for b in (*self.open_brackets(event.symbol), *self.closing.values()):
            if b.domain is domain and b.symbol == event.symbol and held:
                b.funding += paid * b.side.sign * b.open_qty / held
        self.ledger.funding(domain, event)
        self.on_funding(domain, event.symbol, paid)

    def _believable(self, r: VenueReport) -> list[Fill]:
        """The report's fills the books can take. One whose figures cannot be booked is left out;
        one priced far outside its bar is booked as the venue reports it (the venue's cash moved).
        Both are faults: the run stops opening risk until an operator has looked."""
        kept = []
        for f in r.fills:
            why = unbookable(f)
            if why is not None:
                self.fault(f"the venue reports fill {f.fill_id} of order {r.client_order_id} ({f.symbol}) with "
                           f"{why}: not booked, so the books and the venue disagree on it", key=r.client_order_id)
                continue
            why = outside_bar(f, self._bar, self.fill_price_band)
            if why is not None:
                self.fault(f"the venue reports fill {f.fill_id} of order {r.client_order_id} ({f.symbol}) at an "
                           f"implausible price: {why}; booked as the venue reports it", key=r.client_order_id)
            kept.append(f)
        return kept

    def _dispatch_fill(self, order: OrderHandle, fill: Fill) -> None:
        if fill.fill_id in order.fill_ids:
            return  # booked already: a reconciliation found it before this report came
        b = order.bracket
        if b is not None and b.entry is not None and order is not b.entry and self.is_live(b.entry):
            self._entry_first(b, fill)
            if fill.fill_id in order.fill_ids:
                return  # what that set off reconciled this order too, and booked the fill
        if order.instance is not None and order.instance.done:
            self._fill_past_done(order, fill)
            return
        order.fill = fill
        try:
            records = self.interp.send(order.instance, "fill", {"qty": fill.qty, "price": fill.price})
        finally:
            order.fill = None
        self._check(records)
        self.pump()

    def _entry_first(self, b: BracketHandle, fill: Fill) -> None:
        """An exit's fill past the position the engine knows, while the entry still works: the
        entry's own fill report is late (a venue works legs sent with the entry once it fills,
        and each order's stream arrives apart). The venue's fills of the entry are booked first,
        so the exit closes a position the books hold, not an overfill past flat."""
        if self.on_step(b.symbol, b.open_qty - fill.qty) >= 0:
            return
        report = self.venue.order_status(b.entry.id)
        for f in () if report is None else report.fills:
            if f.fill_id not in b.entry.fill_ids and f.client_order_id == b.entry.id:
                self._dispatch_fill(b.entry, f)

    def _fill_past_done(self, order: OrderHandle, fill: Fill) -> None:
        """A fill the venue reports for an order its spec has ended (FILLED, EXPIRED, REJECTED: a
        late fill racing an expiry or a refusal, or one past the qty the order was known to have).
        The fill is real: dropped, the books would be short of the venue. So it is booked and its
        bracket hears it (an exit past flat is closed), and the run stops opening risk, since the
        order's state said nothing more could fill."""
        self.fault(f"the venue reports a fill of {fill.qty:g} {fill.symbol} for order {order.id}, which is "
                   f"{order.instance.state} and can fill no more: booked as the venue reports it", key=order.id)
        self.book_fill(order, fill)
        if order.bracket is not None:
            order.bracket.on_order_fill(order, fill)
        self.pump()

    def _recall(self, client_order_id: str) -> OrderHandle | None:
        """An order no longer in `retired`, from the store: one retired before this process resumed
        the run (a checkpoint keeps no retired order) or further back than RETIRED_KEPT, so that a
        resumed run and an uninterrupted one book the same late fills. None for an order the store
        does not hold (yet: in durability "batch", one sent since the last checkpoint)."""
        found = self.ledger.recall(client_order_id)
        if found is None:
            return None
        request, domain, fill_ids = found
        order = OrderHandle(self, request, domain)
        order.fill_ids.update(fill_ids)
        self._keep_retired(order)
        return order

    def _late_fill(self, order: OrderHandle, fill: Fill) -> None:
        """A fill the venue reports for an order retired with its closed bracket (it raced the
        order's cancel, expiry or refusal, and came after the bracket's trade was recorded). The
        fill is real: it is booked, the run stops opening risk, and a new bracket takes the
        units, which nothing protects (the bracket spec's `adopt`: the shipped one closes them)."""
        self.fault(f"the venue reports a fill of {fill.qty:g} {fill.symbol} for order {order.id}, whose bracket "
                   f"had closed: booked as the venue reports it, and a new bracket closes the units", key=order.id)
        order.fill_ids.add(fill.fill_id)
        self.ledger.late_fill(order, fill, self._multiplier(fill.symbol))
        self.on_fill(order.domain, fill, self._multiplier(fill.symbol))
        self._seq += 1
        req = order.request
        bid = f"adopted:{fill.symbol}:{fill.ts:.0f}:{self._seq}"
        b = BracketHandle(self, bid, fill.symbol, order.domain, fill.side, req.strategy, self.clock.now(), req.tags)
        b.instance = self.interp.create(self.bracket_machine, bid, host=b)
        b.entry_fills.append(fill)
        self.brackets[bid] = b
        self.post(b.instance, ADOPT, {"side": fill.side.value, "qty": fill.qty, "price": fill.price,
                                      "reason": f"a late fill of order {order.id}"})
        self.pump()

    def broadcast(self, event: str) -> None:
        """A kill broadcast reaches every bracket and every order still working."""
        for b in list(self.brackets.values()):
            self.post(b.instance, event)
        for o in list(self.orders.values()):
            if self.is_live(o):
                self.post(o.instance, event)
        self.pump()
        self._retire()

    def exit(self, bracket: BracketHandle, reason: str) -> None:
        """Close a bracket's position at market for a reason the engine decided (`signal`,
        `max_hold`, `weekend`): journaled here, as the bracket spec's `exit` names none."""
        self.ledger.journal("exit", bracket.id, {"symbol": bracket.symbol}, reason=reason)
        self.post(bracket.instance, "exit", {"reason": reason})
        self.pump()
        self._retire()

    def price_update(self, symbol: str, price: float, atr: float) -> None:
        """A bar's close and ATR to each open bracket of `symbol` whose state takes them: the spec
        says which (breakeven and trailing while the position is open, the re-send of a refused
        close while flattening); a state with no transition for them is not sent them."""
        for b in self.open_brackets(symbol):
            inst = b.instance
            if inst is not None and (inst.state, "price_update") in inst.bound.table:
                self.post(inst, "price_update", {"price": price, "atr": atr})
        self.pump()

    # -- queries ------------------------------------------------------------------
    def is_live(self, order: OrderHandle) -> bool:
        inst = order.instance
        return inst is not None and inst.state not in self._done

    def open_brackets(self, symbol: str | None = None) -> list[BracketHandle]:
        if not self.brackets:  # most stepped bars of a replay
            return []
        return [b for b in self.brackets.values() if symbol is None or b.symbol == symbol]

    # -- the book and the journal (called by handles) -----------------------------
    def book_fill(self, order: OrderHandle, fill: Fill) -> None:
        mult = self._multiplier(fill.symbol)
        order.fill_ids.add(fill.fill_id)
        self.ledger.fill(order, fill, mult)
        # Always applied to the in-memory book: after a resume it was restored from before
        # this fill, even when the store already has it (idempotent by fill id).
        self.on_fill(order.domain, fill, mult)

    def _multiplier(self, symbol: str) -> float:
        mult = self._mults.get(symbol)
        if mult is None:
            mult = self._mults[symbol] = self.multiplier(symbol)
        return mult

    def journal_intent(self, order: OrderHandle) -> None:
        self.ledger.intent(order)

    def journal_amend(self, order: OrderHandle, qty: float, price: float | None, reason: str) -> None:
        self.ledger.amend(order, qty, price, reason)

    def fault(self, reason: str, key: str = "execution") -> None:
        """Raised to the kill machine (`fault`) by the run once the current batch is handled:
        not from inside it, where the broadcast would reach brackets mid-transition. `key`:
        what found it (a guard error's machine instance, say)."""
        self.ledger.journal("fault", key, {"text": reason}, reason=reason)
        self.faults.append(reason)

    def note(self, kind: str, key: str, text: str) -> None:
        self.ledger.journal(kind, key, {"text": text}, reason=text)
        if kind == "rejection" and self._refusals is not None:
            self._refusals.append(f"{key}: {text}")

    def journal_report(self, order: OrderHandle, report: VenueReport) -> None:
        status = _ACKS.get(report.status)
        if status is not None:
            self.ledger.ack(order, status, report.reason)
            if report.clamp is not None and report.qty > 0.0:  # stored as the venue holds it, not as asked
                self.ledger.figures(order, report.qty, report.price)

    def _retire(self) -> None:
        """Forget closed brackets and orders that can no longer change; record a closed bracket's
        trade once none of its orders can fill any more.

        An order still working when its bracket closes (an entry whose cancel is not yet
        confirmed, the market close-out of a late entry fill) stays tracked, so a fill the
        venue reports later is still booked, into the bracket's trade too."""
        done = [b for b in self.brackets.values() if b.instance.done]
        if not done and not self._unbracketed:
            return  # every order belongs to an open bracket: nothing can be forgotten
        for b in done:
            del self.brackets[b.id]
            self.closing[b.id] = b
            self._close_left_open(b)
        brackets, unbracketed, working = self.brackets, False, set()
        for cid, o in list(self.orders.items()):
            if o.bracket is None or o.bracket.id not in brackets:
                if self.is_live(o):
                    unbracketed = True
                    if o.bracket is not None:
                        working.add(o.bracket.id)
                else:
                    del self.orders[cid]
                    self.ledger.retired(o)  # its final state, written at the next flush
                    self._keep_retired(o)
        self._unbracketed = unbracketed
        for bid in [i for i in self.closing if i not in working]:
            b = self.closing.pop(bid, None)  # None: a nested _retire (on_closed's kill broadcast) took it
            if b is not None:
                self.on_closed(b)
                _unlink(b)


    def _close_left_open(self, b: BracketHandle) -> None:
        """A bracket that closed with units open that no working order closes: what told it of
        them (an entry fill a reconciliation found, queued behind the cancel that closed it) came
        after its close. Nothing protects them, so they leave at market now (fail closed)."""
        left = b.open_qty
        if left and b.close_rest(left, "units open when the bracket closed"):  # what no working close takes
            self.note("left_open", b.id, f"closed with {left:g} {b.symbol} open: closing them at market")
            self.pump()

    def _keep_retired(self, o: OrderHandle) -> None:
        kept = self.retired
        kept[o.id] = o
        if len(kept) > RETIRED_KEPT:
            kept.popitem(last=False)


def _unlink(b: BracketHandle) -> None:
    """Cut the reference cycles of a bracket execution has forgotten (each handle and its machine
    instance point at each other, a bracket and its orders too), so that reference counting frees
    them at once: left to the cycle collector, every trade's ~40 objects were walked by it again
    and again (most of its time in a replay)."""
    for o in (b.entry, *b.legs.values(), *b.exits):
        if o is not None:
            o.bracket = None
            if o.instance is not None:
                o.instance.host = None
    if b.instance is not None:
        b.instance.host = None


def done_states(order_machine: BoundMachine) -> frozenset[str]:
    """The order machine's states where an order can no longer trade (its spec's final states and
    those tagged ORDER_DONE_TAG; ENGINE_CONTRACT makes every other state say it is live)."""
    return order_machine.done_leaves | frozenset(s for s, tags in order_machine.tags.items() if ORDER_DONE_TAG in tags)
