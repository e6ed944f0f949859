"""The paper venue on real bundled bars: harsh, deterministic, no invented prices."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from adapters.base import ReportStatus as S
from adapters.base import Venue
from adapters.paper import PaperConfig, PaperVenue
from adapters.paper.funding import bundled_funding
from adapters.paper.pricing import half_spread
from adapters.paper.streams import fill_stream
from adapters.paper.venue import _MEMORY_DROP_EVERY
from engine.data import bundled
from engine.data.bars import iter_bars
from engine.domain import Bar, Domain, OrderRequest, OrderType, Role, Side
from paper_support import paper_config

XRP = list(iter_bars(bundled.load("crypto_perp/XRP-PERP-5m")))
ETH = list(iter_bars(bundled.load("crypto_spot/ETH_BTC-5m")))
GBP = list(iter_bars(bundled.load("forex/GBPUSD-1m")))[:200]
NO_PARTIALS = PaperConfig(partial_fill_prob=0.0)


def order(venue, coid, side, qty, type_=OrderType.MARKET, role=Role.ENTRY, price=None, symbol="XRP-PERP",
          quote_id=None, **kw) -> OrderRequest:
    q = venue.quote(symbol)
    return OrderRequest(coid, symbol, side, qty, type_, role, quote_id or q.snapshot_id, q.ts, price=price, **kw)


def run(venue, bars):
    reports = []
    for b in bars:
        reports += venue.on_bar(b)
    return reports


def fills(reports, coid):
    return [f for r in reports if r.client_order_id == coid for f in r.fills]


def test_paper_venue_implements_the_venue_protocol():
    v = PaperVenue()
    assert isinstance(v, Venue) and v.is_live is False and v.name == "paper"


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_market_slippage_always_against_the_trader(side):
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[10])
    q = v.quote("XRP-PERP")
    v.submit(order(v, "m", side, 50))
    (fill,) = fills(v.on_bar(XRP[11]), "m")
    touch = q.ask if side is Side.BUY else q.bid
    slipped = touch * (1 + side.sign * 8 / 1e4)
    assert side.sign * (fill.price - slipped) >= -1e-4  # at or beyond snapshot + 8 bps (tick-rounded against)
    assert fill.liquidity == "taker" and fill.quote_id == q.snapshot_id
    assert fill.fee == pytest.approx(fill.qty * fill.price * 5.5 / 1e4)


def test_real_bid_ask_quotes_are_used_where_the_data_has_them():
    v = PaperVenue()
    v.on_bar(GBP[5])
    q = v.quote("GBP/USD")
    assert (q.bid, q.ask) == (GBP[5].bid, GBP[5].ask)
    assert q.snapshot_id == f"q:GBP/USD:{int(GBP[5].ts * 1000)}"


def partial_run(seed):
    v = PaperVenue(PaperConfig(partial_fill_prob=0.5, seed=seed))
    v.on_bar(XRP[0])
    for i in range(6):
        v.submit(order(v, f"p{i}", Side.BUY, 40))
    reports = run(v, XRP[1:8])
    return [(r.client_order_id, r.status, tuple((f.qty, f.price) for f in r.fills)) for r in reports]


def test_partial_fills_are_deterministic_under_a_seed():
    a, b = partial_run(8), partial_run(8)  # (seed 7 draws six whole fills from XRP-PERP's stream)
    assert a == b
    assert any(status is S.PARTIALLY_FILLED for _, status, _ in a)
    assert partial_run(9) != a


def test_limit_orders_are_taker_only_they_fill_only_when_price_trades_through():
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[0])
    i = next(k for k in range(2, 300) if XRP[k].low < XRP[k - 1].low - 0.002)
    run(v, XRP[1:i - 1])
    touch = XRP[i].low  # a buy limit exactly at the low is only touched, never traded through
    through = XRP[i].low + 0.001
    v.submit(order(v, "touch", Side.BUY, 50, OrderType.LIMIT, price=touch))
    v.submit(order(v, "through", Side.BUY, 50, OrderType.LIMIT, price=through))
    reports = run(v, XRP[i - 1:i + 1])
    assert not fills(reports, "touch")
    (f,) = fills(reports, "through")
    assert f.price == pytest.approx(through) and f.liquidity == "taker"
    assert f.fee == pytest.approx(f.qty * f.price * 5.5 / 1e4)  # taker fee, no maker rebate


def test_clamp_snaps_to_tick_and_step_and_rejects_below_min_notional():
    events = []
    v = PaperVenue(NO_PARTIALS, on_event=events.append)
    v.on_bar(XRP[0])
    r = v.submit(order(v, "c1", Side.BUY, 12.345, OrderType.LIMIT, price=1.123456))
    assert r.status is S.ACCEPTED
    assert r.clamp.kind == "CLAMP" and r.clamp.detail["changes"] == {
        "qty": {"from": 12.345, "to": 12.3}, "price": {"from": 1.123456, "to": 1.1234}}
    (o,) = v.open_orders()
    assert (o.request.qty, o.request.price) == (12.3, 1.1234)
    small = v.submit(order(v, "c2", Side.BUY, 2.0))  # 2 XRP ~ 2.4 USDT < 5 USDT minimum
    assert small.status is S.REJECTED and "below the minimum 5" in small.reason
    assert small.clamp.detail["rejected"] == small.reason
    tiny = v.submit(order(v, "c3", Side.BUY, 0.05))
    assert tiny.status is S.REJECTED and "below the step 0.1" in tiny.reason
    assert [e.kind for e in events] == ["CLAMP", "CLAMP", "CLAMP"]


def test_sell_prices_round_up_buy_prices_round_down():
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[0])
    r = v.submit(order(v, "s", Side.SELL, 10, OrderType.LIMIT, price=1.300001))
    assert r.status is S.ACCEPTED and r.clamp.detail["changes"]["price"]["to"] == 1.3001


@pytest.mark.parametrize("partial", [0.0, 1.0], ids=["whole fills", "the stop fills in part"])
def test_stop_beats_take_profit_when_both_touched_in_one_bar(partial):
    """rev29: a stop that filled only in part left the take-profit working on the same bar, which
    then filled at the target: better than the stop-first rule, which takes the worse extreme."""
    v = PaperVenue(PaperConfig(partial_fill_prob=partial))
    v.on_bar(XRP[0])
    run(v, XRP[1:3])
    v.submit(order(v, "entry", Side.BUY, 100))
    run(v, XRP[3:5])
    assert v.positions()
    # an "outside" bar: its range exceeds the previous bar's by 0.002 (20 ticks) on each side
    k = next(k for k in range(6, len(XRP)) if XRP[k].low + 0.002 < XRP[k - 1].low
             and XRP[k].high - 0.002 > XRP[k - 1].high)
    run(v, XRP[5:k])
    bar = XRP[k]
    sl, tp = bar.low + 0.002, bar.high - 0.002  # both inside bar k's range, outside bar k-1's
    v.submit(order(v, "sl", Side.SELL, 100, OrderType.STOP, Role.STOP_LOSS, price=sl, parent_id="entry"))
    v.submit(order(v, "tp", Side.SELL, 100, OrderType.LIMIT, Role.TAKE_PROFIT, price=tp, parent_id="entry"))
    reports = v.on_bar(bar)
    statuses = {(r.client_order_id, r.status) for r in reports}
    assert ("sl", S.TRIGGERED) in statuses and fills(reports, "sl")[0].price <= sl  # the worse outcome
    assert not fills(reports, "tp")
    if partial:  # both legs work on, the stop's remainder first
        assert ("sl", S.PARTIALLY_FILLED) in statuses and v.positions()
    else:
        assert ("sl", S.FILLED) in statuses and ("tp", S.CANCELED) in statuses and not v.positions()


def test_a_working_market_close_fills_before_a_stop_the_bar_touches():
    """A flatten keeps its stop until flat: the market close sent before the bar fills at its open,
    before the stop (which triggers at the open at the earliest) can take the position at a worse price."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[0])
    run(v, XRP[1:3])
    v.submit(order(v, "entry", Side.BUY, 100))
    run(v, XRP[3:5])
    k = next(k for k in range(6, len(XRP)) if XRP[k].low + 0.002 < min(XRP[k].open, XRP[k - 1].low))
    run(v, XRP[5:k])
    sl = XRP[k].low + 0.002  # touched inside bar k, under its open and bar k-1's range
    v.submit(order(v, "sl", Side.SELL, 100, OrderType.STOP, Role.STOP_LOSS, price=sl, parent_id="entry",
                   reduce_only=True))
    v.submit(order(v, "close", Side.SELL, 100, OrderType.MARKET, Role.EXIT, reduce_only=True))
    reports = v.on_bar(XRP[k])
    assert [f.qty for f in fills(reports, "close")] == [100] and not fills(reports, "sl")
    assert not v.positions()


def test_funding_longs_pay_positive_rate_shorts_receive():
    funding = bundled_funding()
    start = next(i for i, b in enumerate(XRP) if b.ts >= funding["XRP-PERP"][0][0] - 3600)
    paid = {}
    for side in (Side.BUY, Side.SELL):
        v = PaperVenue(NO_PARTIALS, funding=funding)
        v.on_bar(XRP[start])
        v.submit(order(v, "f", side, 100))
        run(v, XRP[start + 1:start + 20])  # crosses 2021-11-18 00:00, rate +0.0001
        (event,) = v.events("FUNDING")
        assert event.detail["rate"] > 0
        paid[side] = event.detail["paid"]
        (pos,) = v.positions()
        assert pos.extra["funding_paid"] == pytest.approx(paid[side])
    assert paid[Side.BUY] == pytest.approx(0.0001 * 100 * event.detail["mark"])
    assert paid[Side.BUY] > 0 > paid[Side.SELL]


def test_orders_need_a_quote_the_venue_issued_for_the_current_bar():
    v = PaperVenue()
    v.on_bar(XRP[0])
    invented = v.submit(order(v, "x", Side.BUY, 50, quote_id="q:XRP-PERP:123"))
    assert invented.status is S.REJECTED and "never issued" in invented.reason
    stale_id = v.quote("XRP-PERP").snapshot_id
    v.on_bar(XRP[1])
    stale = v.submit(order(v, "y", Side.BUY, 50, quote_id=stale_id))
    assert stale.status is S.REJECTED and "old" in stale.reason
    assert v.submit(order(v, "z", Side.BUY, 50)).status is S.ACCEPTED
    assert v.submit(order(v, "x", Side.BUY, 50)).status is S.REJECTED  # idempotent replay of the same id


def test_spot_cannot_short_and_reduce_only_needs_a_position():
    v = PaperVenue()
    v.on_bar(ETH[0])
    short = v.submit(order(v, "s", Side.SELL, 1.0, symbol="ETH/BTC"))
    assert short.status is S.REJECTED and "cannot go short" in short.reason
    exit_ = v.submit(order(v, "e", Side.SELL, 1.0, role=Role.EXIT, symbol="ETH/BTC"))
    assert exit_.status is S.REJECTED and "reduce-only" in exit_.reason
    broke = v.submit(order(v, "b", Side.BUY, 50_000.0, symbol="ETH/BTC"))
    assert broke.status is S.REJECTED and "insufficient crypto_spot funds" in broke.reason


@pytest.mark.parametrize("first", [{"coid": "exit", "reduce_only": True}, {"coid": "sell1"}])
def test_spot_cannot_go_short_when_a_sell_fills_after_another(first):
    """Holding 1 ETH/BTC, two sells of 1 are each within the holding when sent (an exit and an
    entry, or two entries): the second finds nothing left when it fills and is canceled."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(ETH[0])
    v.submit(order(v, "buy", Side.BUY, 1.0, symbol="ETH/BTC"))
    v.on_bar(ETH[1])
    v.submit(order(v, first["coid"], Side.SELL, 1.0, symbol="ETH/BTC", reduce_only=first.get("reduce_only", False)))
    assert v.submit(order(v, "sell2", Side.SELL, 1.0, symbol="ETH/BTC")).status is S.ACCEPTED
    reports = run(v, ETH[2:4])
    assert v.ledger.qty("ETH/BTC") == 0.0 and not fills(reports, "sell2")
    assert "cannot go short" in v.order_status("sell2").reason


def test_latency_orders_wait_for_the_next_bar():
    v = PaperVenue(PaperConfig(partial_fill_prob=0.0, latency_ms=10 * 60 * 1000))  # two 5m bars
    v.on_bar(XRP[0])
    v.submit(order(v, "slow", Side.BUY, 50))
    assert not fills(run(v, XRP[1:3]), "slow")
    assert fills(run(v, XRP[3:4]), "slow")


def test_state_survives_close_and_reopen(tmp_path):
    path = tmp_path / "paper.sqlite"
    cfg = PaperConfig(partial_fill_prob=0.3, seed=3)
    v = PaperVenue.open(path, cfg, funding=bundled_funding())
    v.on_bar(XRP[0])
    v.submit(order(v, "a", Side.BUY, 100))
    run(v, XRP[1:4])
    v.submit(order(v, "tp", Side.SELL, 100, OrderType.LIMIT, Role.TAKE_PROFIT, price=2.0, parent_id="a"))
    v.submit(order(v, "b", Side.SELL, 30, OrderType.LIMIT, price=1.9))
    before = (v.open_orders(), v.positions(), v.balances(), v.order_status("a"))
    v.ack()  # the engine checkpointed: a reopened venue goes live at once (catch-up: test_paper_replay.py)
    v.close()

    w = PaperVenue.open(path, funding=bundled_funding())  # config restored from the file too
    assert w.config == cfg
    assert (w.open_orders(), w.positions(), w.balances(), w.order_status("a")) == before
    assert w.quote("XRP-PERP").snapshot_id == v.quote("XRP-PERP").snapshot_id
    # ...and the replay continues exactly as an uninterrupted venue would
    rest = XRP[4:60]
    w_reports = run(w, rest)
    u = PaperVenue(cfg, funding=bundled_funding())
    u.on_bar(XRP[0])
    u.submit(order(u, "a", Side.BUY, 100))
    run(u, XRP[1:4])
    u.submit(order(u, "tp", Side.SELL, 100, OrderType.LIMIT, Role.TAKE_PROFIT, price=2.0, parent_id="a"))
    u.submit(order(u, "b", Side.SELL, 30, OrderType.LIMIT, price=1.9))
    assert run(u, rest) == w_reports and u.balances() == w.balances()


def test_cancel_and_amend():
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[0])
    v.submit(order(v, "l", Side.BUY, 50, OrderType.LIMIT, price=0.5))
    amended = v.amend("l", price=0.612345)
    assert amended.status is S.ACCEPTED and v.open_orders()[0].request.price == 0.6123
    assert v.cancel("l").status is S.CANCELED and not v.open_orders()
    assert v.cancel("l").status is S.CANCELED  # the venue's truth, unchanged
    assert v.cancel("nope").status is S.UNKNOWN and v.order_status("nope") is None
    assert v.balances()[Domain.CRYPTO_PERP] == 1000.0


def test_every_fill_attempt_takes_two_draws_from_the_seeded_stream():
    # A whole fill discards its fraction draw (random_raw() instead of uniform()): the stream, and
    # so every later partial fill and a restored venue, must not depend on which one it was.
    v = PaperVenue(PaperConfig(partial_fill_prob=0.0, seed=3))
    v.on_bar(XRP[0])
    v.submit(order(v, "a", Side.BUY, 100))
    v.submit(order(v, "b", Side.BUY, 50))
    run(v, XRP[1:3])
    assert v.positions()[0].qty == 150  # two whole fills
    ref = fill_stream(3, "XRP-PERP")
    for _ in range(2):
        ref.random(), ref.uniform(0.2, 0.8)
    assert v._rngs["XRP-PERP"].bit_generator.state == ref.bit_generator.state


def test_a_conformed_request_keeps_every_other_field():
    from dataclasses import fields, replace

    from adapters.paper.clamp import _on_grid

    # _on_grid spells OrderRequest's fields out: a new field must be added there too.
    assert [f.name for f in fields(OrderRequest)] == [
        "client_order_id", "symbol", "side", "qty", "type", "role", "quote_id", "ts", "price", "reduce_only",
        "strategy", "parent_id", "tags"]
    req = OrderRequest("c", "XRP-PERP", Side.SELL, 12.345, OrderType.STOP, Role.STOP_LOSS, "q:1", 5.0, 1.23456,
                       True, "s", "p", ("exploration",))
    assert _on_grid(req, 12.3, 1.2346) == replace(req, qty=12.3, price=1.2346)


@pytest.mark.parametrize("inc", [1e-5, 1e-4, 0.01, 0.1, 0.5, 2.5e-5, 1.0, 5.0, 0.3, 1000.0, 1e-20])
def test_snap_is_the_decimal_grid_point(inc):
    from decimal import Decimal

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from decimal import ROUND_CEILING, ROUND_FLOOR

    from adapters.paper.clamp import snap

    def by_decimals(x: float, up: bool) -> float:  # the rule as clamp.py states it, in Decimal only
        ratio = Decimal(repr(float(x))) / Decimal(repr(inc))
        n = ratio.to_integral_value()
        if abs(ratio - n) >= Decimal("1e-9"):
            n = ratio.to_integral_value(ROUND_CEILING if up else ROUND_FLOOR)
        return float(n * Decimal(repr(inc)))

    @settings(max_examples=300, deadline=None)
    @given(st.floats(-1e9, 1e9, allow_nan=False) | st.integers(-10**7, 10**7).map(lambda n: n * inc)
           | st.integers(-10**7, 10**7).map(lambda n: n * inc * (1 + 1e-13)), st.booleans())
    def check(x, up):
        got, want = snap(x, inc, up), by_decimals(x, up)
        assert got == want and (repr(got) == repr(want) or got == 0)  # (the sign of a zero aside)

    check()


def test_dump_writes_what_asdict_wrote():
    # A durable venue dumps bars, quotes, fills, requests and positions on every commit and into
    # its replay log: the field-by-field dump must give the very JSON the asdict one gave.
    import json
    from dataclasses import asdict

    from adapters.paper.model import dump
    from engine.domain import Bar, Fill, Position, Quote

    def reference(obj):
        return {k: (v.value if hasattr(v, "value") else list(v) if isinstance(v, tuple) else v)
                for k, v in asdict(obj).items()}

    values = [Bar("XRP-PERP", 1.5, 1.0, 2.0, 0.5, 1.5, 10.0, 1.4, 1.6), Bar("X", 2.0, 1, 1, 1, 1),
              Quote("q:X:1", "X", 1.0, 0.99, 1.01, 1.0),
              Fill("c", "c-1", "X", Side.SELL, 2.0, 1.5, 0.01, 3.0, "q:X:1"),
              OrderRequest("c", "X", Side.BUY, 1.0, OrderType.STOP, Role.STOP_LOSS, "q", 1.0, 2.0, True, "s", "p",
                           ("exploration", "x")),
              Position("X", Domain.CRYPTO_PERP, -2.0, 1.5, 0.3, 7.0, {"funding_paid": 0.1, "n": [1, 2]})]
    for v in values:
        assert json.dumps(dump(v)) == json.dumps(reference(v))


@pytest.mark.parametrize("start, offset, first", [(0, 0.0005, "sl"), (77, 0.0005, "tp"), (0, 0.05, None)])
def test_quiet_bars_is_the_first_bar_on_bar_would_act_on(start, offset, first):
    """A resting take-profit and stop-loss either side of a long: quiet_bars counts exactly the
    bars that on_bar passes without a report, whichever leg is touched first (or neither)."""
    import numpy as np

    bars = ETH[start:]

    def venue():
        v = PaperVenue(NO_PARTIALS)
        run(v, bars[:3])
        v.submit(order(v, "entry", Side.BUY, 1.0, symbol="ETH/BTC"))
        run(v, bars[3:6])
        lo, hi = min(b.low for b in bars[6:8]) - offset, max(b.high for b in bars[6:8]) + offset
        for coid, type_, role, price in (("tp", OrderType.LIMIT, Role.TAKE_PROFIT, hi),
                                         ("sl", OrderType.STOP, Role.STOP_LOSS, lo)):
            v.submit(order(v, coid, Side.SELL, 1.0, type_, role, price=price, symbol="ETH/BTC",
                           parent_id="entry"))
        assert not run(v, bars[6:8])  # past the latency: both legs rest
        return v

    ahead = bars[8:400]
    ts, high, low = (np.array([getattr(b, f) for b in ahead]) for f in ("ts", "high", "low"))
    q = venue().quiet_bars(ahead[0], ts, high, low)
    stepped = venue()
    acted = next(((i, rs[0].client_order_id) for i, b in enumerate(ahead) if (rs := stepped.on_bar(b))),
                 (len(ahead), None))
    assert (q, first) == acted


# -- bounded history ---------------------------------------------------------------------
def churn(v, bars, tag=""):
    """A round trip a bar (with partial fills, a resting take-profit and a canceled limit), all
    final soon after; returns every answer the venue gave."""
    answers = [v.on_bar(bars[0])]
    for i, b in enumerate(bars[1:]):
        side = Side.BUY if i % 2 == 0 else Side.SELL
        answers.append(v.submit(order(v, f"{tag}m{i}", side, 40)))
        answers.append(v.submit(order(v, f"{tag}l{i}", Side.BUY, 30, OrderType.LIMIT, price=0.01)))
        answers.append(v.cancel(f"{tag}l{i}"))
        answers += v.on_bar(b)
    return answers


def asked_again(v, n, tag=""):
    """What the venue says of every old order: its status, a duplicate submit, a cancel, an amend."""
    out = []
    for i in range(n):
        for coid in (f"{tag}m{i}", f"{tag}l{i}"):
            out += [v.order_status(coid), v.submit(order(v, coid, Side.BUY, 40)), v.cancel(coid),
                    v.amend(coid, qty=50.0)]
    return out


def test_a_venue_keeps_a_bounded_history_and_answers_for_old_orders_as_before():
    cfg = PaperConfig(partial_fill_prob=0.3, seed=5)
    small, full = PaperVenue(cfg), PaperVenue(cfg)
    small.history = 4
    bars = XRP[:700]
    assert churn(small, bars) == churn(full, bars)
    # In memory the history is trimmed where the unwritten change set is dropped (every
    # _MEMORY_DROP_EVERY bars): at most that many bars' orders (two a bar here) above the bound.
    per_drop = 2 * _MEMORY_DROP_EVERY
    assert small._retired and len(small._orders) <= 2 * small.history + per_drop + len(small._open) < len(full._orders)
    assert len(small._issued) <= 2 * small.history + per_drop and len(small._events) <= 2 * small.history + per_drop
    assert asked_again(small, len(bars) - 1) == asked_again(full, len(bars) - 1)
    assert run(small, XRP[700:760]) == run(full, XRP[700:760])


def test_a_durable_venue_with_a_small_history_reopens_and_answers_the_same(tmp_path):
    cfg = PaperConfig(partial_fill_prob=0.3, seed=5)
    small = PaperVenue.open(tmp_path / "small.sqlite", cfg)
    small.history = 4
    full = PaperVenue(cfg)
    bars = XRP[:120]
    assert churn(small, bars) == churn(full, bars)
    assert small._retired and len(small._orders) <= 2 * small.history + len(small._open)  # trimmed at each commit
    small.ack()
    small.close()
    again = PaperVenue.open(tmp_path / "small.sqlite")
    assert asked_again(again, len(bars) - 1) == asked_again(full, len(bars) - 1)


def test_legs_sent_with_their_entry_wait_for_its_fill_then_protect_it():
    # One-step placement: the take-profit and stop go with a resting entry, as contingent
    # orders. They must neither fill nor be refused before the entry has made a position.
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[0])
    run(v, XRP[1:3])
    below = XRP[2].low - 0.02  # a buy limit that rests: the price has to come down to it
    assert v.submit(order(v, "entry", Side.BUY, 100, OrderType.LIMIT, price=below)).status is S.ACCEPTED
    sl = order(v, "sl", Side.SELL, 100, OrderType.STOP, Role.STOP_LOSS, price=below - 0.01, parent_id="entry")
    tp = order(v, "tp", Side.SELL, 100, OrderType.LIMIT, Role.TAKE_PROFIT, price=XRP[2].low, parent_id="entry")
    assert v.submit(sl).status is S.ACCEPTED and v.submit(tp).status is S.ACCEPTED
    half = half_spread(XRP[3], below, NO_PARTIALS.spread_bps[Domain.CRYPTO_PERP])
    k = next(k for k in range(3, len(XRP)) if XRP[k].low + half < below)  # the ask trades through it
    before = run(v, XRP[3:k])
    assert not [r for r in before if r.client_order_id in ("sl", "tp")]  # the take-profit's price was traded
    run(v, XRP[k:k + 1])
    assert v.positions() and v.positions()[0].qty == 100
    after = run(v, XRP[k + 1:])
    assert fills(after, "sl") or fills(after, "tp")
    assert not v.positions()


def test_a_leg_without_a_working_entry_is_refused():
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[0])
    orphan = v.submit(order(v, "sl", Side.SELL, 100, OrderType.STOP, Role.STOP_LOSS, price=XRP[0].low - 0.01,
                            parent_id="no-such-entry"))
    assert orphan.status is S.REJECTED and "reduce-only" in orphan.reason


def test_a_whole_position_closes_below_the_minimum_notional():
    """A reduce-only order that closes all of a position passes whatever it is worth; part of a
    position, or an opening order, is held to the minimum (else a remnant could never close)."""
    from dataclasses import replace

    from adapters.paper.clamp import conform
    from adapters.paper.catalogue import Catalogue

    inst = Catalogue.load().get("XRP-PERP")
    close = OrderRequest("c", "XRP-PERP", Side.BUY, 3.2, OrderType.MARKET, Role.EXIT, "q:1", 5.0, None, True)
    price = inst.min_notional / 10  # 3.2 units are worth 0.32 minimums
    assert conform(close, inst, price, 5.0, held=-3.2).request is not None
    assert conform(close, inst, price, 5.0, held=-6.4).request is None  # part of the position
    assert conform(close, inst, price, 5.0, held=3.2).request is None  # would open, not close
    assert conform(replace(close, reduce_only=False, role=Role.ENTRY), inst, price, 5.0, held=-3.2).request is None


def test_lot_sized_fills_that_close_a_position_leave_no_dust():
    """10839.7 + 3722.2 - 14561.9 is 1.8e-12 in floats: that is no position."""
    from adapters.paper.catalogue import Catalogue
    from adapters.paper.ledger import Ledger
    from engine.domain import Fill

    inst = Catalogue.load().get("XRP-PERP")
    ledger = Ledger({d: 1e6 for d in Domain})
    for i, (side, qty) in enumerate([(Side.SELL, 10839.7), (Side.SELL, 3722.2), (Side.BUY, 14561.9)]):
        ledger.apply_fill(Fill("c", f"f{i}", "XRP-PERP", side, qty, 1.0, 0.0, float(i), "q", "taker"), inst)
    assert not ledger.positions["XRP-PERP"].is_open and ledger.qty("XRP-PERP") == 0.0


def test_a_perp_positions_margin_leaves_crypto_spots_free_funds_alone():
    """Seed 001: wallets are segregated per domain, no cross-funding. Margin a crypto_perp position
    ties up counts against the perp account alone; crypto spot keeps all its funds."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[10])
    v.on_bar(ETH[10])
    lev = v.config.leverage[Domain.CRYPTO_PERP]
    v.submit(order(v, "p", Side.BUY, round(0.8 * 1000 * lev / v.quote("XRP-PERP").ask)))  # 80% of the perp account
    assert fills(v.on_bar(XRP[11]), "p")
    half = round(0.5 * 1000 / v.quote("ETH/BTC").ask, 2)  # half the spot account
    spot = v.submit(order(v, "s", Side.BUY, half, symbol="ETH/BTC"))
    assert spot.status is S.ACCEPTED, spot.reason


def test_a_limit_marketable_on_arrival_ends_a_quiet_stretch():
    """quiet_bars applies the first bar's arrival rule as on_bar does: a limit whose price is
    exactly the ask at the open (no slippage) fills there on arrival, though no price trades
    through it (the bar opens at its low). Without that check the screen passed the bar and
    the fill came later or never (mutant P03)."""
    import dataclasses

    import numpy as np

    v = PaperVenue(PaperConfig(partial_fill_prob=0.0, slippage_bps=0.0))
    run(v, ETH[:3])
    first = dataclasses.replace(ETH[3], low=ETH[3].open)
    pricer = v._pricer(v._instruments[first.symbol])
    arrival = pricer.taker(pricer.side_open(first, Side.BUY), Side.BUY)
    v.submit(order(v, "lim", Side.BUY, 1.0, OrderType.LIMIT, price=arrival, symbol="ETH/BTC"))
    ahead = [first, *ETH[4:20]]
    ts, high, low = (np.array([getattr(b, f) for b in ahead]) for f in ("ts", "high", "low"))
    q = v.quiet_bars(first, ts, high, low)
    assert fills(v.on_bar(first), "lim")  # filled on arrival, at its limit
    assert q == 0



def test_a_quote_exactly_max_quote_age_old_still_prices_an_order():
    """Rule (PaperConfig.max_quote_age_s: 'at most this old'): a quote as old as the limit qualifies,
    one a bar older does not. 5m bars, a 300 s limit: the previous bar's quote is exactly 300 s old."""
    v = PaperVenue(PaperConfig(partial_fill_prob=0.0, max_quote_age_s=300.0))
    v.on_bar(XRP[0])
    one_bar = v.quote("XRP-PERP").snapshot_id
    v.on_bar(XRP[1])
    assert v.submit(order(v, "ok", Side.BUY, 50, quote_id=one_bar)).status is S.ACCEPTED
    v.on_bar(XRP[2])
    old = v.submit(order(v, "old", Side.BUY, 50, quote_id=one_bar))
    assert old.status is S.REJECTED and "600s old (max 300s)" in old.reason


def test_a_futures_fill_pays_the_taker_fee_on_its_whole_contract_notional():
    """Rule (fees: taker bps of the notional; catalogue multiplier): one 6EH4 contract is 125,000 EUR,
    so a 2-contract fill pays 0.2 bps (forex) of 2 x price x 125,000, not of 2 x price."""
    bars = list(iter_bars(bundled.load("futures/6EH4-1m")))[:2]
    v = PaperVenue(paper_config(partial_fill_prob=0.0, starting_balance={"forex": 1e6}))
    v.on_bar(bars[0])
    v.submit(order(v, "f", Side.BUY, 2, symbol="6EH4"))
    (f,) = fills(v.on_bar(bars[1]), "f")
    assert f.fee == pytest.approx(2 * f.price * 125_000 * 0.2 / 1e4)



def test_funding_off_books_no_payment_across_a_funding_time():
    """Rule (PaperConfig.funding): with funding off a perp position crossing a funding time pays and
    receives nothing, though the venue holds the rates (the same crossing as the test above pays)."""
    funding = bundled_funding()
    start = next(i for i, b in enumerate(XRP) if b.ts >= funding["XRP-PERP"][0][0] - 3600)
    v = PaperVenue(PaperConfig(partial_fill_prob=0.0, funding=False), funding=funding)
    v.on_bar(XRP[start])
    v.submit(order(v, "f", Side.BUY, 100))
    run(v, XRP[start + 1:start + 20])
    (pos,) = v.positions()
    assert v.events("FUNDING") == [] and "funding_paid" not in pos.extra


def _long_of_100() -> tuple[PaperVenue, float]:
    """A venue holding a filled long of 100 XRP-PERP (entry `e`), and the close of the bar it filled on."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[0])
    v.submit(order(v, "e", Side.BUY, 100))
    run(v, XRP[1:3])
    return v, XRP[2].close


def test_a_partly_filled_bracket_leg_leaves_its_sibling_working():
    """Rule (one-cancels-other on a complete fill only): a take-profit that fills in part leaves the
    stop-loss working over what is left; only the leg that completes cancels the other."""
    v, px = _long_of_100()
    v.submit(order(v, "tp", Side.SELL, 100, OrderType.LIMIT, Role.TAKE_PROFIT, price=round(px * 0.9, 4), parent_id="e"))
    v.submit(order(v, "sl", Side.SELL, 100, OrderType.STOP, Role.STOP_LOSS, price=round(px * 0.5, 4), parent_id="e"))
    v._partial = (1.0, 0.5, 0.5)  # from here every fill attempt takes half: the take-profit fills in part
    reports = v.on_bar(XRP[3])
    assert [f.qty for f in fills(reports, "tp")] == [50]
    assert [o.request.client_order_id for o in v.open_orders()] == ["tp", "sl"]
    v._partial = (0.0, 0.5, 0.5)
    reports = v.on_bar(XRP[4])  # the rest fills: now the stop goes
    assert [f.qty for f in fills(reports, "tp")] == [50] and v.open_orders() == []
    assert [r.status for r in reports if r.client_order_id == "sl"] == [S.CANCELED]


def test_an_order_priced_from_another_symbols_quote_is_rejected():
    """Rule (no invented price): an order must carry a quote of its own symbol, issued for its bar."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[0])
    v.on_bar(ETH[0])
    eth = v.quote("ETH/BTC").snapshot_id
    r = v.submit(order(v, "x", Side.BUY, 50, quote_id=eth))
    assert r.status is S.REJECTED and "is a ETH/BTC quote, not XRP-PERP" in r.reason


def test_a_filled_leg_cancels_its_own_brackets_sibling_only():
    """Rule (one-cancels-other): a take-profit that fills cancels the stop of ITS bracket (same
    parent_id); another bracket's legs on the same symbol keep working."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[0])
    v.submit(order(v, "e1", Side.BUY, 100))
    v.submit(order(v, "e2", Side.BUY, 100))
    run(v, XRP[1:3])
    px = XRP[2].close
    for b, tp in (("e1", px * 0.9), ("e2", px * 1.5)):  # e1's take-profit is marketable, e2's far away
        v.submit(order(v, f"tp-{b}", Side.SELL, 100, OrderType.LIMIT, Role.TAKE_PROFIT, price=round(tp, 4), parent_id=b))
        v.submit(order(v, f"sl-{b}", Side.SELL, 100, OrderType.STOP, Role.STOP_LOSS, price=round(px * 0.5, 4),
                       parent_id=b))
    reports = v.on_bar(XRP[3])
    assert [f.qty for f in fills(reports, "tp-e1")] == [100]
    assert [o.request.client_order_id for o in v.open_orders()] == ["tp-e2", "sl-e2"]


def test_a_working_perp_orders_margin_counts_against_the_perp_account_alone():
    """Seed 001 (margin per domain): a resting perp entry ties up perp margin before it fills, so a
    second one over the rest of the perp account is refused, while crypto spot keeps all its funds."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[10])
    v.on_bar(ETH[10])
    lev, ask = v.config.leverage[Domain.CRYPTO_PERP], v.quote("XRP-PERP").ask
    low = round(ask * 0.5, 4)  # a buy limit far under the market: it rests
    qty = round(0.8 * 1000 * lev / low)  # 80% of the perp account at its limit price
    assert v.submit(order(v, "p", Side.BUY, qty, OrderType.LIMIT, price=low)).status is S.ACCEPTED
    again = v.submit(order(v, "p2", Side.BUY, qty, OrderType.LIMIT, price=low))
    assert again.status is S.REJECTED and "insufficient crypto_perp funds" in again.reason
    half = round(0.5 * 1000 / v.quote("ETH/BTC").ask, 2)  # half the spot account
    spot = v.submit(order(v, "s", Side.BUY, half, symbol="ETH/BTC"))
    assert spot.status is S.ACCEPTED, spot.reason


def test_free_funds_must_cover_the_taker_fee_as_well_as_the_margin():
    """Rule (pre-trade check: margin + taker fee): a spot buy of 99.95% of the account fits its margin
    (leverage 1) but not with the 10 bps fee on top; 99.8% fits both."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(ETH[10])
    ask = v.quote("ETH/BTC").ask
    tight = v.submit(order(v, "t", Side.BUY, round(999.5 / ask, 3), symbol="ETH/BTC"))
    assert tight.status is S.REJECTED and "(margin + fee)" in tight.reason
    assert v.submit(order(v, "ok", Side.BUY, round(998.0 / ask, 3), symbol="ETH/BTC")).status is S.ACCEPTED


def test_a_reduce_only_order_never_adds_to_a_position_on_its_own_side():
    """Rule (reduce-only): an exit fills only against an opposite position. A sell exit left working
    after its long was closed and a short was opened must not sell more: it is canceled, not filled."""
    v, px = _long_of_100()
    v.submit(order(v, "tp", Side.SELL, 100, OrderType.LIMIT, Role.EXIT, price=round(px * 1.5, 4), reduce_only=True))
    v.submit(order(v, "close", Side.SELL, 100, OrderType.MARKET, Role.EXIT, reduce_only=True))
    run(v, XRP[3:4])
    v.submit(order(v, "short", Side.SELL, 100))
    run(v, XRP[4:5])
    assert [p.qty for p in v.positions()] == [-100]
    assert v.amend("tp", price=round(px * 0.9, 4)).status is S.ACCEPTED  # now the bid trades through it
    reports = v.on_bar(XRP[5])
    assert not fills(reports, "tp") and [r.status for r in reports if r.client_order_id == "tp"] == [S.CANCELED]
    assert [p.qty for p in v.positions()] == [-100]


def test_an_order_of_exactly_the_minimum_notional_is_accepted():
    """Rule (catalogue min_notional: the smallest notional accepted): XRP-PERP's minimum is 5 USDT;
    10 at 0.5 is exactly 5 (in floats too) and goes through, 9.9 at 0.5 is refused."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[0])
    assert v.submit(order(v, "at", Side.BUY, 10, OrderType.LIMIT, price=0.5)).status is S.ACCEPTED
    under = v.submit(order(v, "under", Side.BUY, 9.9, OrderType.LIMIT, price=0.5))
    assert under.status is S.REJECTED and "below the minimum 5" in under.reason


def test_an_amend_to_no_more_than_the_filled_qty_is_refused():
    """Rule (amend): a working order's new qty must stay above what it has filled already."""
    v = PaperVenue(PaperConfig(partial_fill_prob=1.0, partial_fill_min=0.5, partial_fill_max=0.5))  # halves
    v.on_bar(XRP[0])
    v.submit(order(v, "b", Side.BUY, 100, OrderType.LIMIT, price=round(XRP[0].close * 1.2, 4)))  # marketable
    assert [f.qty for f in fills(v.on_bar(XRP[1]), "b")] == [50]
    same = v.amend("b", qty=50)
    assert same.refused and "not above the filled 50" in same.reason
    assert v.amend("b", qty=60).status is S.PARTIALLY_FILLED


def test_a_stop_sent_with_a_limit_entry_works_the_bar_the_entry_fills_in():
    """Legs sent with a buy limit at 0.98: the bar opens at 1.00 and falls to 0.95. Any path from
    1.00 to 0.95 passes the limit before the stop at 0.96, so the entry and then its stop fill in
    that bar; left dormant for it, the stop missed the touch and the next bar's rise to the
    take-profit turned a loss into a win."""
    sym = "XRP-PERP"
    bars = [Bar(sym, 1_000_000.0, 1.00, 1.001, 0.999, 1.00), Bar(sym, 1_000_300.0, 1.00, 1.001, 0.95, 0.99),
            Bar(sym, 1_000_600.0, 0.99, 1.06, 0.985, 1.05)]
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(bars[0])
    for coid, side, type_, role, price in (("entry", Side.BUY, OrderType.LIMIT, Role.ENTRY, 0.98),
                                           ("sl", Side.SELL, OrderType.STOP, Role.STOP_LOSS, 0.96),
                                           ("tp", Side.SELL, OrderType.LIMIT, Role.TAKE_PROFIT, 1.05)):
        parent = {} if role is Role.ENTRY else {"parent_id": "entry", "reduce_only": True}
        assert v.submit(order(v, coid, side, 100, type_, role, price=price, **parent)).status is S.ACCEPTED
    first = v.on_bar(bars[1])
    assert [f.price for f in fills(first, "entry")] == [0.98] and fills(first, "sl")
    assert fills(first, "sl")[0].price <= 0.96 and v.ledger.qty(sym) == 0.0
    assert not fills(v.on_bar(bars[2]), "tp")


def _funding_events(skip: bool, open_k: int, close_k: int | None) -> list:
    """A long of 100 XRP-PERP bought at bar open_k's open (sold at close_k's), over bars 0-11 around
    the first funding time (bar 6 closes at it), each worked or, where the venue says so, skipped."""
    funding = bundled_funding()
    t = funding["XRP-PERP"][0][0]
    k = next(i for i, b in enumerate(XRP) if b.ts == t)
    bars = XRP[k - 6:k + 6]
    ts, high, low = (np.array([getattr(b, f) for b in bars]) for f in ("ts", "high", "low"))
    v = PaperVenue(NO_PARTIALS, funding=funding)
    i = 0
    while i < len(bars):
        if i == open_k:  # sent after bar i - 1: it fills at bar i's open
            v.submit(order(v, "long", Side.BUY, 100))
        if i == close_k:
            v.submit(order(v, "out", Side.SELL, 100, role=Role.EXIT, reduce_only=True))
        sends = [j - i for j in (open_k, close_k) if j is not None and j > i]  # (the engine's own stops)
        n = min([v.quiet_bars(bars[i], ts[i:], high[i:], low[i:]), *sends]) if skip else 0
        if n:
            v.skip_bars(bars[i + n - 1], n)
            i += n
        else:
            v.on_bar(bars[i])
            i += 1
    return [(e.ts, e.detail["qty"], e.detail["mark"]) for e in v.events("FUNDING")]


@pytest.mark.parametrize("open_k, close_k, held", [(1, None, True), (6, None, True), (1, 6, False), (7, None, False)])
def test_funding_is_due_on_the_position_held_at_its_time(open_k: int, close_k: int | None, held: bool) -> None:
    """Bar 6 closes at the funding time. A long bought at its open (5 minutes before) is held then
    and pays; one sold at its open, or bought at the next bar's, does not. Skipping quiet bars
    books the same funding, at the same mark, as working each bar."""
    worked = _funding_events(False, open_k, close_k)
    assert bool(worked) is held and all(qty == 100 for _, qty, _ in worked)
    assert _funding_events(True, open_k, close_k) == worked


def test_a_market_close_fills_whole_where_an_entry_fills_in_part():
    """rev27: a forex weekend exit (a reduce-only market order) filled 50,000 of 74,000 on Friday
    and the rest from Sunday's open: the position was carried over the weekend the exit was for.
    The seeded draw is still made, so every later fill of the symbol's stream is as it was."""
    v = PaperVenue(PaperConfig(partial_fill_prob=1.0, partial_fill_min=0.5, partial_fill_max=0.5))  # halves
    v.on_bar(XRP[0])
    v.submit(order(v, "in", Side.BUY, 100))
    assert [f.qty for f in fills(v.on_bar(XRP[1]), "in")] == [50]  # an entry: in part
    v.submit(order(v, "out", Side.SELL, 50, reduce_only=True, role=Role.EXIT))
    bar = v.on_bar(XRP[2])
    assert [f.qty for f in fills(bar, "out")] == [50]  # a market close: whole
    assert [f.qty for f in fills(bar, "in")] == [25]  # the entry's rest still halves


def test_a_market_order_sent_inside_a_bar_meets_its_close_not_its_open():
    """rev28: a flatten decided at 04:45 on another series' row filled a 1h forex position at the
    04:00 open, a price from before the decision. Sent after the bar opened, the order meets the
    bar's close, the first price after it; one sent at the open still meets the open."""
    i = next(k for k in range(11, len(XRP)) if XRP[k].close > XRP[k].open * 1.003 and XRP[k].close > XRP[k - 1].close)
    bar = XRP[i]
    for decided, base in ((bar.ts - 150.0, bar.close), (XRP[i - 1].ts, None)):
        v = PaperVenue(NO_PARTIALS)
        v.on_bar(XRP[i - 1])
        req = order(v, "m", Side.BUY, 50)
        v.submit(dataclasses.replace(req, ts=decided))
        (fill,) = fills(v.on_bar(bar), "m")
        ask_at_close = v.quote("XRP-PERP").ask  # this bar's quote: its close and the spread
        if base is None:  # sent at the bar's open (the last bar's close): the open, or the snapshot if worse
            assert fill.price < ask_at_close
        else:
            assert fill.price >= ask_at_close * (1 + 8 / 1e4) - 1e-4 and fill.quote_id.endswith(str(int(bar.ts * 1000)))


def test_a_market_order_arriving_after_the_bar_opened_meets_its_close():
    """rev29: with a latency longer than a bar (1,000 s on 5-minute bars) an order sent at one
    close arrived 100 s into the fourth bar and filled at that bar's open, a price from before it
    reached the venue (7 of 49 such fills beat the close in the reviewer's run)."""
    i = next(k for k in range(11, len(XRP)) if XRP[k].close > XRP[k].open * 1.003 and XRP[k].close > XRP[k - 1].close)
    v = PaperVenue(PaperConfig(partial_fill_prob=0.0, latency_ms=1_000_000))
    run(v, XRP[i - 6:i - 3])
    v.submit(order(v, "m", Side.BUY, 50))  # at XRP[i - 4]'s close; active 1,000 s later, inside XRP[i]
    assert not fills(run(v, XRP[i - 3:i]), "m"), "filled before it arrived"
    (fill,) = fills(v.on_bar(XRP[i]), "m")
    assert fill.price >= v.quote("XRP-PERP").ask and fill.quote_id.endswith(str(int(XRP[i].ts * 1000)))


def test_no_fill_at_a_price_that_is_not_positive():
    """rev31: a bar whose quoted spread was wider than twice its open (an ask in other units) filled
    a market sell at the open less half of it: -0.09. The loader now refuses such quotes; the venue
    fills nothing there either, and the order works on to the next bar."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(GBP[5])
    v.submit(order(v, "buy", Side.BUY, 1000, symbol="GBP/USD"))
    v.on_bar(GBP[6])
    v.submit(order(v, "sell", Side.SELL, 1000, symbol="GBP/USD", role=Role.EXIT, reduce_only=True))
    b = GBP[7]
    broken = Bar(b.symbol, b.ts, b.open, b.high, b.low, b.close, b.volume, b.close * 0.9998, b.close * 5)
    assert fills(v.on_bar(broken), "sell") == []
    (fill,) = fills(v.on_bar(GBP[8]), "sell")
    assert fill.price > 0


def test_an_entry_grown_by_amend_is_checked_for_funds_as_one_sent_at_that_size() -> None:
    """rev33: amend ran only the clamp, so an entry sent at 10 and amended to 1,000,000 filled a
    1.2M USDT position on 1,000 USDT of margin that a submit of 1,000,000 is refused."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[10])
    q = v.quote("XRP-PERP")
    req = OrderRequest("small", "XRP-PERP", Side.BUY, 10, OrderType.LIMIT, Role.ENTRY, q.snapshot_id, q.ts,
                       price=q.bid)
    assert v.submit(req).status is S.ACCEPTED
    r = v.amend("small", qty=1_000_000)
    assert r.refused and "insufficient crypto_perp funds" in r.reason and r.qty == 10
    assert v.amend("small", qty=20).qty == 20, "an amend the funds cover goes through (its own margin counts once)"


def test_a_market_order_with_a_price_is_refused_on_submit_and_amend() -> None:
    """rev35: a market order's notional and margin were judged at the price it carried (0.0001),
    so a 10M-unit order passed the funds check and filled at the market: equity went to -56,693."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[10])
    q = v.quote("XRP-PERP")
    priced = OrderRequest("priced", "XRP-PERP", Side.BUY, 10_000_000, OrderType.MARKET, Role.ENTRY, q.snapshot_id,
                          q.ts, price=0.0001)
    r = v.submit(priced)
    assert r.status is S.REJECTED and "a market order takes no price" in r.reason
    assert v.submit(dataclasses.replace(priced, client_order_id="plain", qty=50, price=None)).status is S.ACCEPTED
    r = v.amend("plain", qty=10_000_000, price=0.0001)
    assert r.refused and "a market order takes no price" in r.reason and r.qty == 50
    run(v, XRP[11:12])
    assert v.ledger.qty("XRP-PERP") == 50.0


def test_a_leg_sent_with_its_entry_is_exempt_from_the_minimum_as_a_leg_placed_after_the_fill() -> None:
    """rev33: priced at its stop, a leg sized to an entry the venue accepted fell under the minimum
    notional and was refused, tearing down the bracket (one-step placement)."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[280])
    q, inst = v.quote("XRP-PERP"), v.catalogue.get("XRP-PERP")
    qty, stop = 4.3, round(q.ask * 0.95, 4)
    assert qty * q.ask >= inst.min_notional > qty * stop
    entry = OrderRequest("e", "XRP-PERP", Side.BUY, qty, OrderType.MARKET, Role.ENTRY, q.snapshot_id, q.ts)
    leg = OrderRequest("s", "XRP-PERP", Side.SELL, qty, OrderType.STOP, Role.STOP_LOSS, q.snapshot_id, q.ts,
                       price=stop, reduce_only=True, parent_id="e")
    assert v.submit(entry).status is S.ACCEPTED
    assert v.submit(leg).status is S.ACCEPTED
    alone = dataclasses.replace(leg, client_order_id="s2", parent_id=None)
    assert v.submit(alone).status is S.REJECTED, "with no entry working and nothing held, the minimum applies"


def test_a_leg_sent_with_its_working_entry_can_be_tightened_under_the_minimum() -> None:
    """rev34: the amend judged the leg by the position held (none yet), so a stop the venue took
    with its limit entry could not be tightened before the entry filled."""
    v = PaperVenue(NO_PARTIALS)
    v.on_bar(XRP[280])
    q, inst = v.quote("XRP-PERP"), v.catalogue.get("XRP-PERP")
    qty = 4.3
    limit = round(q.bid * 0.99, 4)  # below the market: it works, unfilled
    stop = round(limit * 0.95, 4)
    assert qty * limit >= inst.min_notional > qty * stop * 1.01
    assert v.submit(OrderRequest("e", "XRP-PERP", Side.BUY, qty, OrderType.LIMIT, Role.ENTRY, q.snapshot_id,
                                 q.ts, price=limit)).status is S.ACCEPTED
    assert v.submit(OrderRequest("s", "XRP-PERP", Side.SELL, qty, OrderType.STOP, Role.STOP_LOSS, q.snapshot_id,
                                 q.ts, price=stop, reduce_only=True, parent_id="e")).status is S.ACCEPTED
    r = v.amend("s", price=round(stop * 1.01, 4))
    assert not r.refused and r.status is S.ACCEPTED, r.reason


def test_a_limit_arriving_after_the_bar_opened_does_not_fill_at_its_open() -> None:
    """rev33: with a latency longer than part of a bar, a buy limit that arrived inside a rising
    bar was "marketable on arrival" at that bar's open, a price from before it reached the venue,
    where a market order sent with it paid the close. It now meets the close, and rests when
    that is beyond its limit: the bar's range may lie before its arrival too."""
    i = next(k for k in range(11, len(XRP)) if XRP[k].close > XRP[k].open * 1.006)
    v = PaperVenue(PaperConfig(partial_fill_prob=0.0, latency_ms=1_000_000))
    run(v, XRP[i - 6:i - 3])
    limit = XRP[i].open * 1.0025  # over the open's ask with slippage, under the close's
    v.submit(order(v, "lim", Side.BUY, 50, OrderType.LIMIT, price=limit))  # active inside XRP[i]
    v.submit(order(v, "mkt", Side.BUY, 50))
    assert not fills(run(v, XRP[i - 3:i]), "lim")
    reports = v.on_bar(XRP[i])
    (market,) = fills(reports, "mkt")
    assert fills(reports, "lim") == [], "filled at the open of the bar it arrived inside"
    assert market.price > limit, "the market order sent with it paid more than the limit: not marketable"


LATE = 1_000_600.0  # orders sent after the bar at 1_000_000 arrive 400 s later, inside this 300 s bar


def _late_venue() -> PaperVenue:
    """A venue whose orders sent now arrive inside the bar closing at LATE (400 s on 300 s bars)."""
    v = PaperVenue(PaperConfig(partial_fill_prob=0.0, latency_ms=400_000))
    v.on_bar(Bar("XRP-PERP", 1_000_000.0, 1.0, 1.001, 0.999, 1.0))
    return v


@pytest.mark.parametrize("close, fills_at_close", [(1.00, False), (1.08, True)])
def test_a_stop_arriving_inside_a_bar_is_judged_by_its_close_alone(close: float, fills_at_close: bool) -> None:
    """rev35: a buy stop at 1.05 arriving inside a bar that opened at 1.10 triggered on the bar's
    range and filled at its open, a price from before it reached the venue (a market order sent
    with it paid the close). Only the close comes after it: past the stop, it fills there."""
    v = _late_venue()
    v.submit(order(v, "stop", Side.BUY, 100, OrderType.STOP, price=1.05))
    run(v, [Bar("XRP-PERP", 1_000_300.0, 1.0, 1.001, 0.999, 1.0)])
    reports = v.on_bar(Bar("XRP-PERP", LATE, 1.10, 1.12, 0.98, close))
    got = fills(reports, "stop")
    assert [f.price >= close for f in got] == ([True] if fills_at_close else []), got
    if fills_at_close:
        assert got[0].price < 1.10 and got[0].quote_id == v.quote("XRP-PERP").snapshot_id, "the close's quote"


def test_a_stop_sent_with_a_late_entry_does_not_work_the_range_before_it() -> None:
    """rev35: a limit entry arriving inside a bar filled at its close; its stop, sent with it, then
    worked the bar's whole range and sold at the open (0.93), before either order existed."""
    v = _late_venue()
    v.submit(order(v, "entry", Side.BUY, 100, OrderType.LIMIT, price=1.00))
    v.submit(order(v, "sl", Side.SELL, 100, OrderType.STOP, Role.STOP_LOSS, price=0.95, parent_id="entry",
                   reduce_only=True))
    run(v, [Bar("XRP-PERP", 1_000_300.0, 1.0, 1.001, 0.999, 1.0)])
    reports = v.on_bar(Bar("XRP-PERP", LATE, 0.93, 1.001, 0.90, 0.99))
    assert [f.price for f in fills(reports, "entry")] and not fills(reports, "sl")
    assert v.ledger.qty("XRP-PERP") == 100.0, "the stop rests from the next bar on"


def test_a_limit_arriving_inside_a_bar_fills_at_its_close_when_that_is_marketable() -> None:
    i = next(k for k in range(11, len(XRP)) if XRP[k].close < XRP[k].open * 0.994)
    v = PaperVenue(PaperConfig(partial_fill_prob=0.0, latency_ms=1_000_000))
    run(v, XRP[i - 6:i - 3])
    v.submit(order(v, "lim", Side.BUY, 50, OrderType.LIMIT, price=XRP[i].open * 0.998))
    run(v, XRP[i - 3:i])
    (fill,) = fills(v.on_bar(XRP[i]), "lim")
    assert fill.price >= v.quote("XRP-PERP").ask, "it met the close (its ask), not a price from before it arrived"
    assert fill.price <= XRP[i].open * 0.998
