"""A close the venue refused for an exit that is not a flatten (a strategy's exit, max hold, the
weekend) is re-sent at the next bar, and at each bar after, until the position is flat or its stop
closes it (specs/orders/bracket.yaml, `price_update` from `flattening`): the exit has no retry of
its own, so the position used to stay open, with its stop, until an operator's flatten. A close is
sent only while none works, the refusal is recorded once with a count, and the stop stays.

On the real paper venue and the real order and bracket specs, XRP-PERP's bundled bars; the venue
refuses market closes while `shut` (as it would a market shut, or dust under its minimum notional)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from adapters.base import ReportStatus, VenueReport
from adapters.paper import PaperConfig
from bracket_support import XRP, execution_at, order_machines
from engine.domain import Domain, Side
from engine.risk.types import Intent
from engine.runtime import BoundMachine

OPEN_AT = 280  # XRP-PERP falls from 1.1767 to 1.1324 over the next 20 bars, never above 1.1768
ATR = 1.0  # wide: no breakeven or trailing step moves the stop (not what these tests are about)


@pytest.fixture(scope="module")
def machines() -> dict[str, BoundMachine]:
    return order_machines()


class Shut:
    """Refuses every market close (an exit order) submitted while `shut`; counts them."""

    def __init__(self, venue) -> None:
        self.shut, self.refused, self.sent, inner = False, 0, 0, venue.submit

        def submit(req):
            if req.role.value != "exit":
                return inner(req)
            self.sent += 1
            if self.shut:
                self.refused += 1
                return VenueReport(req.client_order_id, ReportStatus.REJECTED, reason="market closed", refused=True)
            return inner(req)

        venue.submit = submit


def _opened(machines, side: Side = Side.BUY, stop: float = 1.10, take_profit: float = 1.30):
    """A bracket on XRP-PERP whose entry filled (protected), one bar after OPEN_AT."""
    venue, journal, ex = execution_at(machines, PaperConfig(partial_fill_prob=0.0), OPEN_AT)
    shut = Shut(venue)
    quote = venue.quote("XRP-PERP")
    if side is Side.SELL:
        stop, take_profit = 2 * quote.bid - stop, 2 * quote.bid - take_profit
    b = ex.open_bracket(Intent("XRP-PERP", Domain.CRYPTO_PERP, side, quote, stop, take_profit, quote.ts, "s"), 100.0)
    _bar(ex, venue, OPEN_AT + 1)
    assert b.instance.state == "protected"
    return ex, b, venue, journal, shut


def _bar(ex, venue, i: int) -> None:
    """One bar as the run steps it: the venue's reports, then the bar's price update."""
    bar = XRP[i]
    ex.clock.set(bar.ts)
    ex.on_reports(venue.on_bar(bar))
    ex.price_update("XRP-PERP", bar.close, ATR)


def _live_closes(ex, b) -> int:
    return sum(ex.is_live(o) for o in b.exits)


def _refusal_rows(journal, b) -> list[str]:
    return [r for r in journal.rejections(b.id) if r.startswith("venue refused the close")]


@pytest.mark.parametrize("reason", ["signal", "max_hold", "weekend"])
def test_a_refused_exit_close_is_re_sent_each_bar_until_it_fills(machines, reason: str) -> None:
    ex, b, venue, journal, shut = _opened(machines)
    shut.shut = True
    ex.exit(b, reason)
    assert b.instance.state == "flattening" and b.instance.ctx["close_refused"] and len(b.exits) == 1
    for i in range(OPEN_AT + 2, OPEN_AT + 6):
        _bar(ex, venue, i)
    # One re-send a bar, each refused: the position is still open and its stop still works.
    assert len(b.exits) == 5, "the refused exit close was not re-sent at the next bars"
    assert b.instance.ctx["close_refusals"] == 5 and b.open_qty == pytest.approx(100.0)
    assert any(o.request.client_order_id == b.legs["stop_loss"].id for o in venue.open_orders())
    [row] = _refusal_rows(journal, b)  # recorded once, not once a bar
    assert "re-sends the close" in row and len(ex.faults) == 1
    shut.shut = False
    _bar(ex, venue, OPEN_AT + 6)  # re-sent, accepted
    _bar(ex, venue, OPEN_AT + 7)  # filled
    assert b.instance.state == "closed" and b.open_qty == pytest.approx(0.0)
    assert not [o for o in venue.open_orders() if o.request.symbol == "XRP-PERP"], "an order outlived the exit"
    assert b.exit_reason == reason, "the re-sent close lost the exit's reason"


def test_a_working_exit_close_is_not_sent_again(machines) -> None:
    ex, b, venue, _, shut = _opened(machines)
    ex.exit(b, "signal")
    sent = shut.sent
    ex.price_update("XRP-PERP", XRP[OPEN_AT + 1].close, ATR)
    ex.exit(b, "signal")  # the strategy still wants out on the next bar: already leaving
    assert shut.sent == sent == 1 and _live_closes(ex, b) == 1


def test_a_kill_flatten_and_the_bar_re_send_a_refused_close_once_between_them(machines) -> None:
    """While the kill switch flattens, its retry (before the bar's price update) re-sends the close;
    the bar does not send a second one."""
    ex, b, venue, _, shut = _opened(machines)
    shut.shut = True
    ex.exit(b, "signal")
    for i in range(OPEN_AT + 2, OPEN_AT + 5):
        ex.broadcast("kill_flatten")
        _bar(ex, venue, i)
    assert len(b.exits) == 4, "more than one re-send a bar"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(side=st.sampled_from([Side.BUY, Side.SELL]), stop=st.sampled_from([1.10, 1.15, 1.165]),
       exit_after=st.integers(0, 4), shut=st.lists(st.booleans(), min_size=1, max_size=12),
       reason=st.sampled_from(["signal", "max_hold", "weekend"]))
def test_a_refused_exit_close_is_re_sent_until_flat_never_two_at_once(machines, side, stop, exit_after, shut,
                                                                      reason) -> None:
    """Whatever the venue refuses: never more than one close works, at most one is sent a bar, and
    once the venue takes closes again the position ends flat (by the close, or by the stop)."""
    ex, b, venue, journal, venue_shut = _opened(machines, side, stop)
    i = OPEN_AT + 2
    for _ in range(exit_after):
        _bar(ex, venue, i)
        i += 1
    exited = b.instance.state == "protected"  # else its stop (or target) closed it already
    if exited:
        venue_shut.shut = shut[0]
        ex.exit(b, reason)
    for refuse in [*shut[1:], False, False]:
        venue_shut.shut = refuse
        before = venue_shut.sent
        _bar(ex, venue, i)
        i += 1
        assert venue_shut.sent - before <= 1, "two closes sent on one bar"
        assert _live_closes(ex, b) <= 1, "two closes working at once"
        if b.instance.state != "closed":
            assert any(o.request.client_order_id == b.legs["stop_loss"].id for o in venue.open_orders()), \
                "the position lost its stop while its close was refused"
    assert b.instance.state == "closed" and b.open_qty == pytest.approx(0.0, abs=1e-9)
    assert not [o for o in venue.open_orders() if o.request.symbol == "XRP-PERP"]
    assert len(_refusal_rows(journal, b)) == (1 if venue_shut.refused else 0)
    assert b.instance.ctx["close_refusals"] == venue_shut.refused


def _run_flattening(tmp_path, reason: str, max_hold_s: float, flip_every: int):
    """A run (ETH_BTC 5m, flips every `flip_every` bars) whose position's exit close the venue refused:
    the runner, the bracket (flattening) and the venue's checker (still refusing)."""
    from run_support import Scenario, build, write_env_override
    from test_flatten_overdue import RefusesCloses

    sc = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=400, seed=2, partial_fill_prob=0.0,
                  slippage_bps=0.0, max_hold_s=max_hold_s, flip_every=flip_every)
    checker = RefusesCloses()
    runner = build(sc, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), checker)
    ses, ex = runner.session, runner.session.execution
    checker.refuse(ses.venue)
    while not any(b.instance.has_tag("position_open") for b in ex.brackets.values()):
        assert runner.bars < 150, "the flips open a position"
        runner.run(limit=runner.bars + 1)
    [b] = [b for b in ex.brackets.values() if b.instance.has_tag("position_open")]
    checker.refusing = True
    while b.instance.state != "flattening":
        assert runner.bars < 300 and b.instance.state == "protected", "the position is not exited"
        runner.run(limit=runner.bars + 1)
    assert b.exit_whys[b.exits[0].id] == reason and b.instance.ctx["close_refused"]
    return runner, b, checker


@pytest.mark.parametrize("reason, max_hold_s, flip_every", [("signal", 1e9, 8), ("max_hold", 3600.0, 60)])
def test_a_run_re_sends_a_refused_exit_close_each_bar_and_journals_it_once(tmp_path, reason: str, max_hold_s: float,
                                                                         flip_every: int) -> None:
    """The run's own bars re-send the refused close of a strategy's exit or a max-hold exit, one a bar,
    until the venue takes it; the journal has one rejection row and one fault. After a max-hold exit the
    strategy still wants the side, so the bars after it are quiet but for the re-send: skipping them
    (engine/run/quiet.py) would skip the re-sends."""
    runner, b, checker = _run_flattening(tmp_path, reason, max_hold_s, flip_every)
    ses, ex = runner.session, runner.session.execution
    runner.run(limit=runner.bars + 6)
    assert b.instance.state == "flattening" and len(b.exits) == 7, "the run did not re-send the refused close once a bar"
    checker.refusing = False
    runner.run(limit=runner.bars + 2)
    assert b.instance.done and b.open_qty == 0.0, "the refused exit left the position open"
    ses.ledger.flush(ses.books.values(), ex.orders.values())
    rows = list(ses.store.iter_journal())
    refusals = [r for r in rows if r.kind == "rejection" and r.key == b.id and r.reason.startswith("venue refused the close")]
    faults = [r for r in rows if r.kind == "fault" and "refused the exit" in r.reason]
    assert (len(refusals), len(faults)) == (1, 1)
    assert b.exit_reason == reason, "the re-sent close lost the exit's reason"


@pytest.mark.parametrize("reason, max_hold_s, flip_every", [("signal", 1e9, 8), ("max_hold", 3600.0, 60)])
def test_a_run_re_sends_a_refused_exit_close_on_bars_whose_atr_is_unknown(tmp_path, reason: str, max_hold_s: float,
                                                                        flip_every: int) -> None:
    """A bar without an ATR (NaN: a gap in the data, a window not yet full) still re-sends the refused
    close: the re-send needs no ATR, and only breakeven and trailing wait for one. The run used to send
    such a bar no price update at all, so the position stayed open with its exit wanted."""
    runner, b, checker = _run_flattening(tmp_path, reason, max_hold_s, flip_every)
    [s] = runner.timeline.series
    s.atr = np.full_like(s.atr, np.nan)  # every bar from here on (the ones stepped already read theirs)
    runner.run(limit=runner.bars + 6)
    assert b.instance.state == "flattening" and len(b.exits) == 7, \
        "the run did not re-send the refused close on the bars without an ATR"
    assert b.instance.ctx["close_refusals"] == 7
    checker.refusing = False
    runner.run(limit=runner.bars + 2)
    assert b.instance.done and b.open_qty == 0.0, "the refused exit left the position open"
    assert b.exit_reason == reason
