"""The equity curve is one point per domain per bar time, after every symbol of that time is
marked, and the KPIs' Sharpe is the hand computation over exactly those points."""
from __future__ import annotations

import math
import statistics
import tempfile
from pathlib import Path

import pytest

from run_support import Checker, Scenario, build
from engine.run.kpi import kpis, periods_per_year
from strategies.selection import SECONDS_PER_YEAR

SPOT = ("crypto_spot/ETH_BTC-5m", "crypto_spot/LTC_BTC-5m", "crypto_spot/ADA_BTC-5m")
BAR_S = 15 * 60.0  # the spot datasets' primary timeframe (run_support.DATASETS)


@pytest.fixture(scope="module", params=[True, False], ids=["skip-quiet", "step-every-bar"])
def three_symbol_run(request, loose: Path) -> tuple:
    sc = Scenario(1, SPOT, 100, 300, 5, 0.0, 0.0, 12 * 3600.0, flip_every=12)
    with tempfile.TemporaryDirectory() as work:
        runner = build(sc, Path(work), loose, Checker())
        runner.skip_quiet = request.param
        try:
            runner.run()
            book = runner.session.books[next(iter(runner.session.books))]
            yield runner.equity, book, runner.trades
        finally:
            runner.session.store.close()


def test_one_point_per_domain_per_bar_time(three_symbol_run) -> None:
    equity, book, trades = three_symbol_run
    (curve,) = equity.values()
    ts = [t for t, _ in curve]
    assert len(ts) == len(set(ts)) and ts == sorted(ts)
    assert len(ts) >= 300 and trades  # three symbols' shared times, and trades that move the curve
    assert curve[-1][1] == pytest.approx(book.equity)  # the last point has every symbol marked


def test_sharpe_is_the_hand_computation_over_those_points(three_symbol_run) -> None:
    equity, book, _ = three_symbol_run
    (curve,) = equity.values()
    values = [e for _, e in curve]
    returns = [b / a - 1.0 for a, b in zip(values, values[1:])]
    per_year = (len(values) - 1) * SECONDS_PER_YEAR / (curve[-1][0] - curve[0][0])
    hand = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(per_year)
    assert kpis([], curve, book.start_balance).sharpe == pytest.approx(hand, rel=1e-9)
    # Annualised by the bar timeframe (the data has gaps, never more points than bars).
    assert periods_per_year(curve) <= SECONDS_PER_YEAR / BAR_S * 1.0001
