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


share = st.sampled_from([0.0, 0.0, -5.0, 2.5])  # mostly 0.0: a run's first exploration share comes late
batches = st.lists(st.one_of(st.tuples(st.just("append"), st.lists(share, min_size=1, max_size=1)),
                             st.tuples(st.just("extend"), st.lists(share, max_size=4))), max_size=8)


@given(batches)
def test_each_points_exploration_share_stays_with_its_point(steps) -> None:
    """Seed 001: exploration trades are measured apart (engine/run/kpi.py split_kpis takes each
    point's share off it). However points arrive, one at a time or in runs, the share column lines
    up with the points: all 0.0 reads as no column, else one share per point."""
    curve, log, shares = EquityCurve(), PointLog(), []
    for how, xs in steps:
        ts = [float(len(shares) + i) for i in range(len(xs))]
        if how == "append":
            curve.append(ts[0], 1000.0, xs[0])
            log.append("crypto_spot", ts[0], 1000.0, xs[0])
        else:
            curve.extend(ts, [1000.0] * len(xs), xs)
            log.extend("crypto_spot", ts, [1000.0] * len(xs), xs)
        shares += xs
    got = curve.shares()
    assert (list(got) if got is not None else None) == (shares if any(shares) else None)
    assert log.payload().get("explored") == (shares if any(shares) else None)
