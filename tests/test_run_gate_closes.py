"""A domain's promotion gate takes a daily close only for a trading day the domain had a bar in
(Runner._day_roll), stamped at that day's end. In a run of several domains whose data cover
separate periods (QA: forex 2017-18, crypto spot Jan 2018, perps Jan 2022 in one stage-3 run)
every day roll used to give every gate a close: ~144 closes over 4.4 years, mostly flat, and a
forex close stamped in 2022, so a sampling rate of ~33 a year and a gate Sharpe unlike the
report's. Now each gate's closes are its domain's own equity curve (the report's points) taken
at the last point of each of its trading days, and its Sharpe is `kpis` on those closes. The
phase a domain opens in starts before them, from the wallet's start balance at the start of the
domain's first trading day."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from engine.run.kpi import kpis
from run_support import Checker, Scenario, build

HOUR = 3600.0
PERP, FOREX = "crypto_perp/BTC-PERP-1m", "forex/GBPUSD-1m"  # Jan 2022 and Feb 2012: disjoint


def _daily_closes(runner, domain: str, since: float) -> list[tuple[float, float]]:
    """The report's curve of `domain` (its own equity points, less any exploration share) at the
    last point of each trading day it has points in, stamped at the day's end: the days closed
    so far (not the one the run ended in), from `since` (the gate phase's first close) on."""
    curve = runner.equity[domain]
    shares = curve.shares() or [0.0] * len(curve)
    last: dict[int, float] = {}
    for (t, e), x in zip(curve, shares):
        last[runner.days.day_of(t)] = e - x
    return [(end, e) for day, e in last.items()
            if day < runner._day and (end := runner.days.end_of(day)) >= since]


def test_each_gate_closes_its_own_domains_days_as_the_report_samples_them(loose: Path) -> None:
    sc = Scenario(3, (FOREX, PERP), 0, 700, 3, 0.0, 0.0, 12 * HOUR, flip_every=40)
    with tempfile.TemporaryDirectory() as work:
        runner = build(sc, Path(work), loose, Checker())
        try:
            runner.run()
            assert {t.domain for t in runner.trades} == {"forex", "crypto_perp"}  # both moved
            assert {d.value for d in runner.gate_kpis} == {"forex", "crypto_perp", "crypto_spot"}
            for d, gate in runner.gate_kpis.items():
                if d.value not in runner.equity:  # crypto spot: a book, no data, so no day of its own
                    assert gate.close() is None and gate.sharpe == 0.0
                    continue
                assert gate.phase == "model_promotion:paper"  # the phase the domain opened in, all along
                opened = runner.days.end_of(runner.days.day_of(runner.equity[d.value].ts[0]) - 1)
                closes = [(opened, runner.session.books[d].start_balance), *_daily_closes(runner, d.value, opened)]
                ends = runner.days.end_of(runner.days.day_of(runner.equity[d.value].ts[-1]))
                assert gate.last_ts <= ends  # no close after the domain's data ended (forex: in 2022)
                assert (gate.first_ts, gate.last_ts) == (closes[0][0], closes[-1][0])
                assert gate.intervals == len(closes) - 1 and gate.last_equity == closes[-1][1]
                report = kpis([], closes, runner.session.books[d].start_balance).sharpe
                assert report is not None and gate.sharpe == pytest.approx(report, rel=1e-9, abs=1e-12)
        finally:
            runner.session.store.close()
