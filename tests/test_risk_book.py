"""The book the risk chain judges an entry by: the ladder's window is counted back from now,
and entries still working count as the positions they will be."""
from __future__ import annotations

import pytest

from engine.domain import Domain, Fill, Side
from engine.risk.chain import RiskChain
from engine.risk.sizing import Sizer
from engine.risk.config import RiskConfig
from engine.run.book import DomainBook
from test_risk_chain import FX, intent
from test_risk_config import spec_data

DAY = 86400.0
WEEK = 7 * DAY
T0 = 1_500_000_000.0


def fx_book() -> DomainBook:
    return DomainBook(Domain.FOREX, "paper", 10_000.0, 10_000.0, T0 - 60 * DAY, 10_000.0, 10_000.0)


def holding(book: DomainBook, symbol: str, qty: float, price: float) -> DomainBook:
    book.apply(Fill("c1", f"f-{symbol}", symbol, Side.BUY, qty, price, 0.0, T0, "q"), 1.0)
    book.mark(symbol, price)
    return book


@pytest.mark.parametrize("days_later,pnl", [(0.5, 600.0), (6.9, 600.0), (7.1, 0.0), (29.0, 0.0)])
def test_the_ladder_window_ends_now_not_at_the_last_close(days_later: float, pnl: float) -> None:
    """Seed 004's ladder reads the last 7 days: a +600 trade of day 1 no longer lifts day 30's size."""
    config = RiskConfig.model_validate(spec_data())
    book = fx_book()
    book.trade_closed(T0, 600.0, WEEK)
    view = book.risk_view(T0 + days_later * DAY, 10.0, WEEK)
    assert view.pnl_window == pnl
    assert Sizer(config.sizing).ladder(view.pnl_window) == (1.5 if pnl else 1.0)


def test_working_entries_count_as_positions_and_exposure() -> None:
    book = holding(fx_book(), "EURUSD", 1000.0, 1.1)  # 1,100 filled
    view = book.risk_view(T0, 10.0, WEEK, [("GBPUSD", 500.0), ("EURUSD", 200.0)])
    assert view.open_positions == 2  # GBPUSD will be a position; EURUSD's rest adds to its own
    assert dict(view.open_notional) == {"EURUSD": pytest.approx(1300.0), "GBPUSD": 500.0}
    assert view.available == pytest.approx(10_000.0 - 1800.0 / 10.0)  # their margin is spoken for
    assert book.risk_view(T0, 10.0, WEEK).open_positions == 1  # nothing kept from the last view


def test_a_second_entry_waits_for_the_first_to_fill_when_one_position_is_allowed() -> None:
    config = RiskConfig.model_validate(spec_data())
    limits = config.limits.model_copy(update={"max_concurrent_positions": 1})
    chain = RiskChain(config.model_copy(update={"limits": limits}))
    view = fx_book().risk_view(T0, 10.0, WEEK, [("GBPUSD", 500.0)])
    d = chain.evaluate(intent(), view, FX, kill_mode="normal", entries_allowed=True, active_symbols=None)
    assert d.rejection is not None and d.rejection.rule == "max_concurrent"
