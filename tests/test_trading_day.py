"""The trading day (risk spec `limits.trading_day`): a bar belongs to the day it opens in, so the
bar closing at the boundary is the last of its day and the next day starts from the marks at the
boundary; the day starts at a wall-clock time of an IANA zone, DST included (FTMO: midnight
Prague; forex: 17:00 New York); and a run's day roll, stepped or skipped, follows it."""
from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.risk.tradingday import TradingDays
from run_support import Checker, Scenario, build
from test_risk_config import edited, line_of

UTC = TradingDays("UTC", "00:00")
PRAGUE = TradingDays("Europe/Prague", "00:00")
NEW_YORK = TradingDays("America/New_York", "17:00")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_the_bar_closing_at_midnight_is_the_last_of_its_day() -> None:
    """QA's case: the 23:45 -> 00:00 bar closes at 2018-01-22 00:00; it is the 21st's."""
    day = UTC.day_of(at("2018-01-21T12:00"))
    assert UTC.day_of(at("2018-01-22T00:00")) == day
    assert UTC.day_of(at("2018-01-22T00:00:01")) == UTC.day_of(at("2018-01-22T00:15")) == day + 1
    assert UTC.end_of(day) == at("2018-01-22T00:00")


@pytest.mark.parametrize("days,when,hours", [
    (PRAGUE, "2024-03-31T12:00", 23),  # CET -> CEST: the day of the spring change is an hour short
    (PRAGUE, "2024-10-27T12:00", 25),
    (PRAGUE, "2024-01-15T12:00", 24),
    (NEW_YORK, "2024-03-10T12:00", 23),  # the NY day that starts at 17:00 on the 9th (EST) ends at 17:00 EDT
    (NEW_YORK, "2024-11-03T12:00", 25),
])
def test_a_zone_s_days_follow_its_dst_changes(days: TradingDays, when: str, hours: int) -> None:
    day = days.day_of(at(when))
    assert days.end_of(day) - days.end_of(day - 1) == hours * 3600


def test_the_boundaries_are_the_zone_s_wall_clock_start() -> None:
    winter, summer = PRAGUE.day_of(at("2024-01-15T12:00")), PRAGUE.day_of(at("2024-07-15T12:00"))
    assert PRAGUE.end_of(winter) == at("2024-01-15T23:00")  # midnight CET
    assert PRAGUE.end_of(summer) == at("2024-07-15T22:00")  # midnight CEST
    assert NEW_YORK.end_of(NEW_YORK.day_of(at("2024-01-15T12:00"))) == at("2024-01-15T22:00")  # 17:00 EST
    assert NEW_YORK.end_of(NEW_YORK.day_of(at("2024-07-15T12:00"))) == at("2024-07-15T21:00")  # 17:00 EDT


def test_a_start_time_s_minutes_move_the_boundary() -> None:
    """An NSE-style day starting 09:15 Kolkata (UTC+5:30) ends at 03:45 UTC, not at 03:30: the
    start's minutes are part of the wall-clock time (mut7b T05: minutes dropped)."""
    kolkata = TradingDays("Asia/Kolkata", "09:15")
    day = kolkata.day_of(at("2024-01-15T12:00"))
    assert (kolkata.end_of(day - 1), kolkata.end_of(day)) == (at("2024-01-15T03:45"), at("2024-01-16T03:45"))
    assert kolkata.day_of(at("2024-01-16T03:45")) == day and kolkata.day_of(at("2024-01-16T03:46")) == day + 1


def test_a_start_time_a_dst_change_repeats_or_skips_reads_the_offset_before_it() -> None:
    """`_end_of`'s fold 0: New York's 01:30 happens twice on 2024-11-03 (EDT, then EST) and the
    day starts at the first (05:30 UTC), so that day lasts 25 hours; 02:30 does not exist on
    2024-03-10 and reads as EST, 07:30 UTC (mut7b T08: fold 1, the second/later offset)."""
    repeated = TradingDays("America/New_York", "01:30")
    day = repeated.day_of(at("2024-11-02T12:00"))
    assert repeated.end_of(day) == at("2024-11-03T05:30")
    assert repeated.end_of(day + 1) - repeated.end_of(day) == 25 * 3600
    skipped = TradingDays("America/New_York", "02:30")
    assert skipped.end_of(skipped.day_of(at("2024-03-09T12:00"))) == at("2024-03-10T07:30")


@settings(max_examples=200, deadline=None)
@given(days=st.sampled_from([UTC, PRAGUE, NEW_YORK, TradingDays("Asia/Kolkata", "09:15")]),
       start=st.integers(1_500_000_000, 1_800_000_000), steps=st.lists(st.sampled_from([0, 900, 3600, 86400, 90000]),
                                                                      min_size=1, max_size=60),
       known=st.booleans())
def test_new_days_are_the_rows_whose_day_differs(days: TradingDays, start: int, steps: list[int], known: bool) -> None:
    """What the quiet-bar screen skips with (new_days) is what stepping row by row finds (day_of),
    and every time lies in its day: (end of the day before, its end]."""
    times = [float(start // 900 * 900 + sum(steps[:i + 1])) for i in range(len(steps))]
    day = days.day_of(times[0] - 1) if known else -1
    want = []
    for i, t in enumerate(times):
        d = days.day_of(t)
        assert days.end_of(d - 1) < t <= days.end_of(d)
        if d != day:
            want.append(i)
            day = d
    assert days.new_days(times, days.day_of(times[0] - 1) if known else -1) == want


# -- in a run ------------------------------------------------------------------------------
SPOT = ("crypto_spot/ETH_BTC-5m", "crypto_spot/LTC_BTC-5m")


@pytest.mark.parametrize("skip", [True, False], ids=["skipped", "stepped"])
@pytest.mark.parametrize("zone", ["UTC", "Europe/Prague"])
def test_each_day_starts_from_the_equity_at_its_boundary(loose: Path, zone: str, skip: bool) -> None:
    """Each roll happens at the first row after a boundary, before that row marks anything, and
    the day starts from the equity recorded at the boundary (the bar closing there included); the
    kill machine's daily loss is measured from it."""
    sc = Scenario(1, SPOT, 0, 1100, 3, 0.0, 0.0, 6 * 3600.0, flip_every=12)
    with tempfile.TemporaryDirectory() as work:
        checker = Checker()
        runner = build(sc, Path(work), loose, checker)
        step = runner.step

        def stepped(s, i) -> None:  # the checker's loop guard counts one step's events, not the run's
            step(s, i)
            checker.end_of_step()

        runner.step = stepped
        runner.days = days = TradingDays(zone, "00:00")
        runner.skip_quiet = skip
        rolls: list[tuple[float, int, float]] = []
        roll = runner._day_roll

        def watched(t: float) -> bool:
            before = runner._day
            moved = roll(t)
            if runner._day != before:
                rolls.append((t, before, runner.session.books[next(iter(runner.session.books))].day_start_equity))
            return moved

        runner._day_roll = watched
        try:
            runner.run()
        finally:
            runner.session.store.close()
    (curve,) = runner.equity.values()
    points = list(curve)
    assert len(rolls) >= 4
    for t, before, start in rolls[1:]:
        boundary = days.end_of(before)
        assert t > boundary
        at_boundary = [e for ts, e in points if ts <= boundary][-1]
        assert start == at_boundary
        assert not [ts for ts, _ in points if boundary < ts < t], "the roll is the first row after the boundary"
    assert any(ts == days.end_of(before) for _, before, _ in rolls[1:] for ts, _ in points), \
        "some bar closes exactly at a boundary"


# -- engine validate ------------------------------------------------------------------------
DAY = '  trading_day: {zone: UTC, starts: "00:00"}'


@pytest.mark.parametrize("new,message,hint", [
    ('  trading_day: {zone: Europe/Prag, starts: "00:00"}', "`Europe/Prag` is not a time zone",
     "did you mean `Europe/Prague`?"),
    ('  trading_day: {zone: Mars/Olympus, starts: "00:00"}', "`Mars/Olympus` is not a time zone", "IANA"),
    # zoneinfo finds these on this machine (`localtime` is even in available_timezones()), but each
    # is the machine's: the day would start elsewhere on another one (no deterministic replay).
    ('  trading_day: {zone: localtime, starts: "00:00"}', "`localtime` is the machine's own zone", "IANA"),
    ('  trading_day: {zone: Factory, starts: "00:00"}', "`Factory` is the placeholder", "IANA"),
    ('  trading_day: {zone: posixrules, starts: "00:00"}', "`posixrules` is the machine's default", "IANA"),
    ('  trading_day: {zone: posix/Europe/Prague, starts: "00:00"}', "not a fixed time zone", "`Europe/Prague`"),
    ('  trading_day: {zone: right/UTC, starts: "00:00"}', "leap seconds", "write `UTC`"),
    ('  trading_day: {zone: UTC, starts: "24:00"}', "`24:00` is not a time of day", "HH:MM"),
    ('  trading_day: {zone: UTC, starts: "5pm"}', "`5pm` is not a time of day", "HH:MM"),
    ('  trading_day: {zone: UTC, starts: "9:15"}', "`9:15` is not a time of day", "HH:MM"),  # mut7b U03
])
def test_a_bad_trading_day_is_an_error_at_its_line_with_a_hint(tmp_path, new: str, message: str, hint: str) -> None:
    from engine.spec.loader import load_specs

    path = edited(tmp_path, DAY, new)
    _, diags = load_specs([tmp_path / "specs"])
    (d,) = [d for d in diags if d.code == "SCHEMA_VALUE"]
    assert message in d.message and hint in (d.hint or "")
    assert str(d.pos).startswith(f"{path}:{line_of(path, 'trading_day:')}:") and d.pos.col > 0


def test_under_the_repo_s_specs_the_bar_closing_at_midnight_is_the_earlier_day_s() -> None:
    from test_risk_config import spec_data

    day = spec_data()["limits"]["trading_day"]
    days = TradingDays(day["zone"], day["starts"])
    midnight = datetime(2018, 1, 22, tzinfo=timezone.utc).timestamp()
    assert days.day_of(midnight) == days.day_of(midnight - 900) != days.day_of(midnight + 900)
