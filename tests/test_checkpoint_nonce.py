"""A bracket restored from a checkpoint keeps counting its orders where it stopped: its next order
(an exit close) gets a client_order_id it never used. Restored with its order count at 0, the close
took the entry's id, the venue answered it as a duplicate and the position stayed open.

Real paper venue and real order/bracket machines; the checkpoint is what checkpoint.save writes for
handles (bracket_data, order_data, the machines' snapshots), through JSON as the store keeps it,
restored by checkpoint.restore_handles into a fresh Execution on the same venue."""
from __future__ import annotations

import json

import bracket_support as bs
from adapters.paper import PaperConfig
from engine.domain import Domain, Side
from engine.exec.execution import Execution
from engine.risk.types import Intent
from engine.run.checkpoint import bracket_data, order_data, restore_handles
from engine.runtime import Interpreter, ListSink, ReplayClock


def _step(ex: Execution, venue, bars) -> None:
    for bar in bars:
        ex.clock.set(bar.ts)
        ex.on_reports(venue.on_bar(bar))


def _checkpoint(ex: Execution) -> dict:
    """The handle part of a checkpoint, as the store would give it back."""
    return json.loads(json.dumps({
        "orders": [order_data(o) for o in ex.orders.values()],
        "brackets": [bracket_data(b) for b in ex.brackets.values()],
        "snapshots": {"bracket": {b.id: ex.interp.snapshot(b.instance) for b in ex.brackets.values()},
                      "order": {i: ex.interp.snapshot(o.instance) for i, o in ex.orders.items()}},
        "seq": ex._seq}))


def _resumed(ex: Execution, venue, saved: dict) -> Execution:
    interp = Interpreter(ReplayClock(ex.clock.now()), ListSink())
    back = Execution(interp, ex.order_machine, ex.bracket_machine, venue, bs.Journal(), interp.clock,
                     multiplier=lambda s: 1.0, on_closed=lambda b: None, fill_price_band=bs.BAND)
    restore_handles(back, saved["orders"], saved["brackets"], saved["snapshots"])
    back._seq = saved["seq"]
    return back


def test_a_restored_brackets_exit_close_gets_a_new_id_and_closes_the_position():
    machines = bs.order_machines()
    venue, _, ex = bs.execution_at(machines, PaperConfig(partial_fill_prob=0.0), 280)
    q = venue.quote("XRP-PERP")
    b = ex.open_bracket(Intent("XRP-PERP", Domain.CRYPTO_PERP, Side.BUY, q, q.bid * 0.97, q.ask * 1.05, q.ts, "s"),
                        10.0)
    _step(ex, venue, bs.XRP[281:283])
    assert b.instance.state == "protected" and venue.ledger.qty("XRP-PERP") == 10.0
    used = {b.entry.request.client_order_id, *(o.request.client_order_id for o in b.legs.values())}
    assert b.nonce == len(used) == 3

    back = _resumed(ex, venue, _checkpoint(ex))
    [r] = back.brackets.values()
    assert r.instance.state == "protected"
    back.exit(r, "signal")
    [close] = r.exits
    assert close.request.client_order_id not in used, "the restored bracket's close reused an id it had sent"
    assert close.request.reduce_only

    _step(back, venue, bs.XRP[283:286])
    assert venue.ledger.qty("XRP-PERP") == 0.0
    assert r.instance.state == "closed"
