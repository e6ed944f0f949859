"""The rollout's `apply_stage` arguments are what the run uses (engine/run/session.py): its
`paper_wallet_usd` funds both the store's wallet (the book) and the paper venue's account of each
domain a stage activates, when it activates it; its exploration rates are those the decider
explores at from that activation on (the start, a promotion, a resume after one)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import run_support
from engine.domain import Domain
from run_support import ROOT, Checker, Scenario, build, write_env_override

SPOT = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=60, seed=1, partial_fill_prob=0.0,
                slippage_bps=0.0, max_hold_s=3600.0)
SPOT_2 = Scenario(stage=2, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=60, seed=1, partial_fill_prob=0.0,
                  slippage_bps=0.0, max_hold_s=3600.0)


@pytest.fixture
def edited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """edit(old, new, file=rollout): a copy of specs/ with `old` replaced, which run_support.build runs."""
    from engine.run.session import load_specset

    tree = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", tree)
    monkeypatch.setattr(run_support, "specset", lambda over: load_specset([str(tree), over]))

    def edit(old: str, new: str, file: str = "rollout/rollout.yaml") -> None:
        path = tree / file
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")
    return edit


def _wallets(ses) -> dict[Domain, tuple[float, float, float]]:
    """domain -> (store wallet's start balance, book balance, venue cash)."""
    cash = ses.venue.balances()
    start = {Domain(w.domain): w.start_balance for w in ses.store.wallets()}
    return {d: (start[d], b.balance, cash[d]) for d, b in ses.books.items()}


def _promote(runner, to: int) -> None:
    ses = runner.session
    phase = "candidate" if to == 2 else "canary"
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": phase})
    ses.store.post_command("promote", {"machine": "rollout", "event": "operator_confirmed", "reason": "operator",
                                       "expect_state": f"confirm_stage_{to}", "stage": to})
    runner.poll_commands()
    assert ses.rollout.state == f"stage_{to}"


def test_the_wallet_argument_funds_the_venue_as_it_funds_the_book(tmp_path: Path, edited) -> None:
    edited("paper_wallet_usd: params.paper_wallet_usd", "paper_wallet_usd: params.paper_wallet_usd * 200")
    runner = build(SPOT, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    [(start, book, venue)] = _wallets(ses).values()
    assert start == book == venue == pytest.approx(ses.currencies[Domain.CRYPTO_SPOT].from_usd(200_000))
    runner.run()
    assert not runner.session.store.journal_entries(kind="rejection") or all(
        "insufficient" not in r.reason for r in runner.session.store.journal_entries(kind="rejection"))


def test_a_promotion_funds_the_venue_accounts_it_opens_at_the_promoted_stage_wallet(tmp_path: Path) -> None:
    """Stage 3's override of paper_wallet_usd: the perp and forex accounts open at it, in the
    venue as in the books, when the promotion activates them (unfunded until then)."""
    folder = write_env_override(tmp_path / "ovr", wallet=1000.0)
    (folder / "stage_3.yaml").write_text("kind: overrides\nscope: stage\nkey: \"3\"\n"
                                         "values:\n  rollout:\n    paper_wallet_usd: 5000\n")
    runner = build(SPOT_2, tmp_path, folder, Checker())
    ses = runner.session
    assert ses.venue.balances()[Domain.CRYPTO_PERP] == 0.0, "not activated yet: not funded"
    runner.run(limit=10)
    _promote(runner, 3)
    wallets = _wallets(ses)
    for dom in (Domain.CRYPTO_PERP, Domain.FOREX):
        start, book, venue = wallets[dom]
        assert start == book == venue == pytest.approx(ses.currencies[dom].from_usd(5000)), dom
    runner.run(limit=20)
    assert ses.venue.balances()[Domain.CRYPTO_PERP] == ses.books[Domain.CRYPTO_PERP].balance


def test_a_venue_account_is_funded_once(tmp_path: Path) -> None:
    from adapters.base import VenueError
    from adapters.paper.venue import PaperVenue

    venue = PaperVenue.open(tmp_path / "v.db", _unfunded())
    venue.fund(Domain.FOREX, 250.0)
    with pytest.raises(VenueError, match="forex account is funded already"):
        venue.fund(Domain.FOREX, 250.0)
    with pytest.raises(VenueError, match="a finite amount >= 0"):
        venue.fund(Domain.CRYPTO_PERP, float("nan"))
    venue.ack()  # the engine checkpointed: a reopened venue answers live
    venue.close()
    again = PaperVenue.open(tmp_path / "v.db")
    assert again.balances()[Domain.FOREX] == 250.0
    with pytest.raises(VenueError, match="funded already"):
        again.fund(Domain.FOREX, 1.0)
    again.fund(Domain.CRYPTO_PERP, 3.0)
    again.close()


def test_a_fund_call_repeated_after_a_crash_is_answered_from_the_log(tmp_path: Path) -> None:
    """The engine resumes behind the venue and calls `fund` again: the venue answers it from its
    catch-up log (no second funding, no refusal), as it answers a repeated order."""
    from adapters.paper.venue import PaperVenue

    venue = PaperVenue.open(tmp_path / "v.db", _unfunded())
    at = venue.sync()
    venue.fund(Domain.FOREX, 250.0)
    venue._state.close()  # a crash: no ack, no close
    again = PaperVenue.open(tmp_path / "v.db", resume_at=at)
    assert again.catching_up
    again.fund(Domain.FOREX, 250.0)
    assert again.balances()[Domain.FOREX] == 250.0
    again.close()


def _unfunded():
    from adapters.paper.config import PaperConfig

    return PaperConfig(starting_balance={})


# -- exploration ------------------------------------------------------------------------------
@pytest.fixture
def exploring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs whose decider explores (as an ML run's: its filters with exploration, no models)."""
    import engine.run.assemble as assemble
    from engine.run.decide import Decider, EntryFilters
    from strategies.exploration import exploration_config

    def build_decider(cfg, specs, stage, series, store, notes, resume, config=None):
        return Decider(cfg.strategy, EntryFilters({}, exploration=exploration_config(specs, stage, cfg.env)),
                       seed=cfg.seed)
    monkeypatch.setattr(assemble, "build_decider", build_decider)


def _rates(runner) -> tuple[float, float]:
    x = runner.decider.filters.exploration
    return x.min_rate, x.chop_rate


def _stage_row(ses, state: str) -> dict:
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    return [e for e in ses.store.journal_entries("stage") if e.key == state][-1].payload


def test_the_exploration_arguments_are_the_rates_the_run_explores_at(tmp_path: Path, edited, exploring) -> None:
    edited("exploration_min: params.exploration_min", "exploration_min: 0.9")
    edited("exploration_max_chop: params.exploration_max_chop", "exploration_max_chop: 0.95")
    runner = build(SPOT, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    assert _rates(runner) == (0.9, 0.95)
    row = _stage_row(ses, "stage_1")
    assert (row["exploration_min"], row["exploration_max_chop"]) == (0.9, 0.95)


def test_a_promotion_explores_at_the_promoted_stage_rates_and_a_resume_keeps_them(
        tmp_path: Path, edited, exploring) -> None:
    from engine.run.assemble import assemble

    edited("  kill_modes:\n", "  rollout:\n    exploration_min: 0.2\n  kill_modes:\n", file="overrides/stage_2.yaml")
    runner = build(SPOT, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    assert _rates(runner) == (0.1, 0.25)
    runner.run(limit=5)
    _promote(runner, 2)
    assert _rates(runner) == (0.2, 0.25)
    row = _stage_row(ses, "stage_2")
    assert (row["exploration_min"], row["exploration_max_chop"]) == (0.2, 0.25)
    runner.run(limit=10)
    ses.store.close()
    again = assemble(ses.cfg, ses.specs, 1, ses.routing, tmp_path / "run", series=runner.series, resume=True)
    try:
        assert again.session.rollout.state == "stage_2" and _rates(again) == (0.2, 0.25)
    finally:
        again.session.store.close()


def test_an_exploration_argument_outside_0_to_1_stops_the_run(tmp_path: Path, edited, exploring) -> None:
    from engine.runtime import ActionError

    edited("exploration_min: params.exploration_min", "exploration_min: params.exploration_min * 20")
    with pytest.raises(ActionError, match="apply_stage") as e:
        build(SPOT, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    assert "`exploration_min` of `apply_stage` is 2.0" in str(e.value.__cause__)  # the catalogue's fraction


def test_an_exploration_argument_below_the_catalogue_floor_stops_the_run(tmp_path: Path, edited, exploring) -> None:
    """The catalogue's `min: 0.10` of apply_stage's exploration_min bounds the value the spec passes
    (an expression lint cannot prove, here 0.05), not only the parameter: the action fails, as for
    a rate outside 0..1, and no wallet is opened at a rate the seed forbids."""
    from engine.runtime import ActionError

    edited("exploration_min: params.exploration_min", "exploration_min: params.exploration_min * 0.5")
    with pytest.raises(ActionError, match="apply_stage") as e:
        build(SPOT, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    cause = str(e.value.__cause__)
    assert "`exploration_min` of `apply_stage` is 0.05" in cause and "from 0.1 to 1" in cause
    assert "catalogue.yaml:" in cause


def test_a_run_config_may_not_fund_the_venue_itself(tmp_path: Path) -> None:
    """The venue's accounts have one source, apply_stage: `venue.starting_balance` is refused at its line."""
    from engine.diagnostics import SpecError
    from engine.run.config import load_config

    config = tmp_path / "run.yaml"
    config.write_text("venue:\n  slippage_bps: 2\n  starting_balance: {forex: 5}\n", encoding="utf-8")
    with pytest.raises(SpecError) as e:
        load_config(config, strategy=False)
    [d] = e.value.diagnostics
    assert (d.code, d.pos.line) == ("CONFIG_VENUE", 3) and "paper_wallet_usd" in d.hint
