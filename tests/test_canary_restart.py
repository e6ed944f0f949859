"""Seed 001, stage 2: "Live trade Crypto with real wallet ... Canary sizing for first 50 trades or
7 days". A domain the rollout turns live starts its canary again (risk spec
`sizing.canary.restart_on_live`). Its paper book used to carry stage 1's trades and days into
stage 2, so the live leg's first trades were full size: the candidate gate needs 100 trades, more
than the canary's 50, so a promoted domain had always spent its canary on paper."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from engine.domain import Domain
from engine.risk.sizing import Sizer
from engine.run.book import DomainBook
from engine.run.checkpoint import book_data, book_from
from run_support import Checker, Notes, Scenario, build, write_env_override
from test_risk_chain import config  # noqa: F401  (the shipped risk spec's fixture)

SPOT = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m", "crypto_spot/LTC_BTC-5m", "crypto_spot/ADA_BTC-5m"),
                offset=0, bars=100000, seed=1, partial_fill_prob=0.0, slippage_bps=0.0, max_hold_s=3600.0,
                flip_every=2)


def _sized(ses) -> list:
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    return ses.store.journal_entries("sized")


def _checked(runner, checker: Checker):
    """The Runner with the checker's end-of-step checks after each step, as run_support.drive runs it."""
    step = runner.step

    def watched_step(s, i) -> None:
        step(s, i)
        checker.end_of_step()

    runner.step = watched_step
    return runner


def _past_the_canary_then_promoted(tmp_path: Path, restart: bool = True):
    checker = Checker()
    runner = _checked(build(SPOT, tmp_path, write_env_override(tmp_path / "ovr", wallet=100000.0), checker), checker)
    ses = runner.session
    if not restart:
        risk = ses.specs.extra["risk"]
        canary = risk.sizing.canary.model_copy(update={"restart_on_live": False})
        sizing = risk.sizing.model_copy(update={"canary": canary})
        risk = risk.model_copy(update={"sizing": sizing})
        ses.specs = dataclasses.replace(ses.specs, extra={**ses.specs.extra, "risk": risk})
    book = ses.books[Domain.CRYPTO_SPOT]
    while book.trades < 50 or ses.clock.now() - book.activated_ts < 7 * 86400:
        assert runner.bars < len(runner.timeline), "the data ran out before the canary was over"
        runner.run(progress=Notes(), limit=runner.bars + 50)
    assert _sized(ses)[-1].payload["factors"]["canary"] == 0.0, "stage 1 was past its canary"
    before = len(_sized(ses))
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "candidate"})
    ses.store.post_command("promote", {"machine": "rollout", "event": "operator_confirmed", "reason": "operator",
                                       "expect_state": "confirm_stage_2", "stage": 2})
    runner.poll_commands()
    assert ses.rollout.state == "stage_2" and ses.domains_of("stage_2")["crypto_spot"] == "live"
    trades_then = book.trades
    runner.run(progress=Notes(), limit=runner.bars + 300)
    assert not checker.violations, checker.violations
    return ses, book, trades_then, _sized(ses)[before:]


def test_a_domain_turned_live_trades_its_canary_again(tmp_path: Path) -> None:
    ses, book, trades_then, live = _past_the_canary_then_promoted(tmp_path)
    assert ses.books[Domain.CRYPTO_SPOT] is book, "--paper keeps the paper book"
    assert len(live) >= 5
    assert all(r.payload["factors"]["canary"] == 1.0 and r.payload["factors"]["size_pct"] == 0.02 for r in live[:5])
    rows = ses.store.journal_entries("canary")
    assert [(r.key, r.payload) for r in rows] == [("crypto_spot", {"from_trades": trades_then, "state": "stage_2"})]
    assert "turns live" in rows[0].reason
    view = book.risk_view(ses.clock.now(), 1.0, 7 * 86400)
    assert view.trades_closed == book.trades and view.canary_trades == book.trades - trades_then  # Kelly: all


def test_the_restart_is_the_risk_specs_to_turn_off(tmp_path: Path) -> None:
    ses, _, _, live = _past_the_canary_then_promoted(tmp_path, restart=False)
    assert live and all(r.payload["factors"]["canary"] == 0.0 for r in live)
    assert ses.store.journal_entries("canary") == []


def test_a_restarted_canary_survives_a_resume() -> None:
    book = DomainBook(Domain.CRYPTO_SPOT, "paper", 1000.0, 1000.0, 0.0, 1000.0, 1000.0)
    book.canary_from = 37  # not the default, so a checkpoint that dropped it would show
    assert book_from(book_data(book)).canary_from == 37


def test_a_restarted_canary_counts_its_own_trades_and_days(config) -> None:
    """Both halves of "first 50 trades or 7 days" count from the restart; Kelly keeps every trade."""
    sizer, week = Sizer(config.sizing), 7 * 86400.0
    book = DomainBook(Domain.CRYPTO_SPOT, "paper", 1000.0, 1000.0, 0.0, 1000.0, 1000.0)
    for i in range(60):
        book.trade_closed(float(i), 1.0, week)
    now = 10 * 86400.0
    assert not sizer.in_canary(book.risk_view(now, 1.0, week)), "past its first canary"
    assert book.restart_canary(now) and not book.restart_canary(now), "a fresh canary has nothing to redo"
    later = now + 8 * 86400.0
    assert sizer.in_canary(book.risk_view(later, 1.0, week)), "8 days on, but none of its 50 trades"
    for _ in range(50):
        book.trade_closed(later, 1.0, week)
    assert not sizer.in_canary(book.risk_view(later, 1.0, week))
    assert sizer.in_canary(book.risk_view(now + 6 * 86400.0, 1.0, week)), "50 trades, but not 7 days"
    assert book.risk_view(later, 1.0, week).trades_closed == 110


def test_exploration_trades_do_not_end_the_canary(config) -> None:
    """rev25: 50 exploration trades ended a stage-2 canary in which the model had closed none of
    its own; every later entry was sized at the base 5%. The gate's canary_trades counts
    exploitation trades only, and so does the sizing canary now; Kelly keeps every trade."""
    sizer, week = Sizer(config.sizing), 7 * 86400.0
    book = DomainBook(Domain.CRYPTO_SPOT, "paper", 1000.0, 1000.0, 0.0, 1000.0, 1000.0)
    for i in range(60):
        book.trade_closed(float(i), 1.0, week, exploration=True)
    later = 8 * 86400.0
    view = book.risk_view(later, 1.0, week)
    assert sizer.in_canary(view) and (view.canary_trades, view.trades_closed) == (0, 60)
    for _ in range(50):
        book.trade_closed(later, 1.0, week)
    assert not sizer.in_canary(book.risk_view(later, 1.0, week))
    restored = book_from(book_data(book))
    assert (restored.exploited, restored.trades) == (50, 110)


def test_a_checkpoint_from_before_the_count_reads_every_trade_as_the_canary_s() -> None:
    data = book_data(DomainBook(Domain.CRYPTO_SPOT, "paper", 1000.0, 1000.0, 0.0, 1000.0, 1000.0))
    data.pop("exploited")
    assert book_from({**data, "trades": 12, "canary_from": 12}).exploited == 12
