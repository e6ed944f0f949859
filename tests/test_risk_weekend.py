"""Exits and entry cutoffs decided one bar ahead: a market order decided at a bar's close fills
during the next bar, so the weekend exit goes out at the last close whose next bar reaches the
Friday close less the buffer, an entry whose fill bar would reach it is refused, and max_hold
never holds a position past its limit (QA: an exit decided at the close itself filled after it)."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from engine.domain import Domain
from run_support import ENV, base_config, specset, write_env_override

FRI = datetime(2024, 1, 5, tzinfo=timezone.utc).timestamp()  # a Friday, 00:00 UTC
TUE = FRI - 3 * 86400
M, H = 60.0, 3600.0


def _run(tmp: Path, bar_s: float, first_close: float, n: int, long_from: int, close_utc: str = "21:00",
         max_hold: float = 2 * 86400.0, skip_quiet: bool = True):
    """A real replay of one flat EUR/USD series (stops and targets out of reach) whose signal
    turns long at bar `long_from`, under the shipped risk spec with the forex Friday close at
    `close_utc` and `max_hold`."""
    from engine.run.assemble import assemble
    from engine.run.market import Series
    from engine.run.optin import Routing

    specs = specset(str(write_env_override(tmp / "ovr", wallet=1e6)))
    risk = specs.extra["risk"]
    sess = risk.limits.sessions["forex"].model_copy(update={"friday_close_utc": close_utc})
    limits = risk.limits.model_copy(update={"sessions": {**risk.limits.sessions, "forex": sess}, "max_hold": max_hold})
    risk = risk.model_copy(update={"limits": limits})
    specs = dataclasses.replace(specs, extra={**specs.extra, "risk": risk})  # keeps its kinds and places
    cfg = base_config().model_copy(update={"db": str(tmp / "engine.db"), "env": ENV,
                                           "venue": {"partial_fill_prob": 0.0, "slippage_bps": 0.0}})
    ts = first_close + bar_s * np.arange(n)
    px = np.full(n, 1.1)
    signal = np.where(np.arange(n) >= long_from, 1.0, 0.0)
    s = Series("EUR/USD", Domain.FOREX, ts, px, px + 0.0002, px - 0.0002, px, np.ones(n), None, None,
               signal, np.ones(n), np.full(n, 0.001), 1)
    routing = Routing({"crypto_spot": "off", "crypto_perp": "off", "forex": "paper", "forex_options": "off"}, (), ())
    runner = assemble(cfg, specs, 3, routing, tmp / "run", series=[s])
    runner.skip_quiet = skip_quiet
    runner.run()
    ses = runner.session
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    return runner


def _rows(runner, kind: str) -> list:
    return runner.session.store.journal_entries(kind)


@pytest.mark.parametrize("skip_quiet", [True, False])
@pytest.mark.parametrize("bar_s, close_utc, exit_at", [
    (5 * M, "17:30", 17 * H + 25 * M),  # QA's repro: decided 17:30 and filled on the 17:30-17:35 bar
    (H, "21:00", 20 * H),  # the shipped close on forex's hourly bars: no longer on the 21:00-22:00 bar
    (15 * M, "21:00", 20 * H + 45 * M),
])
def test_the_weekend_exit_fills_on_the_bar_that_starts_before_the_cutoff(
        tmp_path: Path, bar_s: float, close_utc: str, exit_at: float, skip_quiet: bool) -> None:
    first = FRI + 15 * H
    runner = _run(tmp_path, bar_s, first, int(8 * H / bar_s), 2, close_utc, skip_quiet=skip_quiet)
    [trade] = runner.trades
    assert trade.exit_reason == "weekend"
    [exit_] = [r for r in _rows(runner, "intent") if r.payload["role"] == "exit"]
    assert exit_.ts == FRI + exit_at  # the last close whose next bar reaches close - 2m
    cutoff = FRI + runner.risk.limits.sessions["forex"].friday_close_s - runner.risk.limits.friday_close_buffer
    assert exit_.ts < cutoff <= exit_.ts + bar_s
    assert trade.exit_ts == exit_.ts + bar_s  # filled on that next bar (stamped with its close)


def test_an_entry_whose_fill_bar_reaches_the_cutoff_is_refused_with_those_times(tmp_path: Path) -> None:
    runner = _run(tmp_path, 15 * M, FRI + 20 * H, 8, 3)  # the signal turns long at the 20:45 close
    assert runner.trades == [] and runner.rejections == {"session_hours": 1}
    [row] = _rows(runner, "signal_rejected")
    assert row.payload["rule"] == "session_hours" and row.ts == FRI + 20 * H + 45 * M
    assert row.payload["numbers"] == {"decided": "2024-01-05T20:45:00Z", "fill_bar_end": "2024-01-05T21:00:00Z",
                                      "cutoff": "2024-01-05T20:58:00Z", "fill_bar_s": 900.0, "buffer_s": 120.0}


def test_an_entry_a_bar_earlier_is_taken_and_closed_at_the_next_close(tmp_path: Path) -> None:
    runner = _run(tmp_path, 15 * M, FRI + 20 * H, 8, 2)  # long at the 20:30 close: fills 20:30-20:45
    [trade] = runner.trades
    assert (trade.entry_ts, trade.exit_ts, trade.exit_reason) == (FRI + 20 * H + 45 * M, FRI + 21 * H, "weekend")


@pytest.mark.parametrize("max_hold, held", [(90 * M, H), (2 * H, 2 * H)])
def test_max_hold_exits_before_the_next_bar_would_hold_past_it(tmp_path: Path, max_hold: float, held: float) -> None:
    """A 90m hold on hourly bars exits after one bar (it held two), and a whole number of bars as before."""
    runner = _run(tmp_path, H, TUE + 10 * H, 8, 2, max_hold=max_hold)
    trade = runner.trades[0]
    assert trade.exit_reason == "max_hold" and trade.exit_ts - trade.entry_ts == held


@pytest.mark.parametrize("n", [5, 8])  # 5: max_hold falls due on the series' last row, the end of a quiet stretch
def test_quiet_replay_sends_the_max_hold_exit_at_the_row_stepped_replay_does(tmp_path: Path, n: int) -> None:
    """Skipping quiet rows must not skip the row a hold falls due at (engine/run/quiet.py): a
    mutation that left the fill bar out of the screen's hold survived the suite, and quiet replay
    then held one bar past max_hold, or never exited at the end of the data."""
    exits = []
    for skip in (False, True):
        runner = _run(tmp_path / str(skip), H, TUE + 10 * H, n, 2, max_hold=2 * H, skip_quiet=skip)
        exits.append([r.ts for r in _rows(runner, "intent") if r.payload["role"] == "exit"])
    assert exits[0] and exits[1] == exits[0]


def test_an_entry_whose_fill_bar_ends_exactly_at_the_cutoff_is_refused_and_a_second_earlier_passes() -> None:
    """"Must end before close - buffer": the boundary itself is refused. With the shipped spec
    (21:00 close, 2m buffer) a 1m fill bar decided at 20:57:00 ends at 20:58:00, the cutoff."""
    from types import SimpleNamespace as NS

    from ruamel.yaml import YAML

    from engine.risk.config import RiskConfig
    from engine.risk.guards import session_hours

    spec = Path(__file__).resolve().parents[1] / "specs" / "risk" / "risk.yaml"
    lim = RiskConfig.model_validate(YAML(typ="safe").load(spec.read_text())).limits
    cutoff = FRI + lim.sessions["forex"].friday_close_s - lim.friday_close_buffer

    def decide(ts: float):
        return session_hours(NS(intent=NS(ts=ts, fill_s=M), domain="forex"), lim)

    at = decide(cutoff - M)
    assert at is not None and at.rule == "session_hours"
    assert at.numbers["fill_bar_end"] == at.numbers["cutoff"] == "2024-01-05T20:58:00Z"
    assert decide(cutoff - M - 1) is None


def _shipped_limits():
    from ruamel.yaml import YAML

    from engine.risk.config import RiskConfig

    spec = Path(__file__).resolve().parents[1] / "specs" / "risk" / "risk.yaml"
    return RiskConfig.model_validate(YAML(typ="safe").load(spec.read_text())).limits


def _session_guard(lim, ts: float, fill_s: float = M):
    from types import SimpleNamespace as NS

    from engine.risk.guards import session_hours

    return session_hours(NS(intent=NS(ts=ts, fill_s=fill_s), domain="forex"), lim)


@pytest.mark.parametrize("day, name", [(5, "Saturday"), (6, "Sunday")])
def test_an_entry_on_a_weekday_the_session_does_not_list_is_refused(day: int, name: str) -> None:
    """Forex lists Monday..Friday: a weekend entry is refused by its weekday, though no Friday
    cutoff covers it (mut7b S07: only weekdays 0-4 were checked)."""
    at = _session_guard(_shipped_limits(), FRI + (day - 4) * 86400 + 12 * H)
    assert at is not None and at.message == f"forex is closed on {name}" and at.numbers == {"weekday": day}


def test_the_session_s_weekday_is_the_utc_one_whatever_the_host_s_zone() -> None:
    """Sunday 23:00 UTC is Monday 13:00 on a host at UTC+14: still Sunday for the session (a replay
    decides the same on every machine; mut7b S03: the weekday in the host's local time)."""
    import os
    import time

    old = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"
    time.tzset()
    try:
        at = _session_guard(_shipped_limits(), FRI + 2 * 86400 + 23 * H)
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()
    assert at is not None and at.message == "forex is closed on Sunday"


def test_the_weekly_close_window_ends_with_friday() -> None:
    """Session.closing runs from the last bar close whose fill bar reaches the cutoff to the end
    of Friday: the last second of Friday is in it, Saturday 00:00 is not (mut7b S01: `<=`)."""
    lim = _shipped_limits()
    sat = FRI + 86400
    assert list(lim.near_weekly_close("forex", [sat - 1, sat, sat + 1], 0.0)) == [True, False, False]
