"""Equity points kept as columns read exactly as the (ts, equity) pairs the KPIs and the report take."""
from __future__ import annotations

from hypothesis import given, strategies as st

from engine.run.equity import EquityCurve, PointLog
from engine.run.kpi import kpis

finite = st.floats(-1e9, 1e9, allow_nan=False)
points = st.lists(st.tuples(finite, finite), max_size=30)


@given(points)
def test_a_curve_reads_as_its_pairs(pairs: list[tuple[float, float]]) -> None:
    curve = EquityCurve()
    for t, e in pairs[:3]:
        curve.append(t, e)
    curve.extend([t for t, _ in pairs[3:]], [e for _, e in pairs[3:]])
    assert list(curve) == pairs and len(curve) == len(pairs) and bool(curve) == bool(pairs)
    assert [curve[i] for i in range(len(pairs))] == pairs and curve[1:-1] == pairs[1:-1]
    if pairs:
        assert curve[-1] == pairs[-1]


def test_kpis_of_a_curve_equal_kpis_of_its_pairs() -> None:
    pairs = [(0.0, 1000.0), (86400.0, 1010.0), (172800.0, 995.0), (259200.0, 1020.0)]
    curve = EquityCurve([t for t, _ in pairs], [e for _, e in pairs])
    assert kpis([], curve, 1000.0) == kpis([], pairs, 1000.0)


def test_the_log_keeps_domains_interleaved_in_recorded_order() -> None:
    log = PointLog()
    log.append("forex", 1.0, 10.0)
    log.extend("crypto_spot", [2.0, 3.0], [20.0, 30.0])
    log.append("forex", 4.0, 11.0)
    assert log.payload() == {"points": [("forex", 1.0, 10.0), ("crypto_spot", 2.0, 20.0), ("crypto_spot", 3.0, 30.0),
                                        ("forex", 4.0, 11.0)]}  # no share was not 0.0: no `explored`
    log.clear()
    assert log.payload() == {"points": []}
