"""The promotion gates' Sharpe (RunningKpis) and the report's (kpis) are one rule: annualised by
the closes' real sampling rate (kpi.sampling_rate), not by 365 a year. A forex venue closes at
weekends, so its daily closes come about 313 times a year (QA: sqrt(365) overstated a forex
gate Sharpe by ~9%, so its gates were easier than the report said); on the same closes the
gate's figure is the report's, on a forex calendar and on a 24/7 crypto one alike."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from engine.run.kpi import RunningKpis, kpis, periods_per_year, sampling_rate

DAY = 86400.0
SUNDAY = 3  # 1970-01-01 was a Thursday: day 3 of the epoch is a Sunday


def crypto_closes(n: int) -> list[float]:
    """A 24/7 venue: the day rolls at every midnight."""
    return [d * DAY for d in range(n)]


def forex_closes(n: int) -> list[float]:
    """A venue open from Sunday 22:00 to Friday 22:00 UTC: a day's close is taken at the next
    day's first bar, midnight Tuesday to Friday and Monday, and Sunday 22:00 for Friday's;
    no Saturday."""
    times: list[float] = []
    d = SUNDAY
    while len(times) < n:
        weekday = (d - SUNDAY) % 7  # 0: Sunday
        if weekday == 0:
            times.append(d * DAY + 22 * 3600.0)
        elif weekday != 6:
            times.append(d * DAY)
        d += 1
    return times


def _curve(times: list[float], seed: int) -> list[tuple[float, float]]:
    r = np.random.default_rng(seed).normal(0.0004, 0.008, len(times) - 1)
    return list(zip(times, (1000.0 * np.cumprod(np.concatenate(([1.0], 1.0 + r)))).tolist()))


def _gate(curve: list[tuple[float, float]]) -> RunningKpis:
    k = RunningKpis()
    for t, e in curve:
        k.day(t, e)
    return k


@pytest.mark.parametrize("calendar", [forex_closes, crypto_closes])
def test_the_gate_sharpe_is_the_reports_on_the_same_closes(calendar) -> None:
    curve = _curve(calendar(125), seed=7)
    report = kpis([], curve, 1000.0).sharpe
    assert report is not None
    assert _gate(curve).sharpe == pytest.approx(report, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("rate, n", [(0.01, 5), (0.02, 10), (-0.003, 40), (1e-5, 200)])
def test_equal_returns_have_no_sharpe_rather_than_one_of_rounding(rate: float, n: int) -> None:
    """A curve moving by the same fraction every day has no spread of returns: its sample
    deviation is rounding (~1e-18), which made a report Sharpe of ~1e15 while the gate read 0."""
    curve = [(t, 1000.0 * (1.0 + rate) ** i) for i, t in enumerate(crypto_closes(n))]
    assert kpis([], curve, 1000.0).sharpe is None
    assert _gate(curve).sharpe == 0.0


def test_forex_closes_are_annualised_by_the_days_the_venue_trades() -> None:
    """~313 closes a year, not 365: the gate's Sharpe is its per-close Sharpe × √313."""
    curve = _curve(forex_closes(125), seed=7)
    k = _gate(curve)
    per_year = periods_per_year(curve)
    assert per_year == sampling_rate(124, curve[-1][0] - curve[0][0])
    assert 300 < per_year < 320
    r = np.diff([e for _, e in curve]) / [e for _, e in curve[:-1]]
    assert k.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * per_year ** 0.5, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 400), forex=st.booleans(),
       skip=st.integers(0, 5))
def test_a_phase_restarted_at_a_close_measures_what_the_report_does_from_it(seed, n, forex, skip) -> None:
    """A restart at a close (RunningKpis.restart, as _update_gates does) starts the span there:
    the phase's Sharpe is the report's on the closes from that one on."""
    curve = _curve((forex_closes if forex else crypto_closes)(n + skip), seed)
    k = _gate(curve[:skip + 1])
    k.restart("model_promotion:canary", k.close())
    for t, e in curve[skip + 1:]:
        k.day(t, e)
    assert k.sharpe == pytest.approx(kpis([], curve[skip:], 1000.0).sharpe or 0.0, rel=1e-9, abs=1e-12)
