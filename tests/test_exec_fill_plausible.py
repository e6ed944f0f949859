"""A venue fill the books cannot believe is a fault (the run goes close-only and says why).
Before, a fill reported at ten times its bar's price was booked as profit with no word (later
entries sized up from it, and the gates read its KPIs), and a NaN price, qty or fee went into
the wallet, where every loss guard compares false. Through the real order and bracket machines
on a scripted venue."""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from bracket_support import T0, AcceptingVenue, execution_on, filled, order_machines
from engine.domain import Bar, Domain, Side
from engine.risk.types import Intent
from engine.runtime import BoundMachine

STOP, TAKE_PROFIT = 95.0, 110.0
BAR = Bar("X", T0 + 1, 99.0, 101.0, 98.0, 100.0)


@pytest.fixture(scope="module")
def machines() -> dict[str, BoundMachine]:
    return order_machines()


def _entry(machines: dict[str, BoundMachine]) -> tuple[Any, Any, list]:
    venue, booked = AcceptingVenue(), []
    ex = execution_on(machines, venue)
    ex.on_fill = lambda d, f, m: booked.append(f)
    b = ex.open_bracket(Intent("X", Domain.FOREX, Side.BUY, venue.quote("X"), STOP, TAKE_PROFIT, T0, "s"), 10.0)
    return ex, b, booked


def _priced(report: Any, **figures: float) -> Any:
    return dataclasses.replace(report, fills=(dataclasses.replace(report.fills[0], **figures),))


def test_a_fill_inside_its_bar_is_booked_without_a_fault(machines) -> None:
    ex, b, booked = _entry(machines)
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 101.5, 1)], BAR)  # slippage past the high
    assert len(booked) == 1 and ex.faults == []


def test_a_fill_far_outside_its_bar_is_booked_and_is_a_fault(machines) -> None:
    ex, b, booked = _entry(machines)
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 1000.0, 1)], BAR)
    assert [f.price for f in booked] == [1000.0], "the venue's cash moved: the books follow it"
    (fault,) = ex.faults
    assert "implausible price" in fault and "[98, 101]" in fault and "fill_price_band" in fault
    assert "more than 10% outside" in fault


def test_a_narrow_band_is_told_as_written(machines) -> None:
    """rev23 F3c: a band of 0.0001 was told as "more than 0% outside" (rounded to a whole percent)."""
    ex, b, _ = _entry(machines)
    ex.fill_price_band = 0.0001
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 101.5, 1)], BAR)
    (fault,) = ex.faults
    assert "more than 0.01% outside the bar's range [98, 101]" in fault
    ex, b, _ = _entry(machines)
    ex.fill_price_band = 1e-07  # the risk spec's range is (0, 1]
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 101.5, 1)], BAR)
    assert "more than 0.00001% outside" in ex.faults[0]


def test_the_band_is_the_risk_specs(machines) -> None:
    ex, b, booked = _entry(machines)
    ex.fill_price_band = 0.5
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 140.0, 1)], BAR)
    assert len(booked) == 1 and ex.faults == []


def test_a_fill_reported_outside_a_bar_is_not_judged_by_price(machines) -> None:
    ex, b, booked = _entry(machines)
    ex.on_reports([filled(b.entry.id, Side.BUY, 10.0, 1000.0, 1)])  # a reconciliation's report
    assert len(booked) == 1 and ex.faults == []


@pytest.mark.parametrize("figures", [{"price": 0.0}, {"price": math.nan}, {"qty": math.nan}, {"qty": -10.0},
                                     {"fee": math.nan}, {"price": math.inf}])
def test_a_fill_that_cannot_be_booked_is_left_out_and_is_a_fault(machines, figures) -> None:
    ex, b, booked = _entry(machines)
    ex.on_reports([_priced(filled(b.entry.id, Side.BUY, 10.0, 100.0, 1), **figures)], BAR)
    assert booked == [], "a NaN would poison the wallet and every guard that compares it"
    (fault,) = ex.faults
    assert "not booked" in fault and b.entry.id in fault
    assert ex.is_live(b.entry), "the order waits for the venue's word on it"
