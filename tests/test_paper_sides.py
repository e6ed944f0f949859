"""Resting orders trade against one side of the book (seed 004: paper harsher than live): a
sell limit fills only when the bid trades through it, a buy limit when the ask does; a sell
stop triggers when the bid reaches it, a buy stop when the ask does. A bar's OHLC are mids:
the side is the mid less (bid) or plus (ask) the half spread, the bar's real one where the
data has bid/ask and the modelled spread_bps otherwise. The quiet-bar screen agrees."""
from __future__ import annotations

import numpy as np
import pytest

from adapters.base import ReportStatus as S
from adapters.paper import PaperConfig, PaperVenue
from adapters.paper.pricing import BAR, Pricer
from engine.domain import Bar, Domain, OrderRequest, OrderType, Role, Side

SYM = "GBP/USD"
T0 = 1_328_054_400.0
NO_COSTS = PaperConfig(partial_fill_prob=0.0, slippage_bps=0.0, taker_fee_bps={d.value: 0.0 for d in Domain})
MODELLED = NO_COSTS.model_copy(update={"spread_bps": {**NO_COSTS.spread_bps, Domain.FOREX: 2.0}})


def bar(i: int, mid: float, high: float, low: float, bid: float | None = None, ask: float | None = None) -> Bar:
    return Bar(SYM, T0 + 60.0 * i, mid, high, low, mid, 0.0, bid, ask)


# A bar whose mids reach 1.30010 while its quote is 2 pips wide: its highest bid is 1.30000.
QUIET = bar(0, 1.29990, 1.29995, 1.29985, 1.29980, 1.30000)
REACH = bar(1, 1.29995, 1.30010, 1.29985, 1.29985, 1.30005)  # real half spread 0.00010
DIP = bar(1, 1.29995, 1.30000, 1.29970, 1.29985, 1.30005)  # mid low 1.29970: lowest ask 1.29980


def resting(cfg: PaperConfig, first: Bar, side: Side, type_: OrderType, price: float) -> PaperVenue:
    """A venue with one resting order, past its latency; an exit when it sells (a long is held)."""
    v = PaperVenue(cfg)
    v.on_bar(first)
    if side is Side.SELL:  # hold a long for the sell to reduce
        q = v.quote(SYM)
        v.submit(OrderRequest("long", SYM, Side.BUY, 2000, OrderType.MARKET, Role.ENTRY, q.snapshot_id, q.ts))
        v.on_bar(bar(0.5, first.close, first.high, first.low, first.bid, first.ask))
    q = v.quote(SYM)
    role = Role.ENTRY if side is Side.BUY else (Role.TAKE_PROFIT if type_ is OrderType.LIMIT else Role.STOP_LOSS)
    v.submit(OrderRequest("o", SYM, side, 2000, type_, role, q.snapshot_id, q.ts, price=price))
    return v


def filled(v: PaperVenue, b: Bar) -> list[float]:
    return [f.price for r in v.on_bar(b) if r.client_order_id == "o" for f in r.fills]


def test_a_sell_limit_needs_the_bid_through_it_not_the_mid():
    v = resting(NO_COSTS, QUIET, Side.SELL, OrderType.LIMIT, 1.30008)
    assert filled(v, REACH) == []  # mid high 1.30010 > 1.30008, but the highest bid is 1.30000
    v = resting(NO_COSTS, QUIET, Side.SELL, OrderType.LIMIT, 1.29998)
    assert filled(v, bar(2, 1.29995, 1.30010, 1.29985, 1.29985, 1.30005)) == [1.29998]  # bid 1.30000 > it


def test_a_buy_limit_needs_the_ask_through_it_not_the_mid():
    v = resting(NO_COSTS, QUIET, Side.BUY, OrderType.LIMIT, 1.29975)
    assert filled(v, DIP) == []  # mid low 1.29970 < 1.29975, but the lowest ask is 1.29980
    v = resting(NO_COSTS, QUIET, Side.BUY, OrderType.LIMIT, 1.29985)
    assert filled(v, bar(2, 1.29995, 1.30000, 1.29970, 1.29985, 1.30005)) == [1.29985]


def test_without_real_quotes_the_modelled_spread_makes_the_sides():
    # 2 bps of 1.3 is 0.00026 wide: the highest bid of a bar with a mid high of 1.30010 is ~1.29997.
    v = resting(MODELLED, bar(0, 1.29990, 1.29995, 1.29985), Side.SELL, OrderType.LIMIT, 1.30000)
    assert filled(v, bar(1, 1.29995, 1.30010, 1.29985)) == []
    assert filled(v, bar(2, 1.30020, 1.30030, 1.30015)) == [1.30000]


@pytest.mark.parametrize("side", [Side.SELL, Side.BUY])
def test_a_stop_triggers_on_its_side_and_fills_there_plus_slippage(side: Side):
    # A sell stop at 1.29978: the mid low (1.29985) stays above it, the bid's low (1.29975) does not.
    stop = 1.29978 if side is Side.SELL else 1.30012
    cfg = NO_COSTS.model_copy(update={"slippage_bps": {d: 1.0 for d in Domain}})
    v = resting(cfg, QUIET, side, OrderType.STOP, stop)
    fills = filled(v, REACH)
    assert len(fills) == 1
    assert fills[0] == pytest.approx(stop * (1 + side.sign * 1e-4), abs=1e-5)  # the stop, moved 1 bp against


def test_a_stop_gapped_through_fills_at_its_sides_open():
    v = resting(NO_COSTS, QUIET, Side.SELL, OrderType.STOP, 1.29978)
    gap = bar(1, 1.29900, 1.29910, 1.29890, 1.29890, 1.29910)  # opens with the bid at 1.29890
    assert filled(v, gap) == [pytest.approx(1.29890)]


def test_the_quiet_screen_finds_the_bar_the_side_first_touches():
    """Modelled spread: the screen reads the same side as the fill; real quotes: a stop is never
    screened (a coming bar's spread is not in high/low), a limit by its mid touch (a superset)."""
    v = resting(MODELLED, bar(0, 1.29990, 1.29995, 1.29985), Side.SELL, OrderType.LIMIT, 1.30000)
    first = bar(1, 1.29995, 1.30010, 1.29985)
    high, low = np.array([1.30010, 1.30012, 1.30030]), np.array([1.29985, 1.29985, 1.30015])
    assert v.quiet_bars(first, np.array([first.ts, first.ts + 60, first.ts + 120]), high, low) == 2
    assert v.on_bar(first) == []
    v = resting(NO_COSTS, QUIET, Side.SELL, OrderType.STOP, 1.29978)
    assert v.quiet_bars(REACH, np.array([REACH.ts]), np.array([REACH.high]), np.array([REACH.low])) == 0
    assert [r.status for r in v.on_bar(REACH) if r.client_order_id == "o"][0] is S.TRIGGERED


def test_pricer_rules_by_hand():
    """The rules themselves, on a bar with a real 2-pip quote (half 0.0001)."""
    from adapters.paper.catalogue import Catalogue

    p = Pricer(Catalogue.load().get(SYM), 0.0, 0.0)
    assert p.limit(REACH, Side.SELL, 1.300001, first_bar=False) is None  # bid high 1.30000: not through
    assert p.limit(REACH, Side.SELL, 1.29999, first_bar=False) == (1.29999, BAR)
    assert p.stop_trigger(REACH, Side.BUY, 1.30019) == (pytest.approx(1.30019), BAR)  # ask high 1.30020 reaches it
    assert p.stop_trigger(REACH, Side.BUY, 1.30021) is None


def test_the_modelled_spread_is_spread_bps_wide_half_on_each_side():
    """Rule (seed 004, pricing.half_spread): without real bid/ask the quote is spread_bps wide around
    the close, half on each side (2 bps of 1.3 is 0.00026: bid 1.29987, ask 1.30013), widened
    outward onto the tick grid; a taker meets the mid moved by that half, not by the whole spread."""
    v = PaperVenue(MODELLED)
    b = bar(0, 1.30000, 1.30005, 1.29995)
    v.on_bar(b)
    q = v.quote(SYM)
    assert (q.bid, q.ask) == (pytest.approx(1.29987, abs=1e-9), pytest.approx(1.30013, abs=1e-9))
    p = Pricer(v.catalogue.get(SYM), 2.0, 0.0)
    assert p.side_price(b, 1.30000, Side.SELL) == pytest.approx(1.29987, abs=1e-9)


def test_a_quote_is_the_real_bid_and_ask_even_where_the_close_is_not_their_mid():
    """Rule (seed 004: quotes come from the data): where a bar has a real bid/ask the quote IS them,
    not the close moved by half their spread (the two agree only while the close is their mid; a
    last-trade close at the ask, as here, tells them apart)."""
    v = PaperVenue(MODELLED)
    v.on_bar(bar(0, 1.30000, 1.30005, 1.29995, bid=1.29980, ask=1.30000))
    q = v.quote(SYM)
    assert (q.bid, q.ask) == (1.29980, 1.30000)
