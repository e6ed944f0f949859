"""Where the data has each side's own open, high and low (a QuotedBar: the forex bid and ask
files), resting orders read them, not the mid's range moved by half the CLOSING spread: within
a bar the spread widens (news, rollover), so the bid's low can be far below the mid's low less
half the closing spread. A sell stop triggers on the bid's own low, a buy stop on the ask's own
high, a buy limit fills when the ask's own low trades through it, a sell limit on the bid's own
high; a gap through a stop fills at that side's own open. Bars without them work as before."""
from __future__ import annotations

import numpy as np
import pytest

from adapters.paper import PaperConfig, PaperVenue
from engine.data.quoted import SIDE_OHLC, QuotedBar
from engine.domain import Bar, Domain, OrderRequest, OrderType, Role, Side

SYM = "GBP/USD"
T0 = 1_328_054_400.0
NO_COSTS = PaperConfig(partial_fill_prob=0.0, slippage_bps=0.0, taker_fee_bps={d.value: 0.0 for d in Domain})


def plain(i: float, mid: float = 1.30000, high: float = 1.30005, low: float = 1.29995) -> Bar:
    """A bar closing 0.2 pips wide (bid 1.29999, ask 1.30001 around a 1.30000 close)."""
    return Bar(SYM, T0 + 60.0 * i, mid, high, low, mid, 0.0, mid - 0.00001, mid + 0.00001)


def quoted(i: float, *, bid_open: float = 1.29999, bid_high: float = 1.30004, bid_low: float = 1.29994,
           ask_open: float = 1.30001, ask_high: float = 1.30006, ask_low: float = 1.29996) -> QuotedBar:
    """plain(i)'s mids and closing quote (0.2 pips), with each side's own open, high and low."""
    b = plain(i)
    return QuotedBar(b.symbol, b.ts, b.open, b.high, b.low, b.close, b.volume, b.bid, b.ask, bid_open=bid_open,
                     bid_high=bid_high, bid_low=bid_low, ask_open=ask_open, ask_high=ask_high, ask_low=ask_low)


# The spread blew out to 20 pips inside the bar (a news spike): the mid low is 1.29995, so the
# closing spread puts the bid's low at 1.29994, while the bid really touched 1.29900.
SPIKE_DOWN = quoted(1, bid_low=1.29900)
SPIKE_UP = quoted(1, ask_high=1.30100)  # the ask reached 1.30100; the mid high + half close is 1.30006


def resting(side: Side, type_: OrderType, price: float, first: Bar | None = None) -> PaperVenue:
    """A venue with one resting order `o`, past its latency; an exit when it sells (a long is held)."""
    v = PaperVenue(NO_COSTS)
    v.on_bar(first or quoted(0))
    if side is Side.SELL:
        q = v.quote(SYM)
        v.submit(OrderRequest("long", SYM, Side.BUY, 2000, OrderType.MARKET, Role.ENTRY, q.snapshot_id, q.ts))
        v.on_bar(quoted(0.5) if first is None else plain(0.5))
    q = v.quote(SYM)
    role = Role.ENTRY if side is Side.BUY else (Role.TAKE_PROFIT if type_ is OrderType.LIMIT else Role.STOP_LOSS)
    v.submit(OrderRequest("o", SYM, side, 2000, type_, role, q.snapshot_id, q.ts, price=price))
    return v


def fills(v: PaperVenue, b: Bar) -> list[tuple[float, str]]:
    return [(f.price, f.quote_id) for r in v.on_bar(b) if r.client_order_id == "o" for f in r.fills]


def as_plain(b: QuotedBar) -> Bar:
    return Bar(b.symbol, b.ts, b.open, b.high, b.low, b.close, b.volume, b.bid, b.ask)


def test_a_sell_stop_triggers_on_the_bid_s_own_low_not_the_mid_low_less_half_the_close_spread():
    v = resting(Side.SELL, OrderType.STOP, 1.29950)
    assert fills(v, SPIKE_DOWN) == [(1.29950, f"q:{SYM}:{int((T0 + 60) * 1000)}")]  # at the stop, this bar's quote
    old = resting(Side.SELL, OrderType.STOP, 1.29950, first=plain(0))
    assert fills(old, as_plain(SPIKE_DOWN)) == []  # closing bid/ask only: mid low 1.29995 - 0.00001 > stop


def test_a_buy_stop_triggers_on_the_ask_s_own_high():
    v = resting(Side.BUY, OrderType.STOP, 1.30050)
    assert [p for p, _ in fills(v, SPIKE_UP)] == [1.30050]


def test_a_stop_the_closing_spread_would_reach_but_the_side_did_not_stays():
    # The closing quote is 10 pips wide (bid 1.29950): the estimate says the bid's low was 1.29945,
    # but the bid's own low was 1.29990, above the stop.
    wide = QuotedBar(SYM, T0 + 60.0, 1.30000, 1.30005, 1.29995, 1.30000, 0.0, 1.29950, 1.30050, bid_open=1.29995,
                     bid_high=1.30000, bid_low=1.29950, ask_open=1.30005, ask_high=1.30050, ask_low=1.30000)
    v = resting(Side.SELL, OrderType.STOP, 1.29948)
    assert fills(v, wide) == []
    assert fills(resting(Side.SELL, OrderType.STOP, 1.29948, first=plain(0)), as_plain(wide)) != []  # (as before)


def test_a_gap_through_a_stop_fills_at_the_side_s_own_open():
    # The bid opened at 1.29900, below the 1.29950 stop; the mid open less half the close spread is 1.29999.
    gap = quoted(1, bid_open=1.29900, bid_low=1.29890)
    v = resting(Side.SELL, OrderType.STOP, 1.29950)
    assert [p for p, _ in fills(v, gap)] == [1.29900]


def test_a_buy_limit_fills_when_the_ask_s_own_low_trades_through_it():
    # The mid low (1.29995) plus half the close spread is 1.29996: above the limit; the ask's own low is not.
    v = resting(Side.BUY, OrderType.LIMIT, 1.29980)
    assert fills(v, quoted(1)) == []  # the ask's own low 1.29996 stays above
    assert [p for p, _ in fills(v, quoted(2, ask_low=1.29970, bid_low=1.29968))] == [1.29980]


def test_a_sell_limit_fills_when_the_bid_s_own_high_trades_through_it():
    v = resting(Side.SELL, OrderType.LIMIT, 1.30020)
    assert fills(v, quoted(1)) == []
    assert [p for p, _ in fills(v, quoted(2, bid_high=1.30030, ask_high=1.30032))] == [1.30020]


def test_a_buy_limit_fills_on_an_ask_low_below_the_mid_low():
    # Bid and ask are sampled apart: the ask's low (1.29960) can lie below the bid's (1.29990),
    # hence below the mid low (1.29975) the screen of coming bars would read.
    crossed = QuotedBar(SYM, T0 + 60.0, 1.30000, 1.30005, 1.29975, 1.30000, 0.0, 1.29999, 1.30001,
                        bid_open=1.29999, bid_high=1.30004, bid_low=1.29990, ask_open=1.30001, ask_high=1.30006,
                        ask_low=1.29960)
    v = resting(Side.BUY, OrderType.LIMIT, 1.29970)
    assert v.quiet_bars(crossed, np.array([crossed.ts]), np.array([crossed.high]), np.array([crossed.low])) == 0
    assert [p for p, _ in fills(v, crossed)] == [1.29970]


def screen(v: PaperVenue, bars: list[QuotedBar]) -> int:
    """The venue's quiet screen over `bars`, given as a run gives it: the Series' arrays and side rows."""
    rows = np.array([[getattr(b, c) for c in SIDE_OHLC] for b in bars])
    return v.quiet_bars(bars[0], np.array([b.ts for b in bars]), np.array([b.high for b in bars]),
                        np.array([b.low for b in bars]), rows)


# Per resting order, a bar where its side's own extreme reaches it while the mid's range stays
# clear: for limits the crossed side (the ask's low below the mid's low, the bid's high above
# the mid's high), for stops a spread that widened inside the bar.
REACHED_BY_ITS_SIDE = [
    (Side.BUY, OrderType.LIMIT, 1.29970, {"ask_low": 1.29960, "bid_low": 1.29990}),
    (Side.SELL, OrderType.LIMIT, 1.30030, {"bid_high": 1.30040, "ask_high": 1.30010}),
    (Side.SELL, OrderType.STOP, 1.29950, {"bid_low": 1.29940}),
    (Side.BUY, OrderType.STOP, 1.30050, {"ask_high": 1.30060}),
]


@pytest.mark.parametrize("side,type_,price,reach", REACHED_BY_ITS_SIDE)
def test_the_quiet_screen_ends_at_the_first_bar_whose_side_reaches_a_resting_order(side, type_, price, reach):
    v = resting(side, type_, price)
    bars = [quoted(1), quoted(2), quoted(3, **reach), quoted(4)]
    b, half = bars[2], (bars[2].ask - bars[2].bid) / 2
    assert not b.low - half <= price <= b.high + half  # the mid's range and the closing spread miss it
    assert screen(v, bars) == 2
    assert screen(v, bars[:2]) == 2  # untouched bars are quiet: skipped, not stepped
    assert [fills(v, b) for b in bars[:2]] == [[], []] and fills(v, bars[2]) != []  # as stepping finds


def test_a_quoted_bar_without_its_side_rows_is_never_quiet_with_an_order_resting():
    v = resting(Side.BUY, OrderType.LIMIT, 1.29970)
    bars = [quoted(1), quoted(2)]
    assert v.quiet_bars(bars[0], np.array([b.ts for b in bars]), np.array([b.high for b in bars]),
                        np.array([b.low for b in bars])) == 0  # the mids bound neither side


def test_a_market_order_meets_the_side_s_own_open():
    v = PaperVenue(NO_COSTS)
    v.on_bar(quoted(0))
    q = v.quote(SYM)
    v.submit(OrderRequest("o", SYM, Side.BUY, 2000, OrderType.MARKET, Role.ENTRY, q.snapshot_id, q.ts))
    # The ask opened at 1.30040 (mid open less nothing: 1.30001 by the closing spread).
    assert fills(v, quoted(1, ask_open=1.30040, ask_high=1.30050)) == [(1.30040, f"q:{SYM}:{int((T0 + 60) * 1000)}:open")]


def test_a_reopened_venue_keeps_the_last_bar_s_sides(tmp_path):
    v = PaperVenue.open(tmp_path / "venue.db", NO_COSTS)
    v.on_bar(SPIKE_DOWN)
    v.close()
    again = PaperVenue.open(tmp_path / "venue.db")
    assert again._bars[SYM] == SPIKE_DOWN and type(again._bars[SYM]) is QuotedBar
    again.close()


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_plain_bars_still_read_the_mid_and_the_closing_spread(side: Side):
    # A sell stop 1.29994 is hit by mid low 1.29995 less half the 0.2-pip close spread, not by 1.29995.
    stop = 1.29994 if side is Side.SELL else 1.30006
    v = resting(side, OrderType.STOP, stop, first=plain(0))
    assert [p for p, _ in fills(v, plain(1))] == [pytest.approx(stop)]


def test_a_logged_bar_call_names_its_sides():
    # A resumed engine must repeat the very bar: one that differs only in a side's low is another call.
    from adapters.paper.replay import signature

    assert signature("on_bar", (SPIKE_DOWN,)) != signature("on_bar", (quoted(1),))


@pytest.mark.parametrize("side,price", [(Side.SELL, 1.29994), (Side.BUY, 1.30006)])
def test_a_side_that_just_reaches_a_stop_triggers_it(side: Side, price: float):
    """Rule (pricing.stop_hit, seed 004): a stop triggers when its side REACHES the trigger; quoted(1)'s
    bid low is exactly 1.29994 and its ask high exactly 1.30006 (no spread arithmetic in between)."""
    v = resting(side, OrderType.STOP, price)
    assert [p for p, _ in fills(v, quoted(1))] == [price]


@pytest.mark.parametrize("side,price,through", [(Side.BUY, 1.29996, {"ask_low": 1.29995, "bid_low": 1.29993}),
                                                (Side.SELL, 1.30004, {"bid_high": 1.30005, "ask_high": 1.30007})])
def test_a_side_that_only_touches_a_limit_leaves_it_resting(side: Side, price: float, through: dict):
    """Rule (pricing.limit_through, taker-only): a resting limit fills only when its side trades THROUGH
    it; quoted(1)'s ask low is exactly 1.29996 and its bid high exactly 1.30004: a touch, no fill."""
    v = resting(side, OrderType.LIMIT, price)
    assert fills(v, quoted(1)) == []
    assert [p for p, _ in fills(v, quoted(2, **through))] == [price]
