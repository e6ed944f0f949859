"""Skipping quiet bars changes speed and nothing else.

Each example replays real bundled data twice, once stepping every bar and once
applying the rows engine/run/quiet.py proves quiet at once, and compares all
that a run leaves behind: every audit record, every journal row, the trades, the
equity curve, the books and the venue's orders, positions and balances.
Hypothesis varies what decides whether a bar is quiet: entries and exits (a
seeded random target flips often), partial fills, slippage, max hold, several
series side by side, checkpoints, perp funding, and kill limits tight enough
that the daily-loss tripwire fires between trades, inside would-be quiet stretches.
"""
from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from run_support import ROOT, Checker, Scenario, build, write_env_override

SPOT = ("crypto_spot/ETH_BTC-5m", "crypto_spot/LTC_BTC-5m", "crypto_spot/ADA_BTC-5m")
PERP = "crypto_perp/BTC-PERP-1m"
HOUR = 3600.0


class Collect:
    def __init__(self, inner) -> None:
        self.inner, self.records = inner, []

    def write(self, record) -> None:
        self.records.append(astuple(record))
        self.inner.write(record)

    def flush(self) -> None:
        self.inner.flush()


def replay(sc: Scenario, overrides: Path, skip: bool) -> tuple[dict, int]:
    with tempfile.TemporaryDirectory() as work:
        runner = build(sc, Path(work), overrides, Checker())
        runner.skip_quiet = skip
        ses = runner.session
        sink = ses.interp.sink = Collect(ses.interp.sink)
        stepped = 0
        step = runner.step

        def counted(s, i) -> None:
            nonlocal stepped
            stepped += 1
            step(s, i)

        runner.step = counted
        try:
            runner.run()
            venue = ses.venue
            out = {
                "bars": runner.bars,
                "audit": sink.records,
                "journal": [(e.kind, e.key, e.payload, e.ts, e.reason) for e in ses.store.journal_entries()],
                "trades": runner.trades,
                "equity": runner.equity,
                "books": {d.value: (b.balance, {s: astuple(p) for s, p in b.positions.items()}, b.marks)
                          for d, b in ses.books.items()},
                "venue": (venue.open_orders(), venue.positions(), venue.balances()),
                "kill": (ses.kill.state, ses.kill_events),
                "rejections": runner.rejections,
                # rev30: as the checkpoint writes it (100000 stepped, 100000.0 skipped differed)
                "last_risk_equity": repr(runner._last_risk_equity),
            }
        finally:
            ses.store.close()
    return out, stepped


@st.composite
def scenarios(draw) -> Scenario:
    datasets = tuple(draw(st.lists(st.sampled_from(SPOT), min_size=1, max_size=2, unique=True)))
    return Scenario(stage=1, datasets=datasets, offset=draw(st.integers(0, 600)), bars=draw(st.integers(150, 300)),
                    seed=draw(st.integers(0, 2**16)),
                    partial_fill_prob=draw(st.sampled_from((0.0, 0.3))),
                    slippage_bps=draw(st.floats(0.0, 20.0)),
                    max_hold_s=draw(st.integers(1, 24)) * HOUR,
                    flip_every=draw(st.sampled_from((0, 12, 40))))


def _same(sc: Scenario, overrides: Path) -> None:
    slow, all_steps = replay(sc, overrides, skip=False)
    fast, steps = replay(sc, overrides, skip=True)
    for key in slow:
        assert fast[key] == slow[key], f"{key} differs when quiet bars are skipped"
    assert all_steps == slow["bars"] and steps <= all_steps


@settings(max_examples=6, deadline=None, phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow])
@example(sc=Scenario(1, ("crypto_spot/ETH_BTC-5m",), 0, 300, 7, 0.0, 0.0, 12 * HOUR))
@example(sc=Scenario(1, SPOT[:2], 100, 250, 3, 0.3, 10.0, 6 * HOUR, flip_every=12))
@given(sc=scenarios())
def test_skipping_quiet_bars_changes_nothing(sc: Scenario, loose: Path) -> None:
    _same(sc, loose)


# A perp position of 15% of the wallet: the mark alone breaches 0.1% daily loss between trades.
TRIPS = Scenario(3, (PERP,), 0, 300, 5, 0.0, 5.0, 24 * HOUR, size_pct=0.15)
# Here the daily loss trips on a bar nothing else would step: without the screen the
# kill machine would only hear of it at the next stepped bar (checked by mutation).
TRIPS_QUIET = Scenario(3, (PERP,), 700, 300, 5, 0.0, 0.0, 24 * HOUR, size_pct=0.15, flip_every=40)


@st.composite
def leveraged(draw) -> Scenario:
    return Scenario(stage=3, datasets=(PERP,), offset=draw(st.integers(0, 600)), bars=draw(st.integers(200, 300)),
                    seed=draw(st.integers(0, 2**16)), partial_fill_prob=draw(st.sampled_from((0.0, 0.3))),
                    slippage_bps=draw(st.floats(0.0, 20.0)), max_hold_s=24 * HOUR, size_pct=0.15,
                    flip_every=draw(st.sampled_from((0, 40))))


@settings(max_examples=4, deadline=None, phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow])
@example(sc=TRIPS)
@example(sc=TRIPS_QUIET)
@given(sc=leveraged())
def test_tripwires_fire_on_the_same_bar_when_skipping(sc: Scenario, tight: Path) -> None:
    _same(sc, tight)


# Bid and ask files: quoted bars, whose resting orders read each side's own high and low.
QUOTED = "forex/GBPUSD-1m"
QUOTED_FLIPS = Scenario(3, (QUOTED,), 600, 300, 3, 0.3, 0.0, 24 * HOUR, flip_every=12)


@st.composite
def quoted(draw) -> Scenario:
    return Scenario(stage=3, datasets=(QUOTED,), offset=draw(st.integers(0, 700)), bars=draw(st.integers(150, 300)),
                    seed=draw(st.integers(0, 2**16)), partial_fill_prob=draw(st.sampled_from((0.0, 0.3))),
                    slippage_bps=draw(st.floats(0.0, 20.0)), max_hold_s=draw(st.integers(1, 24)) * HOUR,
                    flip_every=draw(st.sampled_from((0, 12, 40))))


@settings(max_examples=4, deadline=None, phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow])
@example(sc=Scenario(3, (QUOTED,), 0, 300, 7, 0.0, 0.0, 24 * HOUR))
@example(sc=QUOTED_FLIPS)
@given(sc=quoted())
def test_skipping_quiet_bars_of_bid_ask_data_changes_nothing(sc: Scenario, loose: Path) -> None:
    _same(sc, loose)


# Legs that never move (no breakeven, no trailing): a position rides to the Friday close, and
# its weekend exit, decided on the bar whose next bar (its fill) ends past the cutoff, is the only
# thing that steps that bar (GBPUSD 15m: Fri 2012-02-17 20:45 is row 226, Fri 02-24 20:45 row 706).
CALM = {"bracket": {"breakeven_atr": 1e6, "trail_activation_atr": 1e6}}
WEEKEND = Scenario(3, (QUOTED,), 670, 60, 2, 0.0, 0.0, 48 * HOUR, flip_every=40)


@pytest.fixture(scope="module")
def calm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_env_override(tmp_path_factory.mktemp("calm"), wallet=1_000_000.0, values=CALM)


@st.composite
def fridays(draw) -> Scenario:
    return Scenario(stage=3, datasets=(QUOTED,), offset=draw(st.sampled_from((160, 180, 190, 640, 660, 670))),
                    bars=draw(st.integers(50, 70)), seed=draw(st.integers(0, 2**16)),
                    partial_fill_prob=draw(st.sampled_from((0.0, 0.3))), slippage_bps=0.0,
                    max_hold_s=48 * HOUR, flip_every=draw(st.sampled_from((40, 80))))


@settings(max_examples=1, deadline=None, phases=(Phase.explicit, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow])
@example(sc=WEEKEND)
@example(sc=Scenario(3, (QUOTED,), 190, 60, 3, 0.0, 0.0, 48 * HOUR, flip_every=80))
@given(sc=fridays())
def test_a_weekend_exit_falls_on_the_same_bar_when_skipping(sc: Scenario, calm: Path) -> None:
    """The screen stops at the first bar whose weekend exit is due, by the engine's own rule:
    its next bar (fill_s) reaching the Friday cutoff. Read at the bar's own time instead, it
    skipped that bar and the exit went out a bar late, past the cutoff (mutant Q06)."""
    _same(sc, calm)


def test_the_calm_runs_do_exit_for_the_weekend(calm: Path) -> None:
    """The weekend property is only worth something if its runs do carry a position to Friday's close."""
    out, _ = replay(WEEKEND, calm, skip=True)
    assert any(t.exit_reason == "weekend" for t in out["trades"]), out["trades"]


def test_bid_ask_bars_are_skipped_while_an_order_rests(loose: Path) -> None:
    """The screen bounds a resting order by its side's own extremes, so a bracket's legs no
    longer make every quoted bar a step (while the screen read only the mids they did: 0
    rows skipped, 73 stepped with an order resting)."""
    with tempfile.TemporaryDirectory() as work:
        runner = build(QUOTED_FLIPS, Path(work), loose, Checker())
        venue, skip, step = runner.session.venue, runner.skip, runner.step
        resting = {"skipped": 0, "stepped": 0}  # rows that began with an order resting

        def skipped(k: int, end: int) -> int:
            rests = bool(venue.open_orders())
            reached = skip(k, end)
            resting["skipped"] += (reached - k) * rests
            return reached

        def stepped(s, i) -> None:
            resting["stepped"] += bool(venue.open_orders())
            step(s, i)

        runner.skip, runner.step = skipped, stepped
        try:
            runner.run()
        finally:
            runner.session.store.close()
    assert runner.trades and resting["skipped"] > resting["stepped"], resting


def test_most_bars_of_a_calm_replay_are_skipped(loose: Path) -> None:
    """Not a timing: the point of the screen is that it proves most bars quiet."""
    sc = Scenario(1, ("crypto_spot/ETH_BTC-5m",), 0, 300, 7, 0.0, 0.0, 12 * HOUR)
    out, steps = replay(sc, loose, skip=True)
    assert out["trades"] and steps < out["bars"] / 3, (steps, out["bars"])


def test_the_tight_kill_limits_really_trip(tight: Path) -> None:
    """The second property is only worth something if its runs do hit the tripwires."""
    out, _ = replay(TRIPS_QUIET, tight, skip=True)
    closes = {t.exit_ts for t in out["trades"]}
    assert any(e["event"] == "risk_update" and e["ts"] not in closes for e in out["kill"][1]), out["kill"]


def test_a_venue_touch_ends_a_quiet_stretch() -> None:
    """quiet_bars stops at the first bar that touches a resting stop or limit, as _work would fill it."""
    from adapters.paper.pricing import limit_through, stop_hit
    from engine.domain import Side

    low = np.array([1.0, 0.9, 0.8, 0.95])
    high = low + 0.1
    assert np.flatnonzero(stop_hit(Side.SELL, 0.8, low, high, 0.0))[0] == 2
    assert stop_hit(Side.SELL, 0.8, 0.8, 0.9, 0.0) and not stop_hit(Side.SELL, 0.8, 0.81, 0.9, 0.0)
    assert stop_hit(Side.SELL, 0.8, 0.81, 0.9, 0.02)  # the bid (mid less the half spread) reaches it
    assert np.flatnonzero(limit_through(Side.SELL, 1.0, low, high, 0.0))[0] == 0
    assert not limit_through(Side.BUY, 0.8, 0.8, 0.9, 0.0)  # a limit needs price through it
    assert not limit_through(Side.BUY, 0.81, 0.8, 0.9, 0.02)  # ... its side's: the ask's low is 0.82



def test_a_screen_and_the_step_after_it_share_one_bar() -> None:
    """Series.bar hands the last bar out again (the screen's, then the step's), equal to a fresh
    one; another row in between makes its own."""
    from engine.domain import Bar, Domain
    from engine.run.market import Series

    ts = np.array([10.0, 20.0, 30.0])
    px = np.array([1.0, 1.5, 2.0])
    s = Series("X", Domain.FOREX, ts, px, px + 1, px - 1, px, px * 3, px, px + 0.5, px, px, px, 0)
    first = s.bar(1)
    assert s.bar(1) is first
    assert first == Bar("X", 20.0, 1.5, 2.5, 0.5, 1.5, 4.5, 1.5, 2.0)
    other = s.bar(2)
    assert other.ts == 30.0 and s.bar(1) is not first and s.bar(1) == first


@settings(max_examples=300, deadline=None)
@given(t=st.integers(946_684_800, 2_000_000_000), fill_s=st.sampled_from([0.0, 60.0, 300.0, 900.0, 3600.0, 14400.0]))
def test_the_weekly_close_rule_reads_the_utc_calendar(t: int, fill_s: float) -> None:
    """One rule serves the per-bar exit (a time) and the screen (arrays): from the bar close whose
    next bar (fill_s long, where an order decided then fills) ends at or past the Friday close
    less the buffer, to the end of Friday."""
    from datetime import datetime, timedelta, timezone

    from run_support import specset

    limits = specset(str(ROOT / "specs" / "overrides")).extra["risk"].limits
    domain, sess = next(iter(limits.sessions.items()))
    d = datetime.fromtimestamp(t, tz=timezone.utc)
    friday = (d - timedelta(days=d.weekday() - 4)).replace(hour=0, minute=0, second=0)
    cutoff = friday + timedelta(seconds=sess.friday_close_s - limits.friday_close_buffer)
    want = d + timedelta(seconds=fill_s) >= cutoff and d < friday + timedelta(days=1)
    assert bool(limits.near_weekly_close(domain, float(t), fill_s)) == want
    assert limits.near_weekly_close(domain, np.array([float(t), float(t)]), fill_s).tolist() == [want, want]


@st.composite
def equity_paths(draw):
    """A runner's state before a stretch, as EquityPath reads it: one or two series, of one
    book or of two (each its own domain, wallet, start of day and peak), hourly-ish rows across
    day boundaries (some closing exactly at one) of a trading day in one of a few zones."""
    from types import SimpleNamespace

    from engine.risk.tradingday import TradingDays

    from engine.domain import Domain
    from engine.run.book import DomainBook
    from engine.run.daytimes import row_day_times
    from engine.run.loop import bar_length
    from engine.run.market import Series, Timeline
    from state.ledger import Book as Position

    n_series = draw(st.integers(1, 2))
    domains = [Domain.FOREX, draw(st.sampled_from([Domain.FOREX, Domain.CRYPTO_PERP]))][:n_series]
    n = draw(st.integers(1, 40))
    t0 = draw(st.integers(1_600_000_000, 1_600_200_000) | st.integers(444_400, 444_500).map(lambda h: h * 3600)) * 1.0
    price = st.floats(0.5, 2.0)
    series = []
    for j, dom in enumerate(domains):
        steps = draw(st.lists(st.sampled_from([1800.0, 3600.0, 7200.0, 86400.0]), min_size=n, max_size=n))
        ts = t0 + j + np.cumsum(steps)
        close = np.array(draw(st.lists(price, min_size=n, max_size=n)))
        series.append(Series(f"S{j}", dom, ts, close, close, close, close, close, None, None,
                             close, close, close, 0))
    books = {d: DomainBook(d, "paper", 1e5, draw(st.floats(-1e3, 1e5)), 0.0, 0.0, 0.0) for d in domains}
    for s in series:
        if draw(st.booleans()):
            book = books[s.domain]
            book.positions[s.symbol] = Position(draw(st.floats(-1e4, 1e4)), draw(price))
            book.marks[s.symbol] = draw(price)
            book.multipliers[s.symbol] = draw(st.sampled_from([1.0, 10.0]))
    for book in books.values():
        equity = book.equity
        book.day_start_equity = draw(st.sampled_from([equity, 0.0, equity * 1.01]))
        book.peak_equity = draw(st.sampled_from([equity, 0.0, equity * 1.05, 2 * equity]))
    tl = Timeline(series)
    now = float(tl.ts[0]) - draw(st.sampled_from([0.0, 3600.0, 90000.0, -1800.0]))
    session = SimpleNamespace(clock=SimpleNamespace(now=lambda: now), books=books)
    days = TradingDays(*draw(st.sampled_from([("UTC", "00:00"), ("Europe/Prague", "00:00"),
                                              ("America/New_York", "17:00")])))
    row_day_ts = row_day_times(days, tl, {s.symbol: bar_length(s.ts) for s in series})
    runner = SimpleNamespace(timeline=tl, booked_series=np.ones(n_series, dtype=bool), session=session,
                             days=days, row_day_ts=row_day_ts, _day=draw(st.sampled_from([days.day_of(now), -1])))
    return runner, len(tl)


@settings(max_examples=300, deadline=None)
@given(case=equity_paths())
def test_the_tripwire_bounds_are_the_largest_daily_loss_and_drawdown(case) -> None:
    """The scalar screen of the kill guards rests on pnl_upper: it answers unless the stretch
    makes a new peak in some book (finite values here), and then it is exactly the largest daily
    loss and drawdown the per-row arrays hold."""
    from engine.run.quiet import EquityPath

    runner, n = case
    path = EquityPath(runner, 0, n)
    upper = path.pnl_upper()
    books = runner.session.books
    assert (upper is None) == any(path.by_domain[d].max() > b.peak_equity for d, b in books.items())
    if upper is not None:
        assert upper["daily_loss"] == path.daily_loss().max()
        assert upper["drawdown"] == path.drawdown().max()


@settings(max_examples=300, deadline=None)
@given(case=equity_paths())
def test_the_equity_path_is_what_stepping_the_rows_would_measure(case) -> None:
    """Row by row, as step() would: marks, each book's equity (DomainBook's own arithmetic),
    the day roll's days and each book's start of day and running peak, and Runner.pnl_inputs'
    daily loss and drawdown: the worst book's, each in its own wallet."""
    from engine.run.quiet import EquityPath

    runner, n = case
    path = EquityPath(runner, 0, n)
    tl, books = runner.timeline, runner.session.books
    marks = {d: dict(b.marks) for d, b in books.items()}
    start = {d: b.day_start_equity for d, b in books.items()}
    peak = {d: b.peak_equity for d, b in books.items()}
    before, day, new_days = {d: b.equity for d, b in books.items()}, runner._day, []
    for r in range(n):
        t = max(float(tl.ts[r]), runner.session.clock.now())
        # a bar with a day boundary inside it is judged at that boundary (engine/run/daytimes.py)
        own = t if runner.row_day_ts is None else float(runner.row_day_ts[r])
        day_t = own if own < tl.ts[r] else t
        if day < 0 or day_t > runner.days.end_of(day):  # as Runner._day_roll rolls
            day, start = runner.days.day_of(day_t), dict(before)
            new_days.append(r)
        s = tl.series[tl.ser[r]]
        marks[s.domain][s.symbol] = float(s.close[tl.idx[r]])
        daily = dd = 0.0
        for d, book in books.items():
            eq = dataclasses.replace(book, marks=marks[d]).equity
            peak[d] = max(peak[d], eq)
            assert path.by_domain[d][r] == eq
            daily = max(daily, max(0.0, 1.0 - eq / start[d]) if start[d] > 0 else 0.0)
            dd = max(dd, max(0.0, 1.0 - eq / peak[d]) if peak[d] > 0 else 0.0)
            before[d] = eq
        assert path.ts[r] == t
        assert path.daily_loss()[r] == daily
        assert path.drawdown()[r] == dd
    assert path.new_days() == new_days


def test_the_row_a_timer_falls_due_on_is_stepped(tmp_path: Path) -> None:
    """A quiet stretch ends before the row whose time a pending timer's deadline reaches: step()
    fires it there (Interpreter.advance) before the row's venue work and decision. A losing
    streak's cooldown (1h: four 15m rows ahead) falls due exactly at a row's time; read past it
    (searchsorted side="right"), the screen skipped that row and the timer fired a row late,
    after the next row's day roll or decision (mutant Q02)."""
    over = write_env_override(tmp_path / "ov", wallet=1_000_000.0, values={"kill_modes": {"cooldown": "1h"}})
    runner = build(Scenario(1, ("crypto_spot/ETH_BTC-5m",), 0, 300, 7, 0.0, 0.0, 12 * HOUR), tmp_path, over, Checker())
    try:
        runner.run(limit=40)
        ses, tl, k = runner.session, runner.timeline, runner.bars
        for _ in range(3):  # max_consecutive_losses (3) losing trades: the kill machine cools down
            ses.send(ses.kill, "trade_closed", {"pnl": -1.0}, inputs=runner.pnl_inputs())
        assert ses.kill.state == "cooldown"
        deadline = ses.interp.next_deadline()
        due = int(np.searchsorted(tl.ts, deadline))
        assert tl.ts[due] == deadline and due > k
        assert runner.quiet.end(k, due) == due  # the rows before it are quiet
        assert runner.quiet.end(k, len(tl)) == due
    finally:
        ses.store.close()


def test_a_row_closing_at_the_day_s_end_rolls_no_day(tmp_path: Path, loose: Path) -> None:
    """step() rolls the trading day as the screen's EquityPath.new_days counts days: a row whose
    time is exactly the day's end (a bar closing at midnight) is the last of that day, and only
    a later time rolls. Rolled there (`t < _day_end`), a stepped run reset the daily loss a row
    early (and again on the next row), where a skipped stretch did not (mutant L05)."""
    runner = build(Scenario(1, ("crypto_spot/ETH_BTC-5m",), 0, 300, 7, 0.0, 0.0, 12 * HOUR), tmp_path, loose, Checker())
    try:
        runner.run(limit=10)
        book = next(iter(runner.session.books.values()))
        end, book.day_start_equity = runner._day_end, -1.0  # a start of day no roll would leave
        assert runner.days.new_days([end], runner._day) == []
        assert runner._day_roll(end) is False and book.day_start_equity == -1.0
        runner._day_roll(end + 1.0)
        assert runner.days.new_days([end + 1.0], runner.days.day_of(end)) == [0]
        assert book.day_start_equity == book.equity  # a later time starts the next day
    finally:
        runner.session.store.close()


def test_a_whole_dollar_wallet_checkpoints_alike_when_skipping(tmp_path: Path) -> None:
    """rev30: a wallet given in whole dollars checkpointed last_risk_equity as 100000 when stepping
    and 100000.0 when skipping: the same run, other bytes."""
    over = write_env_override(tmp_path / "ov", wallet=100000)
    _same(Scenario(3, (PERP,), 0, 200, 5, 0.0, 0.0, 24 * HOUR), over)  # a USD wallet: no rate makes it a float
