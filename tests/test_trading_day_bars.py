"""Bars against the trading day's boundaries (risk spec `limits.trading_day`): a bar belongs to
the day it opens in, also when the boundary falls inside it (4h bars and a day starting at
midnight Prague, 23:00 UTC in winter), and a day roll on a checkpoint's row is saved once,
stepped or skipped."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from engine.domain import Domain
from engine.risk.config import TradingDay
from engine.risk.tradingday import TradingDays
from engine.run.daytimes import row_day_times, straddles
from run_support import ENV, base_config, specset, write_env_override

H = 3600.0
PRAGUE = TradingDays("Europe/Prague", "00:00")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_a_bar_with_a_boundary_inside_is_judged_at_that_boundary() -> None:
    closes = at("2024-01-10T00:00") + 4 * H * np.arange(1, 7)  # 04:00 ... 00:00 UTC
    bounds, held = straddles(PRAGUE, closes, 4 * H)
    assert (bounds.tolist(), held.tolist()) == ([at("2024-01-10T23:00")], [closes[-1]])  # 20:00 -> 00:00: midnight CET
    assert PRAGUE.day_of(bounds[0]) == PRAGUE.day_of(at("2024-01-10T21:00"))  # the day it opens in


@pytest.mark.parametrize("days,bar_s", [(PRAGUE, H), (PRAGUE, 15 * 60), (TradingDays("UTC", "00:00"), 4 * H)])
def test_bars_whose_closes_meet_every_boundary_hold_none(days: TradingDays, bar_s: float) -> None:
    closes = at("2024-03-29T00:00") + bar_s * np.arange(1, int(6 * 24 * H / bar_s))  # across the spring change
    assert not straddles(days, closes, bar_s)[0].size


def _series(symbol: str, ts: np.ndarray, close: np.ndarray, signal: np.ndarray):
    from engine.run.market import Series

    op = np.concatenate([[close[0]], close[:-1]])
    n = len(ts)
    return Series(symbol, Domain.FOREX, ts, op, np.maximum(op, close) + 1e-4, np.minimum(op, close) - 1e-4,
                  close, np.ones(n), None, None, signal, np.ones(n), np.full(n, 0.3), 1)


def test_rows_of_finer_bars_count_in_the_day_a_coarser_bar_holding_its_end_opened_in() -> None:
    """A 4h bar 20:00 -> 00:00 UTC holds Wednesday's end (23:00, Prague); the 30m bars that close
    after 23:00 and up to 00:00 are judged at 23:00 too, so the day rolls after the 4h bar closed."""
    from engine.run.market import Timeline

    four = at("2024-01-10T00:00") + 4 * H * np.arange(1, 9)
    half = at("2024-01-10T00:00") + 0.5 * H * np.arange(1, 64)
    tl = Timeline([_series("EUR/USD", four, np.ones(8), np.zeros(8)), _series("GBP/USD", half, np.ones(63), np.zeros(63))])
    times = row_day_times(PRAGUE, tl, {"EUR/USD": 4 * H, "GBP/USD": 0.5 * H})
    assert times is not None
    moved = {float(t): float(d) for t, d in zip(tl.ts, times, strict=True) if d != t}
    wed_end = at("2024-01-10T23:00")
    assert moved == {at("2024-01-10T23:30"): wed_end, at("2024-01-11T00:00"): wed_end}  # (two rows at 00:00)
    assert sum(1 for t, d in zip(tl.ts, times, strict=True) if d != t) == 3


def _wednesday(bar_s: float) -> tuple[np.ndarray, np.ndarray, float]:
    """`bar_s` bars on 2024-01-10/11, long from 04:00 UTC, losing ~0.105% of a $1M wallet by 20:00
    and as much again by 22:00 UTC."""
    ts = at("2024-01-10T00:00") + bar_s * np.arange(int(36 * H / bar_s))
    close = np.where(ts >= at("2024-01-10T22:00"), 0.80, np.where(ts >= at("2024-01-10T20:00"), 0.95, 1.10))
    return ts, close, at("2024-01-10T04:00")


def _runner(tmp: Path, market: tuple, zone: str, starts: str, skip: bool, checkpoint_every: int | None = None,
            max_hold: float | None = None, beside: tuple = ()):
    """One EUR/USD series, (bar closes, closes, the time it goes long from), and the series `beside`
    it; the daily loss limit is 0.16%."""
    from engine.run.assemble import assemble
    from engine.run.optin import Routing

    specs = specset(str(write_env_override(tmp / "ovr", wallet=1e6, values={"kill_modes": {"daily_loss_limit": 0.0016}})))
    risk = specs.extra["risk"]
    limits = risk.limits.model_copy(update={"trading_day": TradingDay(zone=zone, starts=starts),
                                            "max_hold": max_hold or risk.limits.max_hold})
    specs = dataclasses.replace(specs, extra={**specs.extra, "risk": risk.model_copy(update={"limits": limits})})
    cfg = base_config().model_copy(update={"db": str(tmp / "engine.db"), "env": ENV,
                                           "venue": {"partial_fill_prob": 0.0, "slippage_bps": 0.0}})
    if checkpoint_every:
        cfg = cfg.model_copy(update={"checkpoint_every": checkpoint_every})
    ts, close, long_from = market
    signal = np.where(ts >= long_from, 1.0, 0.0)
    signal[:2] = 0.0
    series = [_series("EUR/USD", ts, close, signal), *beside]
    routing = Routing({"crypto_spot": "off", "crypto_perp": "off", "forex": "paper", "forex_options": "off"}, (), ())
    runner = assemble(cfg, specs, 3, routing, tmp / "run", series=series)
    runner.skip_quiet = skip
    return runner


@pytest.mark.parametrize("skip", [True, False], ids=["skipped", "stepped"])
@pytest.mark.parametrize("bar_s,beside", [(H, None), (4 * H, None), (4 * H, 0.5 * H), (4 * H, H)],
                         ids=["1h", "4h", "4h-beside-30m", "4h-beside-1h"])
def test_a_loss_inside_a_prague_day_trips_its_daily_limit_whatever_the_bar(tmp_path: Path, bar_s: float,
                                                                           beside: float | None, skip: bool) -> None:
    """Both losses fall inside Wednesday (Prague). The 4h bar 20:00 -> 00:00 UTC opens on Wednesday
    and closes on Thursday: counted in Thursday, it started that day from the 20:00 equity, and
    Wednesday's 0.21% loss went unseen; so it did when a flat series of finer bars beside it rolled
    the day at its first row after 23:00."""
    flat = ()
    if beside:
        ts = at("2024-01-10T00:00") + beside * np.arange(1, int(36 * H / beside))
        flat = (_series("GBP/USD", ts, np.full(len(ts), 1.27), np.zeros(len(ts))),)
    runner = _runner(tmp_path, _wednesday(bar_s), "Europe/Prague", "00:00", skip, beside=flat)
    try:
        runner.run()
    finally:
        runner.session.store.close()
    tripped = [e for e in runner.session.kill_events if e.get("to") == "close_only"]
    assert tripped and "daily_loss" in tripped[0]["reason"]


@pytest.mark.parametrize("skip", [True, False], ids=["skipped", "stepped"])
def test_a_day_roll_on_a_checkpoint_s_row_is_saved_once(tmp_path: Path, skip: bool) -> None:
    """1h bars and the New York 17:00 day: the daily loss trips close-only on Wednesday, and the
    roll at the first row after 22:00 UTC, a checkpoint's row, lifts it. A skipped replay returned
    from that roll without a row done and saved the same row a second time."""
    runner = _runner(tmp_path, _wednesday(H), "America/New_York", "17:00", skip, checkpoint_every=22)
    saved: list[int] = []
    checkpoint = runner.checkpoint

    def counted() -> None:
        saved.append(runner.bars)
        checkpoint()

    runner.checkpoint = counted
    try:
        runner.run()
    finally:
        runner.session.store.close()
    assert [e["event"] for e in runner.session.kill_events][:2] == ["risk_update", "day_rolled"]
    assert saved == [22, 35]  # the checkpoint's row, then the run's end (its 35 rows)


def _records(tmp: Path, market: tuple, skip: bool) -> tuple:
    """The audit trail, kill events and gates' closes of a run of `market` on the Prague day."""
    runner = _runner(tmp, market, "Europe/Prague", "00:00", skip, max_hold=30 * 86400.0)  # held through the gap
    ses = runner.session
    records, sink = [], ses.interp.sink

    class Kept:
        def write(self, r) -> None:
            records.append(r)
            sink.write(r)

        def flush(self) -> None:
            sink.flush()

    ses.interp.sink = Kept()
    try:
        runner.run()
    finally:
        ses.store.close()
    closes = {d: (k.days, k.last_ts, k.last_equity) for d, k in runner.gate_kpis.items()}
    return records, ses.kill_events, closes


def test_a_roll_that_moves_a_machine_on_a_bar_with_a_boundary_inside_rolls_once(tmp_path: Path) -> None:
    """4h bars: a loss trips close-only on Tuesday (Prague); after a gap, the bar 20:00 -> 00:00 UTC
    holds Wednesday's end, and its roll lifts the close-only. A skipped replay stops its stretch at
    that row with the clock at the bar's close: step() judged the row by that clock, not by the
    boundary, and rolled the day a second time."""
    ts = at("2024-01-08T00:00") + 4 * H * np.arange(13)
    ts = np.concatenate([ts, at("2024-01-11T00:00") + 4 * H * np.arange(4)])
    close = np.where(ts >= at("2024-01-09T10:00"), 0.80, np.where(ts >= at("2024-01-09T06:00"), 0.95, 1.10))
    market = (ts, close, at("2024-01-08T04:00"))
    stepped, skipped = _records(tmp_path / "a", market, False), _records(tmp_path / "b", market, True)
    assert [e["event"] for e in stepped[1]] == ["risk_update", "day_rolled"]
    assert skipped == stepped
