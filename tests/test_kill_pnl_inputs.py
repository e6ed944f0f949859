"""The kill tripwires' inputs (Runner.pnl_inputs, specs/kill/kill_modes.yaml inputs.pnl): the daily
loss is measured from the equity at the day roll, the drawdown from the running peak. A wallet
whose peak is its start of day cannot tell the two apart, so here the peak is an earlier day's."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from engine.domain import Domain
from engine.run.book import DomainBook
from engine.run.loop import Runner


def _pnl(book: DomainBook, equities: list[float] | None = None) -> dict:
    runner = SimpleNamespace(session=SimpleNamespace(books={book.domain: book}))
    return Runner.pnl_inputs(runner, equities)["pnl"]


def _book() -> DomainBook:
    # peaked at 11000 on an earlier day, started today at 10000, now at 9700
    return DomainBook(Domain.CRYPTO_SPOT, "paper", 10000.0, 9700.0, 0.0, peak_equity=11000.0,
                      day_start_equity=10000.0)


@pytest.mark.parametrize("equities", [None, [9700.0]])
def test_daily_loss_is_from_the_start_of_day_and_drawdown_from_the_peak(equities: list[float] | None) -> None:
    b = _book()
    assert b.equity == 9700.0
    pnl = _pnl(b, equities)
    assert pnl["daily_loss"] == pytest.approx(0.03)  # 1 - 9700/10000, not 1 - 9700/11000
    assert pnl["drawdown"] == pytest.approx(1 - 9700 / 11000)  # ~11.8%, not the day's 3%
    assert b.peak_equity == 11000.0  # a lower equity leaves the peak where it was


def test_a_new_high_raises_the_peak_and_leaves_no_drawdown() -> None:
    b = _book()
    pnl = _pnl(b, [11500.0])
    assert b.peak_equity == 11500.0 and pnl == {"daily_loss": 0.0, "drawdown": 0.0}
