"""The report's exploitation KPIs (`kpis`, `kpis_by_stage`, the store's KPI snapshots) leave
exploration out as the promotion gates do (seed 001): each equity point keeps the exploration
trades' share of it (the pnl of those closed, the value of those open) and `kpis` are measured
on the equity less it; `exploration_kpis` on the start balance plus it. A resumed run keeps the
shares through its checkpoint and reports as an uninterrupted one."""
from __future__ import annotations

import dataclasses
import math
import statistics
import tempfile
from pathlib import Path

import pytest

from engine.domain import Domain
from engine.run.decide import EntryFilters
from engine.run.kpi import split_kpis
from resume_support import FUNDED, Stopped, funded_run
from run_support import (ENV, Checker, Scenario, _flips, base_config, build, full_series, specset, window,
                         write_env_override)
from strategies.exploration import exploration_config
from strategies.selection import SECONDS_PER_YEAR

SPOT = Scenario(1, ("crypto_spot/ETH_BTC-5m",), 0, 1200, 11, 0.0, 5.0, 36 * 3600.0, flip_every=20)


def _tag(runner, stage: int, overrides: Path, explores) -> None:
    """Tag an entry exploration where `explores(bar time)` says so: a rule of the bar, so a
    resumed run tags the entries the stopped one would have."""
    cfg = exploration_config(specset(str(overrides)), stage, ENV)
    runner.decider.filters = EntryFilters({}, exploration=cfg)
    decide = runner.decider.decide

    def tagged(s, i, t):
        w = decide(s, i, t)
        return dataclasses.replace(w, tags=(cfg.tag,)) if w is not None and w.enter and explores(t) else w

    runner.decider.decide = tagged


def _spot_run(loose: Path, explores) -> tuple:
    """SPOT replayed with the entries `explores` picks tagged exploration: (split KPIs, the
    stored KPI snapshot, the curve, the trades, the book, the bars' closes by time)."""
    with tempfile.TemporaryDirectory() as work:
        runner = build(SPOT, Path(work), loose, Checker())
        _tag(runner, SPOT.stage, loose, explores)
        try:
            runner.run()
            runner.result(0.0)  # stores the KPI snapshots
            (d, book), = runner.session.books.items()
            [snap] = runner.session.store.kpis(domain=d)
            closes = dict(zip(runner.series[0].ts.tolist(), runner.series[0].close.tolist()))
            curve = runner.equity[d.value]
            return (split_kpis(runner.trades, curve, book.start_balance), snap, curve, runner.trades, book, closes,
                    [b for b in runner.session.execution.brackets.values() if b.entry_fills])
        finally:
            runner.session.store.close()


def test_a_run_of_exploration_alone_has_flat_exploitation_kpis(loose: Path) -> None:
    split, snap, curve, trades, book, _, _ = _spot_run(loose, lambda t: True)
    assert trades and all(t.exploration for t in trades)
    assert abs(book.equity / book.start_balance - 1) > 1e-4  # exploration moved the wallet...
    exploit, explore = split["exploitation"], split["exploration"]
    assert (exploit.trades, exploit.total_return, exploit.max_dd, exploit.sharpe, exploit.sortino) == (
        0, 0.0, 0.0, None, None)  # ...not the exploitation figures
    assert (snap.trades, snap.max_dd, snap.sharpe, snap.sortino) == (0, 0.0, None, None)  # nor the stored ones
    assert explore.trades == len(trades)
    assert explore.total_return == pytest.approx(book.equity / book.start_balance - 1, rel=1e-9)
    assert explore.max_dd > 1e-4 and explore.sharpe is not None


def _even_day(t: float) -> bool:
    return int(t // 86400) % 2 == 0


def test_a_mixed_runs_kpis_are_its_equity_less_the_exploration_share(loose: Path) -> None:
    split, snap, curve, trades, book, closes, still_open = _spot_run(loose, _even_day)
    exploit_trades = [t for t in trades if not t.exploration]
    explore_trades = [t for t in trades if t.exploration]
    assert exploit_trades and explore_trades
    shares = curve.shares()
    assert shares is not None and len(shares) == len(curve)
    # Each point's share, by hand: the closed exploration pnl, plus each open exploration
    # position at the bar's close less at most its fees.
    opened = 0
    for (t, _), x in zip(curve, shares):
        if any(b.entry_fills[0].ts <= t for b in still_open if b.tags):
            continue
        closed = sum(tr.pnl for tr in explore_trades if tr.exit_ts <= t)
        live = [tr for tr in explore_trades if tr.entry_ts <= t < tr.exit_ts]
        moved = sum((1 if tr.side == "buy" else -1) * tr.qty * (closes[t] - tr.entry_price) for tr in live)
        assert abs(x - closed - moved) <= sum(tr.fees for tr in live) + 1e-12, t
        opened += bool(live) and abs(x - closed) > 1e-12
    assert opened, "exploration must be open at some points with a value, or this proves nothing"
    # The exploitation KPIs by hand, on the equity less the share.
    start = book.start_balance
    ys = [e - x for (_, e), x in zip(curve, shares)]
    rets = [b / a - 1 for a, b in zip(ys, ys[1:])]
    per_year = (len(curve) - 1) * SECONDS_PER_YEAR / (curve[-1][0] - curve[0][0])
    peak, dd = -math.inf, 0.0
    for y in ys:
        peak = max(peak, y)
        dd = max(dd, 1 - y / peak)
    k = split["exploitation"]
    assert k.trades == len(exploit_trades)
    assert k.win_rate == sum(t.pnl > 0 for t in exploit_trades) / len(exploit_trades)
    assert k.expectancy == pytest.approx(statistics.mean(t.pnl for t in exploit_trades))
    assert k.total_return == pytest.approx(ys[-1] / start - 1, rel=1e-9, abs=1e-15)
    assert k.max_dd == pytest.approx(dd, rel=1e-9)
    assert k.sharpe == pytest.approx(statistics.mean(rets) / statistics.stdev(rets) * math.sqrt(per_year), rel=1e-6)
    assert (snap.sharpe, snap.max_dd, snap.trades) == (k.sharpe, k.max_dd, k.trades)  # the stored snapshot
    # Exploration on the start balance plus the share: the two curves' moves add up to the book's.
    x = split["exploration"]
    assert x.total_return == pytest.approx(shares[-1] / start, rel=1e-9)
    assert k.total_return + x.total_return == pytest.approx(curve[-1][1] / start - 1, rel=1e-9)


@pytest.fixture(scope="module")
def overrides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_env_override(tmp_path_factory.mktemp("specs"), wallet=1_000_000.0)


def _funded(work: Path, overrides: Path, resume: bool = False):
    runner = funded_run(work, overrides, "batch", resume=resume)
    _tag(runner, FUNDED.stage, overrides, _even_day)
    return runner


def _report(runner) -> dict:
    """What the report and the store's snapshots measure, as the resumed run would write them."""
    try:
        runner.run()
        runner.result(0.0)
        d = Domain.CRYPTO_PERP  # (the stage's other books see no bar)
        curve, book = runner.equity[d.value], runner.session.books[d]
        split = {k: v.as_dict() for k, v in split_kpis(runner.trades, curve, book.start_balance).items()}
        snaps = [(s.stage, s.trades, s.sharpe, s.sortino, s.max_dd) for s in runner.session.store.kpis(domain=d)]
        return {"split": split, "snapshots": snaps, "shares": list(curve.shares() or ())}
    finally:
        runner.session.store.close()
        runner.session.venue.close()


def test_a_resumed_run_reports_the_kpis_of_an_uninterrupted_one(overrides: Path, tmp_path: Path) -> None:
    clean, stopped = tmp_path / "clean", tmp_path / "stopped"
    want = _report(_funded(clean, overrides))
    assert want["split"]["exploration"]["trades"] and want["split"]["exploitation"]["trades"]
    first = _funded(stopped, overrides)
    step = first.step

    def crashing_step(s, i) -> None:
        if first.bars >= 137:  # 37 rows past the second checkpoint
            raise Stopped
        step(s, i)

    first.step = crashing_step
    with pytest.raises(Stopped):
        first.run()
    assert any(first.equity[d].shares() for d in first.equity), "shares must precede the stop, or this proves nothing"
    first.session.store.close()
    first.session.venue.close()
    assert _report(_funded(stopped, overrides, resume=True)) == want


# Two series side by side, each cut to 600 bars, the second's times moved onto the first's (plus
# `lag` seconds), with seeded random targets that flip often and exploration on even days.
TWO_DOMAINS = (3, "crypto_spot/ETH_BTC-5m", "crypto_perp/BTC-PERP-1m", 0.0)  # the bundled sets do not overlap
# Two spot pairs of one domain, the second half a bar later: every row of one comes between two of
# the other's, so a quiet stretch begins with rows before the other pair's first bar in it.
TWO_PAIRS = (1, "crypto_spot/ETH_BTC-5m", "crypto_spot/LTC_BTC-5m", 150.0)


def _side_by_side(work: Path, loose: Path, case: tuple):
    from engine.run.assemble import assemble
    from engine.run.optin import route

    stage, first, second, lag = case
    specs = specset(str(loose))
    cfg = base_config().model_copy(update={"db": str(work / "engine.db"), "env": ENV, "seed": 5,
                                           "checkpoint_every": 50})
    routing = route(stage, dict(specs.machines["rollout"].states[f"stage_{stage}"].attrs["domains"]),
                    config_enabled=False, live_flag=False, paper_flag=True)
    atr = specs.extra["risk"].brackets.atr_window
    a, b = (window(full_series(ds, atr), 0, 600) for ds in (first, second))
    b = dataclasses.replace(b, ts=b.ts - (b.ts[b.start] - a.ts[a.start]) + lag)
    series = [dataclasses.replace(s, signal=_flips(len(s), 15, n)) for n, s in enumerate((a, b))]
    runner = assemble(cfg, specs, stage, routing, work / "run", series=series)
    _tag(runner, stage, loose, _even_day)
    return runner


def _curves(loose: Path, case: tuple, skip: bool) -> dict:
    """The equity curves and journaled points of a `_side_by_side` replay, and the rows it skipped."""
    with tempfile.TemporaryDirectory() as work:
        runner = _side_by_side(Path(work), loose, case)
        runner.skip_quiet = skip
        skipped, skip_rows = [], runner.skip

        def counted(k: int, end: int) -> int:
            skipped.append(end - k)
            return skip_rows(k, end)

        runner.skip = counted
        try:
            runner.run()
            journal = [e.payload for e in runner.session.store.journal_entries("equity")]
            return {"equity": runner.equity, "journal": journal, "skipped": sum(skipped)}
        finally:
            runner.session.store.close()


def test_quiet_stretches_record_the_shares_stepping_would(loose: Path) -> None:
    """A quiet stretch values the open exploration positions at each row's mark, as a step does."""
    fast, slow = _curves(loose, TWO_DOMAINS, skip=True), _curves(loose, TWO_DOMAINS, skip=False)
    assert len(slow["equity"]) == 2 and all(c.shares() for c in slow["equity"].values()), "both must explore"
    assert fast["skipped"]
    assert (fast["equity"], fast["journal"]) == (slow["equity"], slow["journal"])


def test_a_quiet_stretch_values_a_pair_before_its_first_bar_in_it_at_the_earlier_mark(loose: Path) -> None:
    """Applying a stretch moves the marks to its last row before its points are recorded; a
    row before a pair's first bar in the stretch must still see that pair's earlier mark."""
    fast, slow = _curves(loose, TWO_PAIRS, skip=True), _curves(loose, TWO_PAIRS, skip=False)
    assert fast["skipped"] and slow["equity"]["crypto_spot"].shares(), "it must skip rows and explore"
    assert fast["equity"] == slow["equity"]
    assert fast["journal"] == slow["journal"]
