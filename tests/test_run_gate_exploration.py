"""The promotion gates' KPIs (Runner.gate_kpis) leave exploration trades out: neither their
closed trades' pnl nor the open P&L of those still running reaches the daily equity the
gates' Sharpe and drawdown are measured on (seed 001)."""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pytest

from engine.run.decide import EntryFilters
from run_support import ENV, Checker, Scenario, build, specset
from strategies.exploration import exploration_config


def _run(loose: Path, explore_every: int) -> tuple:
    """A flip-driven spot replay where every `explore_every`-th entry is tagged exploration."""
    sc = Scenario(1, ("crypto_spot/ETH_BTC-5m",), 0, 1200, 11, 0.0, 5.0, 36 * 3600.0, flip_every=20)
    with tempfile.TemporaryDirectory() as work:
        runner = build(sc, Path(work), loose, Checker())
        cfg = exploration_config(specset(str(loose)), sc.stage, ENV)
        runner.decider.filters = EntryFilters({}, exploration=cfg)
        decide, n = runner.decider.decide, [0]

        def tagged(s, i, t):
            w = decide(s, i, t)
            if w is None or not w.enter:
                return w
            n[0] += 1
            return dataclasses.replace(w, tags=(cfg.tag,)) if n[0] % explore_every == 0 else w

        runner.decider.decide = tagged
        try:
            runner.run()
            (d, book), = runner.session.books.items()
            return runner.gate_kpis[d], book, runner.trades
        finally:
            runner.session.store.close()


def test_a_run_of_exploration_trades_alone_leaves_the_gates_flat(loose: Path) -> None:
    gate, book, trades = _run(loose, explore_every=1)
    assert trades and all(t.exploration for t in trades)
    assert abs(book.equity / book.start_balance - 1) > 1e-4  # exploration moved the wallet...
    assert gate.trades == 0 and gate.days >= 5
    assert gate.last_equity == pytest.approx(book.start_balance, rel=1e-12)  # ...not what the gates read
    # Its daily returns are float noise (1e-16) where exploration moved the wallet by percent.
    assert gate.max_dd < 1e-12 and abs(gate.ret_sum) < 1e-12 and gate.ret_sq < 1e-24


def test_the_gates_see_exploitation_pnl(loose: Path) -> None:
    gate, book, trades = _run(loose, explore_every=2)
    exploit = [t for t in trades if not t.exploration]
    assert exploit and len(exploit) < len(trades) and gate.trades == len(exploit)
    assert gate.last_equity != pytest.approx(book.start_balance, rel=1e-9)
