"""Hosts for order and bracket machine instances.

An instance's `host` is one of these handles. The catalogue actions the specs
name (adapters/actions.py, state/actions.py) call the method of the same name
here; the handle talks to the venue and the store. Events for *other*
instances go through the execution's outbox, so each instance still runs to
completion before the next one is stepped.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from adapters.base import ReportStatus, VenueReport
from engine.domain import Domain, Fill, OrderRequest, OrderType, Role, Side, order_id, order_id_prefix
from engine.spec.contract import CLOSE_REFUSED, LEG_RESIZE_REJECTED, STOP_AMEND_REJECTED, STOP_CONFORMED

if TYPE_CHECKING:
    from engine.exec.execution import Execution
    from engine.runtime import ActionContext, Instance

# A venue's synchronous answer to a request, as the order machine's event.
_SYNC_EVENTS = {ReportStatus.ACCEPTED: "accepted", ReportStatus.REJECTED: "rejected",
                ReportStatus.CANCELED: "canceled", ReportStatus.EXPIRED: "expired",
                ReportStatus.TRIGGERED: "triggered"}
# The venue's status of an order, in the words the order spec's `reconciled` event uses: a
# working order (acknowledged, part filled, a triggered stop) is `open`; one the venue does not
# know is `not_found`; `unknown` (the venue cannot tell yet) matches no transition, so the order
# stays UNRESOLVED and asks again (fail closed).
_RECONCILED = {ReportStatus.ACCEPTED: "open", ReportStatus.PARTIALLY_FILLED: "open", ReportStatus.TRIGGERED: "open",
               ReportStatus.FILLED: "filled", ReportStatus.CANCELED: "canceled", ReportStatus.EXPIRED: "expired",
               ReportStatus.REJECTED: "rejected", ReportStatus.UNKNOWN: "unknown"}
NOT_FOUND = "not_found"
# Members bound once: an Enum class attribute costs ~250 ns (EnumType.__getattr__), a global ~30.
_REJECTED, _CANCELED, _EXPIRED = ReportStatus.REJECTED, ReportStatus.CANCELED, ReportStatus.EXPIRED
# How a venue ends an order short of its qty (cancelled, expired or refused): a final report of
# one of these, with fills or not, leaves part of the order unfilled; a close ended so leaves
# units no order closes.
ENDED_SHORT = frozenset({_REJECTED, _CANCELED, _EXPIRED})
_UNKNOWN = ReportStatus.UNKNOWN
# A request that raised one of these may or may not have reached the venue: a lost answer, which
# the order spec's timers handle. Anything else a venue raises is a fault of the adapter's own.
_NO_ANSWER = (TimeoutError, ConnectionError)
_FINAL = frozenset(s for s in ReportStatus if s.is_final)
_SIDES = {s.value: s for s in Side}
_MARKET, _LIMIT, _STOP = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP
_ENTRY, _TAKE_PROFIT, _STOP_LOSS, _EXIT = Role.ENTRY, Role.TAKE_PROFIT, Role.STOP_LOSS, Role.EXIT
_FLAT = 1e-12  # |open qty| at or below this is flat (open_qty is already on the lot grid)
_POSITION_WORDS = frozenset({"position_closed", "overfilled"})  # what a bracket is told of its position


@dataclass(slots=True)
class OrderHandle:
    execution: "Execution"
    request: OrderRequest
    domain: Domain
    bracket: "BracketHandle | None" = None
    instance: "Instance | None" = None
    fill: Fill | None = None  # the fill being dispatched to the machine right now
    id: str = field(init=False, default="")  # request.client_order_id: read for every journal row
    # Ids of the fills booked for it (Execution.book_fill): a reconciliation books the venue's
    # others, and a report repeating one (it trailed the reconciliation that found it) books none.
    fill_ids: set[str] = field(default_factory=set)
    found: list[Fill] = field(default_factory=list)  # a reconciliation's unbooked fills, for record_fill

    def __post_init__(self) -> None:
        self.id = self.request.client_order_id

    # -- actions (provider adapters) ------------------------------------------
    def submit_order(self, ctx: "ActionContext", qty: float, price: float, reduce_only: bool) -> None:
        ex, req = self.execution, self.request
        # What the order spec passes is what is sent (price 0: a market order, no price): the
        # request the bracket built is only the draft (its id, side, type, role and tags stand).
        qty, price = ex.on_step(req.symbol, qty), price or None
        if qty != req.qty or price != req.price or reduce_only != req.reduce_only:
            self.request = req = replace(req, qty=qty, price=price, reduce_only=bool(reduce_only))
        ex.journal_intent(self)  # write-ahead: committed before the venue hears of it
        report = self._ask("submit", ex.venue.submit, req)
        if report is not None:
            self._answer(ctx, report)

    def cancel_order(self, ctx: "ActionContext") -> None:
        report = self._ask("cancel", self.execution.venue.cancel, self.id)
        if report is not None:
            self._answer(ctx, report, refused="cancel_rejected")

    def amend_order(self, ctx: "ActionContext", qty: float, price: float) -> None:
        report = self._ask("amend", self.execution.venue.amend, self.id, price=price or None, qty=qty or None)
        if report is None:
            return
        if report.status is _REJECTED or report.refused:
            ctx.raise_event("update_rejected", {"reason": report.reason})
            if self.bracket is not None:
                self.bracket.on_amend_refused(self, report, qty)
            return
        if report.status is _UNKNOWN:
            # The venue does not know an order it acknowledged: whatever it did with it (filled,
            # dropped) is unknown. Not an `updated`: the spec's ambiguous outcome, which parks the
            # order in UNRESOLVED to reconcile, and no new risk meanwhile (fail closed).
            self.execution.fault(f"the venue does not know order {self.id} it was asked to amend "
                                 f"({report.reason}): its exposure is unknown")
            ctx.raise_event("ack_timeout")
            return
        # The venue's figures, not the ones asked for: it conforms an amend to its grid.
        price = price if report.price is None else report.price
        self.execution.journal_amend(self, report.qty, price, report.reason)
        ctx.raise_event("updated", {"qty": report.qty, "price": price})
        if self.bracket is not None and report.clamp is not None:
            self.bracket.on_conformed(self, report.price)

    def request_reconciliation(self, ctx: "ActionContext") -> None:
        try:
            report = self.execution.venue.order_status(self.id)
        except _NO_ANSWER as e:  # asked again when the spec's UNRESOLVED timer says so
            self._unanswered("status request", e)
            return
        if report is None:  # the venue does not know the order: it was never placed
            ctx.raise_event("reconciled", {"status": NOT_FOUND, "filled_qty": 0.0, "avg_px": 0.0, "qty": 0.0})
            if self.bracket is not None:  # a leg the venue does not hold protects nothing: tell its bracket
                self.bracket.on_order_done(self, _REJECTED, "the venue does not know the order")
            return
        fills = report.fills
        qty = sum(f.qty for f in fills)
        avg = sum(f.qty * f.price for f in fills) / qty if qty else 0.0
        # Fills the venue made and never reported (or not yet): each reaches the order machine as a
        # `fill` before the venue's truth, so that it is booked and its bracket hears it (a filled
        # entry found so has its legs placed; found by the figures alone, it had none).
        self.found = [f for f in fills if f.fill_id not in self.fill_ids and f.client_order_id == self.id]
        for f in self.found:
            ctx.raise_event("fill", {"qty": f.qty, "price": f.price})
        # Its qty too: an amend whose answer was lost may have changed it, and the order's fills
        # are judged against it (a qty short of the venue's would end the order FILLED early).
        ctx.raise_event("reconciled", {"status": _RECONCILED[report.status], "filled_qty": report.filled_qty,
                                       "avg_px": avg, "qty": report.qty})
        if self.bracket is not None and report.status in ENDED_SHORT:  # its bracket hears, as from the venue's report
            # Once the step is over: after the fills found above, or an entry's would reach a
            # bracket its cancel had closed (and no order close the units).
            bracket, status, why = self.bracket, report.status, report.reason or "found ended by reconciliation"
            self.execution.later(lambda: bracket.on_order_done(self, status, why))

    def _ask(self, what: str, call: Any, *args: Any, **kw: Any) -> VenueReport | None:
        """The venue's answer to a request, or None when the request raised a network error: it
        may or may not have reached the venue, so no answer is made up. The order stays in the
        state the spec put it in, whose timer (`ack_timeout`) sends it to be reconciled."""
        try:
            return call(*args, **kw)
        except _NO_ANSWER as e:
            self._unanswered(what, e)
            return None

    def _unanswered(self, what: str, e: Exception) -> None:
        self.execution.fault(f"the venue did not answer the {what} of order {self.id} ({type(e).__name__}: {e}): "
                             "what it did is unknown until the order is reconciled", key=self.id)

    # -- actions (provider engine) --------------------------------------------
    def notify(self, ctx: "ActionContext", text: str) -> None:
        self.execution.note("notify", self.id, text)

    def record_rejection(self, ctx: "ActionContext", reason: str) -> None:
        self.execution.refused += 1
        self.execution.note("rejection", self.id, reason)

    # -- actions (provider state) ---------------------------------------------
    def record_fill(self, ctx: "ActionContext", qty: float, price: float) -> None:
        # One a reconciliation found, in the order it raised them: first, since a reconciliation
        # can run while a reported fill is being dispatched (its amend answered `unknown`), and
        # the events it raises come after that fill's own.
        fill = self.found.pop(0) if self.found else self.fill
        if fill is None:  # a fill event with no venue detail: nothing to book
            return
        if qty != fill.qty or price != fill.price:  # the order spec's figures are what is booked
            fill = replace(fill, qty=qty, price=price)
        self.execution.book_fill(self, fill)
        if self.bracket is not None:
            self.bracket.on_order_fill(self, fill)

    def _answer(self, ctx: "ActionContext", report: VenueReport, refused: str = "rejected") -> None:
        status = report.status
        if refused != "rejected" and (report.refused or status is _REJECTED):
            ctx.raise_event(refused, {"reason": report.reason})
            return
        event = _SYNC_EVENTS.get(status)
        if event == "rejected":
            ctx.raise_event("rejected", {"reason": report.reason})
        elif event is not None:
            ctx.raise_event(event)
        self.execution.journal_report(self, report)
        if self.bracket is not None and status in _FINAL:
            self.bracket.on_order_done(self, status, report.reason)
        elif self.bracket is not None and report.clamp is not None:
            self.bracket.on_conformed(self, report.price)


def _rest(order: OrderHandle) -> float:
    """What a working order may still fill: its qty less its fills (its machine's, which hold a
    fill being booked already). One whose submit still waits in the outbox has no qty in its
    machine yet: it is the request's."""
    ctx = order.instance.ctx
    return float(ctx["qty"] or order.request.qty) - float(ctx.get("filled_qty", 0.0))


def _one_price(fills: list[Fill]) -> float | None:
    """The price all the fills share, if they share one. Their average is then that price exactly:
    the quotient of the sums may miss it by an ulp, and a round trip at one price would realise
    float dust that counts as a win or a loss."""
    price = fills[0].price if fills else None
    return price if all(f.price == price for f in fills) else None


class Settlement(NamedTuple):
    qty: float  # entered
    entry_px: float  # average entry price
    exit_px: float  # average price of the exits against the position
    gross: float  # P&L before fees and funding, in the quote currency
    fees: float
    last_exit_ts: float | None


@dataclass(slots=True)
class BracketHandle:
    """A position: its entry, its take-profit and stop-loss legs, and exits."""

    execution: "Execution"
    id: str
    symbol: str
    domain: Domain
    side: Side
    strategy: str
    ts: float
    tags: tuple[str, ...] = ()
    instance: "Instance | None" = None
    entry: OrderHandle | None = None
    legs: dict[str, OrderHandle] = field(default_factory=dict)  # take_profit | stop_loss -> order
    exits: list[OrderHandle] = field(default_factory=list)
    entry_fills: list[Fill] = field(default_factory=list)
    exit_fills: list[Fill] = field(default_factory=list)
    exit_reason: str = ""  # the exits that closed it, in fill order: `take_profit+stop_loss`
    exit_whys: dict[str, str] = field(default_factory=dict)  # market exit order id -> why it was sent
    funding: float = 0.0  # perp funding this position paid while open (received: negative)
    nonce: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    close_faulted: bool = False  # a refused close raised its fault: the retries' refusals raise none
    _ids: Any = field(default=None, repr=False, compare=False)  # order_id_prefix of this bracket's intent

    @property
    def open_qty(self) -> float:
        """Signed: below zero, exits filled past flat and the position is on the other side (an
        exit fill on the bracket's own side is the buy-back of such an overfill).
        On the lot grid: a float sum of lot-sized fills (10839.7 + 3722.2) less the exit that
        closed them leaves 1.8e-12, which would keep the bracket open for ever."""
        side = self.side
        return self.execution.on_step(self.symbol, sum(f.qty for f in self.entry_fills)
                                      - sum(f.qty if f.side is not side else -f.qty for f in self.exit_fills))

    def settle(self, multiplier: float) -> "Settlement":
        """What the bracket's fills made, before funding: its trade's figures."""
        # One pass per side; each running sum adds in the order sum() would (entry fees, then exit fees).
        qty = paid = fees = 0
        for f in self.entry_fills:
            qty, paid, fees = qty + f.qty, paid + f.qty * f.price, fees + f.fee
        out = got = back = back_paid = 0
        last = None  # the last exit fill's time: max() in the same pass
        side = self.side
        for f in self.exit_fills:
            if f.side is side:  # the buy-back of an overfill past flat: it adds to the entry side
                back, back_paid, fees = back + f.qty, back_paid + f.qty * f.price, fees + f.fee
            else:
                out, got, fees = out + f.qty, got + f.qty * f.price, fees + f.fee
            if last is None or f.ts > last:
                last = f.ts
        entry_px = _one_price(self.entry_fills) or paid / qty
        exit_px = (_one_price([f for f in self.exit_fills if f.side is not side]) or got / out) if out else entry_px
        if back:  # every unit sold was bought (or the reverse): the result is the cash the fills moved
            gross = side.sign * (got - paid - back_paid) * multiplier
        else:
            gross = side.sign * (exit_px - entry_px) * min(qty, out) * multiplier
        return Settlement(qty, entry_px, exit_px, gross, fees, last)

    def _order(self, side: Side, qty: float, type_: OrderType, role: Role, price: float | None,
               reduce_only: bool) -> OrderHandle:
        self.nonce += 1
        ex, symbol, entry = self.execution, self.symbol, self.entry
        qty = ex.on_step(symbol, qty)
        quote = ex.venue.quote(symbol)
        parent = entry.request.client_order_id if entry is not None and role is not _ENTRY else None
        if self._ids is None:
            self._ids = order_id_prefix(self.strategy, symbol, self.ts)
        # client_order_id(strategy, symbol, ts, nonce), from the hash state the three share
        req = OrderRequest(order_id(self._ids, f"{self.id}/{self.nonce}"), symbol, side, qty, type_, role,
                           quote.snapshot_id, ex.clock.now(), price, reduce_only, self.strategy, parent, self.tags)
        return ex.new_order(req, self.domain, self)

    # -- actions (provider engine) --------------------------------------------
    def notify(self, ctx: "ActionContext", text: str) -> None:
        self.execution.note("notify", self.id, text)

    def record_rejection(self, ctx: "ActionContext", reason: str) -> None:
        self.execution.note("rejection", self.id, reason)

    # -- actions (provider adapters) ------------------------------------------
    def submit_entry(self, ctx: "ActionContext", side: str, qty: float, price: float) -> None:
        type_ = _LIMIT if price > 0 else _MARKET
        self.entry = self._order(_SIDES.get(side) or Side(side), qty, type_, _ENTRY, price or None, False)
        self.execution.post(self.entry.instance, "submit", {"qty": qty, "price": price, "reduce_only": False})

    def place_legs(self, ctx: "ActionContext", qty: float, stop: float, take_profit: float) -> None:
        out = self.side.opposite
        self.legs["take_profit"] = self._order(out, qty, _LIMIT, _TAKE_PROFIT, take_profit, True)
        self.legs["stop_loss"] = self._order(out, qty, _STOP, _STOP_LOSS, stop, True)
        for leg in self.legs.values():
            self.execution.post(leg.instance, "submit", {"qty": qty, "price": leg.request.price, "reduce_only": True})

    def resize_legs(self, ctx: "ActionContext", qty: float) -> None:
        for name, leg in self.legs.items():
            if self.execution.is_live(leg):
                self._amend(leg, qty, self._level(name))

    def amend_stop(self, ctx: "ActionContext", stop: float) -> None:
        leg = self.legs.get("stop_loss")
        if leg is not None and self.execution.is_live(leg):
            # Before any entry fill, legs sent with the entry cover the entry's qty: the stop
            # moves and keeps it (the position's qty, 0, would be an amend the order refuses).
            held = self.open_qty
            self._amend(leg, held if held > _FLAT else _rest(leg), stop)

    def _level(self, leg: str) -> float:
        """The leg's price as the bracket machine holds it now (tightened by breakeven or trailing)."""
        return float(self.instance.ctx["stop" if leg == "stop_loss" else "take_profit"])

    def _amend(self, leg: OrderHandle, cover: float, price: float) -> None:
        # An order's qty is its total: to cover `cover` more, it is what the leg already
        # filled plus `cover`, or a partly filled stop would protect less than the position.
        # On the lot grid, nearest: the venue rounds an amend down, and 137142.31699999998 down
        # is a lot short of the position it must cover.
        total = self.execution.on_step(self.symbol, float(leg.instance.ctx.get("filled_qty", 0.0)) + cover)
        self.execution.post(leg.instance, "amend", {"qty": total, "price": price})

    def cancel_sibling(self, ctx: "ActionContext", leg: str) -> None:
        # A venue with native one-cancels-other reports the sibling canceled with the leg's fill:
        # that report, applied next, is the answer (leg_canceled). A venue without it reports no
        # cancel, so the sibling is canceled here.
        ex = self.execution
        for name, order in self.legs.items():
            if name != leg and ex.is_live(order) and not ex.canceled_in_batch(order):
                ex.post(order.instance, "cancel")

    def cancel_legs(self, ctx: "ActionContext") -> None:
        for order in self._live_legs():
            self.execution.post(order.instance, "cancel")

    def cancel_entry(self, ctx: "ActionContext") -> None:
        if self.entry is not None and self.execution.is_live(self.entry):
            self.execution.post(self.entry.instance, "cancel")

    def close_position(self, ctx: "ActionContext", reason: str) -> None:
        qty = self.open_qty
        if abs(qty) <= _FLAT:
            ctx.raise_event("position_closed")
            return
        self.close_rest(qty, reason)

    def close_rest(self, qty: float, reason: str) -> bool:
        """Close signed `qty` less what the closes still working in its direction will take; True
        if an order went out. A late entry fill while a close works, or a second fill past flat
        while a buy-back works, gets an order for the difference only, so no unit is closed
        twice. Closes working the other way are left: each fill of theirs past flat is bought
        back as it is reported."""
        ex, closing = self.execution, self.side.opposite if qty > 0 else self.side
        working = sum(_rest(o) for o in self.exits if o.request.side is closing and ex.is_live(o))
        rest = ex.on_step(self.symbol, qty - working if qty > 0 else qty + working)
        if (rest > _FLAT) if qty > 0 else (rest < -_FLAT):
            # Only the rest, even one under the venue's minimum notional: the position is the
            # venue's net of every bracket on the symbol, so a reduce-only close of this
            # bracket's whole position could take another bracket's units. A venue that refuses
            # the rest gets it again once the working close is done (a fault says so meanwhile).
            self._close_now(rest, reason)
            return True
        return False

    def _close_now(self, qty: float, reason: str) -> None:
        """A reduce-only market order for signed `qty`: the position (> 0), or the overfill
        past flat (< 0), which is bought back on the bracket's own side."""
        side = self.side.opposite if qty > 0 else self.side
        qty = abs(qty)
        order = self._order(side, qty, _MARKET, _EXIT, None, True)
        self.exits.append(order)
        self.exit_whys[order.id] = reason
        self.execution.post(order.instance, "submit", {"qty": qty, "price": 0.0, "reduce_only": True})

    # -- fills routed from the order machines ---------------------------------
    def on_order_fill(self, order: OrderHandle, fill: Fill) -> None:
        ex = self.execution
        if order is self.entry:
            self.entry_fills.append(fill)
            if self.instance.done:
                # The bracket already closed (its stop filled in the same bar as this last
                # entry fill): nothing protects these units, so they leave at once (fail closed).
                ex.note("late_entry_fill", self.id, f"entry filled {fill.qty:g} after the bracket closed: closing")
                self._close_now(fill.qty, "late entry fill after the bracket closed")
                return
            ex.post(self.instance, "entry_fill", {"qty": fill.qty, "price": fill.price})
            return
        self.exit_fills.append(fill)
        leg = None
        for name, o in self.legs.items():
            if o is order:
                leg = name
                break
        self._exited(leg or self.exit_whys.get(order.id, "exit"))
        left = self.open_qty
        if self.instance.done:
            if left < -_FLAT:  # past flat after the bracket closed: nothing else will undo it (fail closed)
                ex.note("overfill", self.id, f"exit filled {-left:g} past flat after the bracket closed: closing")
                self.close_rest(left, "exit filled past flat after the bracket closed")
            elif left > _FLAT and leg is None and self._last_close_done(order):  # as below; the fault says so
                self._unclosed(left, "a close the venue refused while another worked")
            return
        if leg is not None:
            ex.post(self.instance, "leg_filled", {"leg": leg, "qty": fill.qty, "price": fill.price})
            if left > _FLAT and self._filled_in_full(order):  # a leg sized before the last entry fill's resize
                ex.post(self.instance, "leg_spent", {"leg": leg})
        if abs(left) <= _FLAT and (leg is None or self.exits):
            # Flat: the answer to a close. Also after a leg's fill once a close was sent: a flatten
            # keeps its stop until flat, and when its close filled in part and the stop took the
            # rest, the leg's qty alone does not cover the position and nothing else would say so.
            ex.post_latest(self.instance, "position_closed", None, _POSITION_WORDS)
        if left < -_FLAT:  # (after a `position_closed` still queued: the fills of one answer, in turn)
            ex.post_latest(self.instance, "overfilled", {"qty": -left}, _POSITION_WORDS)
        elif left > _FLAT and leg is None and self._last_close_done(order):
            # A close refused (or ended short) while this one worked was left to it; this one
            # is done and units are left that no order closes.
            self._unclosed(left, "a close the venue refused while another worked")

    def _last_close_done(self, order: OrderHandle) -> bool:
        """`order`, an exit whose fill is being booked, is now filled and no other exit works."""
        return self._filled_in_full(order) and not any(o is not order and self.execution.is_live(o)
                                                       for o in self.exits)

    def _filled_in_full(self, order: OrderHandle) -> bool:
        """`order`, whose fill is being booked, is now filled (its machine is still in the transition
        that booked it: its ctx has the fill, its state not yet)."""
        ex, ctx = self.execution, order.instance.ctx
        return ex.on_step(self.symbol, float(ctx["filled_qty"])) >= ex.on_step(self.symbol, float(ctx["qty"]))

    def _exited(self, why: str) -> None:
        """Name the trade after every exit that took part of it, in order: a take-profit that
        filled in part before a flatten took the rest is `take_profit+kill switch flatten`."""
        if not self.exit_reason:
            self.exit_reason = why
        elif self.exit_reason.rsplit("+", 1)[-1] != why:
            self.exit_reason = f"{self.exit_reason}+{why}"

    def on_order_done(self, order: OrderHandle, status: ReportStatus, reason: str = "") -> None:
        """A child order ended without (more) fills: tell the bracket machine."""
        ex = self.execution
        if order is self.entry:
            # A refusal of the rest of a part-filled entry ends it as a cancel does: what filled stands.
            if status is _CANCELED or status is _EXPIRED or self.entry_fills:
                ex.post(self.instance, "entry_canceled")
            elif status is _REJECTED:
                ex.post(self.instance, "entry_rejected", {"reason": "venue rejected the entry"})
            return
        # Handles are told apart by identity (`in` would compare their fields, requests and all).
        for leg, o in self.legs.items():
            if o is order:
                if status is _CANCELED or status is _EXPIRED:
                    ex.post(self.instance, "leg_canceled", {"leg": leg})
                elif status is _REJECTED:
                    ex.post(self.instance, "leg_rejected", {"leg": leg, "reason": reason or "venue rejected it"})
                return
        if status in ENDED_SHORT and any(o is order for o in self.exits):  # refused, cancelled or expired
            left = self.open_qty
            if abs(left) <= _FLAT:
                ex.post(self.instance, "position_closed")
                return
            if any(o is not order and ex.is_live(o) for o in self.exits):
                return  # another close works on: it answers for the position (until it is done)
            self._unclosed(left, reason or "venue rejected it")

    def _unclosed(self, left: float, reason: str) -> None:
        """No order closes the `left` units now: the bracket spec decides what follows (the shipped
        one keeps the stop and re-sends the close at the next bar until flat)."""
        inst = self.instance
        if inst is not None and not inst.done:
            self.execution.post(inst, CLOSE_REFUSED, {"reason": reason})
        if not self.close_faulted:  # stop opening risk and say why (fail closed), once per bracket
            self.close_faulted = True
            self.execution.fault(
                f"the venue refused the exit of {abs(left):g} {self.symbol} ({reason}): the "
                f"{'position' if left > 0 else 'overfill past flat'} stays open with no order to close it")

    def on_amend_refused(self, order: OrderHandle, report: VenueReport, asked: float) -> None:
        """The venue refused to amend a leg to `asked` units (its total, fills included). One that
        asked another qty than the leg holds was a resize: the leg now covers more or less than
        the position, which the bracket spec must answer (LEG_RESIZE_REJECTED). Else, for the
        stop-loss leg: the bracket machine assigned the stop it asked for before the venue
        answered, so tell it the stop the venue still works (the report's price; else the
        order's own), so its stop is never one the venue does not hold."""
        ex, symbol = self.execution, self.symbol
        leg = next((name for name, o in self.legs.items() if o is order), None)
        holds = float(order.instance.ctx["qty"])
        if leg is not None and asked and ex.on_step(symbol, asked) != ex.on_step(symbol, holds):
            if ex.ended_in_batch(order):
                # The venue ended the leg in this bar before the resize reached it: that report,
                # applied next, is the answer (its fills book the position, its end is
                # leg_canceled), where a close now would close units its fill already closed.
                ex.note("resize_overtaken", order.id, f"the venue refused to resize the {leg} leg "
                        f"({report.reason}): its report from this bar, applied next, answers for it")
                return
            ex.post(self.instance, LEG_RESIZE_REJECTED, {"leg": leg, "reason": report.reason})
            return
        if self.legs.get("stop_loss") is not order:
            return
        price = report.price if report.price is not None else float(order.instance.ctx["price"])
        self.execution.post(self.instance, STOP_AMEND_REJECTED, {"stop": price, "reason": report.reason})

    def on_conformed(self, order: OrderHandle, price: float | None) -> None:
        """The venue accepted `order` on its own grid (a CLAMP): for the stop-loss leg, tell the
        bracket machine the stop the venue works, so the stop it shows, journals and weighs a
        move against is the venue's, not the unrounded one it asked for."""
        if price is None or self.legs.get("stop_loss") is not order or self.instance is None:
            return
        if price != self.instance.ctx.get("stop"):
            self.execution.post(self.instance, STOP_CONFORMED, {"stop": price})

    def _live_legs(self) -> list[OrderHandle]:
        return [o for o in self.legs.values() if self.execution.is_live(o)]
