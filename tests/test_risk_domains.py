"""Each domain is its own wallet (seed 001) with its own FTMO-style limits (seed 000): the kill
switch reads the worst domain's daily loss and drawdown in that domain's own currency, a
domain's canary days start at its first bar, its peak follows every marked bar, and each
approved entry journals what its size came from."""
from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.domain import Domain
from engine.risk.config import RiskConfig
from engine.risk.sizing import Sizer
from engine.run.book import DomainBook
from engine.run.loop import Runner
from run_support import Checker, Scenario, build
from test_risk_chain import book
from test_risk_config import spec_data

SPOT, PERP = "crypto_spot/ETH_BTC-5m", "crypto_perp/BTC-PERP-1m"
HOUR = 3600.0


def replay(sc: Scenario, overrides: Path, canary_trades: int | None = None, skip: bool = True) -> dict:
    """Run a scenario; what the tests read of it, and every book the risk chain was shown."""
    with tempfile.TemporaryDirectory() as work:
        runner = build(sc, Path(work), overrides, Checker())
        runner.skip_quiet = skip
        if canary_trades is not None:  # days alone end the canary, as in QA's repro
            sizing = runner.risk.sizing
            canary = sizing.canary.model_copy(update={"trades": canary_trades})
            runner.risk = runner.risk.model_copy(update={"sizing": sizing.model_copy(update={"canary": canary})})
            runner.chain = type(runner.chain)(runner.risk)
        views = []
        evaluate = runner.chain.evaluate

        def watched(intent, view, *args, **kwargs):
            views.append((intent.ts, view))
            return evaluate(intent, view, *args, **kwargs)

        runner.chain.evaluate = watched
        ses = runner.session
        try:
            runner.run()
            return {"kill": ses.kill_events, "trades": runner.trades, "views": views, "equity": runner.equity,
                    "books": dict(ses.books), "series": runner.series,
                    "journal": [(e.kind, e.key, e.payload, e.reason) for e in ses.store.journal_entries()]}
        finally:
            ses.store.close()


# -- 1: the kill switch reads the worst domain, in its own currency ------------------------
def test_one_wallet_s_loss_is_not_diluted_by_the_others() -> None:
    """A BTC-quoted spot wallet 6% down on the day beside two flat USD wallets: the kill spec
    hears 6%, not a sum of BTC and USD that barely moved."""
    spot = DomainBook(Domain.CRYPTO_SPOT, "paper", 0.05, 0.047, 0.0, 0.05, 0.05)
    usd = [DomainBook(d, "paper", 1000.0, 1000.0, 0.0, 1000.0, 1000.0) for d in (Domain.CRYPTO_PERP, Domain.FOREX)]
    stub = SimpleNamespace(session=SimpleNamespace(books={b.domain: b for b in (spot, *usd)}))
    pnl = Runner.pnl_inputs(stub)["pnl"]
    assert pnl["daily_loss"] == pytest.approx(0.06) and pnl["drawdown"] == pytest.approx(0.06)


@pytest.mark.parametrize(("reads", "detail"), [
    ({"pnl.drawdown": 0.0108, "params.max_drawdown": 0.009}, " in forex (1.0800%)"),
    ({"pnl.daily_loss": 0.0049, "params.daily_loss_limit": 0.0035}, " in crypto_spot (0.4900%)"),
    ({"pnl.daily_loss": 0.0049, "pnl.drawdown": 0.0108}, " in forex (drawdown 1.0800%), in crypto_spot (daily_loss 0.4900%)"),
    ({"ctx.positions_kept": True}, ""),
])
def test_a_kill_reason_carries_the_measure_its_guard_read(reads: dict, detail: str) -> None:
    """rev25: the figure was chosen by the spec's `tripped_by` being "max_drawdown"; a spec that
    names the trip otherwise got the day's loss for a drawdown trip. The guard's reads say which."""
    fx = DomainBook(Domain.FOREX, "paper", 1000.0, 1000.0, 0.0, 1000.0 / (1 - 0.0108), 1000.0 / (1 - 0.0020))
    spot = DomainBook(Domain.CRYPTO_SPOT, "paper", 1000.0, 1000.0, 0.0, 1000.0, 1000.0 / (1 - 0.0049))
    stub = SimpleNamespace(session=SimpleNamespace(books={b.domain: b for b in (fx, spot)}))
    assert Runner._worst_domain(stub, reads) == detail


def test_the_same_spot_trades_trip_the_same_limits_at_stage_1_and_stage_3(tight: Path) -> None:
    """QA's repro: stage 3 adds perp and forex wallets (here without data) to stage 1's spot
    trades; the spot wallet's daily loss and drawdown trip the kill switch just the same, and the
    kill event names the domain."""
    one, three = (replay(Scenario(stage, (SPOT,), 0, 300, 7, 0.0, 0.0, 12 * HOUR, size_pct=0.15, flip_every=40),
                         tight) for stage in (1, 3))
    assert [t.as_dict() | {"stage": 0} for t in one["trades"]] == [t.as_dict() | {"stage": 0} for t in three["trades"]]
    assert three["kill"] == one["kill"]
    trips = [e for e in one["kill"] if e["event"] == "risk_update"]
    assert {e["reason"].split(" (")[0] for e in trips} == {"daily_loss in crypto_spot", "max_drawdown in crypto_spot"}


# -- 2: Kelly without wins -------------------------------------------------------------------
@pytest.mark.parametrize("payoff", [None, 0.5, 2.0])
def test_kelly_without_a_win_shrinks_to_the_floor(payoff: float | None) -> None:
    sizer = Sizer(RiskConfig.model_validate(spec_data()).sizing)
    assert sizer.kelly(book(trades_closed=40, win_rate=0.0, payoff_ratio=payoff), 0.005) == sizer.kelly_floor


def test_kelly_without_a_loss_is_the_win_rate() -> None:
    """No payoff ratio for want of losses: Kelly is w (the limit as the ratio grows), not 1.0 by default."""
    sizer = Sizer(RiskConfig.model_validate(spec_data()).sizing)
    # (breakeven trades are neither wins nor losses)
    assert sizer.kelly(book(trades_closed=40, win_rate=0.008, payoff_ratio=None), 0.005) == pytest.approx(0.8)
    assert sizer.kelly(book(trades_closed=40, win_rate=1.0, payoff_ratio=None), 0.005) == 1.0


# -- 3: a domain's canary starts at its first bar --------------------------------------------
def test_a_domain_whose_data_starts_later_starts_its_canary_then(loose: Path) -> None:
    """Stage 3 activates spot (data from 2018) and perps (from 2022) at the run's start; the perp
    wallet's 7 canary days count from its own first bar, so its first entries are canary-sized."""
    out = replay(Scenario(3, (SPOT, PERP), 0, 300, 7, 0.0, 0.0, 12 * HOUR, flip_every=40), loose, canary_trades=0)
    first = {s.domain: float(s.ts[s.start]) for s in out["series"]}
    assert first[Domain.CRYPTO_PERP] - first[Domain.CRYPTO_SPOT] > 365 * 86400
    assert out["books"][Domain.CRYPTO_PERP].activated_ts == first[Domain.CRYPTO_PERP]
    assert out["books"][Domain.CRYPTO_SPOT].activated_ts == first[Domain.CRYPTO_SPOT]
    perp = [p for kind, key, p, _ in out["journal"] if kind == "sized" and p["symbol"].endswith("PERP")]
    assert perp and all(p["factors"]["canary"] == 1.0 and p["factors"]["size_pct"] == 0.02 for p in perp)


# -- 4: the drawdown-recovery peak follows every marked bar ----------------------------------
@pytest.mark.parametrize("skip", [True, False])
def test_the_sizer_sees_the_highest_equity_marked_so_far(loose: Path, skip: bool) -> None:
    """Drawdown recovery reads the peak: one raised only at entry decisions missed the equity
    highs marked between them (here most entries' peaks were stale)."""
    out = replay(Scenario(1, (SPOT,), 300, 300, 7, 0.0, 0.0, 12 * HOUR, size_pct=0.15, flip_every=12), loose,
                 skip=skip)
    (b,) = out["books"].values()
    curve = out["equity"][b.domain.value]
    assert len(out["views"]) > 3
    for t, view in out["views"]:
        marked = max([b.start_balance, view.equity, *(e for ts, e in curve if ts < t)])
        assert view.peak_equity >= marked, (t, view.peak_equity, marked)


# -- 5: approved entries journal their size's factors ----------------------------------------
def test_every_entry_journals_what_its_size_came_from(loose: Path) -> None:
    out = replay(Scenario(1, (SPOT,), 0, 300, 7, 0.0, 0.0, 12 * HOUR, size_pct=0.15, flip_every=12), loose)
    intents = {key: p for kind, key, p, _ in out["journal"] if kind == "intent" and p["role"] == "entry"}
    sized = {p["order"]: (key, p, reason) for kind, key, p, reason in out["journal"] if kind == "sized"}
    assert intents and set(sized) == set(intents)
    for order, (key, p, reason) in sized.items():
        assert reason == "approved" and key.split(":")[1] == p["symbol"] == intents[order]["symbol"]
        assert p["qty"] == intents[order]["qty"] and p["side"] == intents[order]["side"]
        assert set(p["factors"]) == {"canary", "size_pct", "ladder", "recovery", "kelly", "risk_cap"}
        loss = p["loss_at_stop"]  # risk_at_stop by cause: the stop distance, then the venue's costs
        assert loss["stop"] == pytest.approx(p["qty"] * abs(p["entry"] - p["stop"]))
        assert p["risk_at_stop"] == loss["total"] == pytest.approx(sum(v for k, v in loss.items() if k != "total"))
        assert loss["fees"] > 0 and loss["spread"] > 0 and loss["total"] <= p["factors"]["risk_cap"] + 1e-9
        # Why it was entered, as a refusal's row says why not (the audit had only `approved`).
        assert p["signal"]["direction"] == (1 if p["side"] == "buy" else -1)
        assert abs(p["signal"]["signal"]) > p["signal"]["deadband"]


def test_every_exit_the_engine_decides_journals_why(loose: Path) -> None:
    """A reversal's exit, a max-hold exit: the bracket spec's `exit` transition names no reason, so
    the audit said only "close the position at market"; the reason came with the trade row, once
    the exit filled."""
    out = replay(Scenario(1, (SPOT,), 0, 1000, 7, 0.0, 0.0, 1 * HOUR, size_pct=0.15, flip_every=4), loose)
    exits = [(key, reason) for kind, key, p, reason in out["journal"] if kind == "exit"]
    assert {reason for _, reason in exits} == {"signal", "max_hold"}
    sized = {key for kind, key, p, _ in out["journal"] if kind == "sized"}
    assert {key for key, _ in exits} <= sized, "keyed by the bracket its entry opened"


def test_an_entry_without_a_usable_atr_is_a_recorded_refusal(loose: Path, monkeypatch) -> None:
    """No ATR, no stop: the entry was dropped without a row, so 13 trades became 0 unexplained."""
    import numpy as np

    with tempfile.TemporaryDirectory() as work:
        runner = build(Scenario(1, (SPOT,), 0, 300, 7, 0.0, 0.0, 12 * HOUR, size_pct=0.15, flip_every=12),
                       Path(work), loose, Checker())
        for s in runner.series:  # a flat series' ATR; put back after (other tests share the loaded series)
            monkeypatch.setattr(s, "atr", np.zeros(len(s.atr)))
        try:
            runner.run()
            rows = [(e.payload, e.reason) for e in runner.session.store.journal_entries()
                    if e.kind == "signal_rejected" and e.payload["rule"] == "atr"]
        finally:
            runner.session.store.close()
    assert rows and runner.rejections["atr"] == len(rows) and not runner.trades
    p, reason = rows[0]
    assert p["numbers"] == {"atr": 0.0} and reason.startswith("the ATR is 0: ")
