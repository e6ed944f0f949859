"""Every signal the strategy side refuses is journaled with its rule and the figures that
decided it (confirmation, allowlist, ML filter), as the risk chain's refusals are."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.domain import Bar, Domain
from engine.run.config import load_config
from engine.run.decide import Decider, EntryFilters, SymbolInputs
from engine.run.market import Series
from run_support import Checker, Scenario, build, write_env_override

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 86400 + 3 * 3600  # 03:00 UTC: the asian session


def _series(signal: list[float], confirm: list[float], symbol: str = "X",
            domain: Domain = Domain.CRYPTO_PERP) -> Series:
    n = len(signal)
    ones = np.ones(n)
    return Series(symbol, domain, T0 + 900.0 * np.arange(n), ones, ones, ones, ones, ones, None, None,
                  np.array(signal), np.array(confirm), ones, 0)


def test_a_confirmation_refusal_carries_both_timeframes_figures() -> None:
    use = load_config().strategy
    decider = Decider(use, timeframes={"crypto_perp": ("15m", "1h")})
    s = _series([-0.4, 0.7], [0.0, -1.0])  # the second bar turns long; the 1h bar fell
    decider.decide(s, 0, T0)  # the first bar only sets the direction
    want = decider.decide(s, 1, T0 + 900)
    assert want.refusal[0] == "confirmation"
    assert want.numbers == {"primary_tf": "15m", "signal": 0.7, "deadband": use.deadband, "direction": 1,
                            "confirm_tf": "1h", "confirm_direction": -1}


def test_allowlist_and_ml_refusals_carry_what_they_judged() -> None:
    from strategies.regime import load_allowlists

    s = _series([1.0, -1.0, 1.0, -1.0], [0.0] * 4)
    inp = SymbolInputs(np.full(4, "TREND_UP", dtype=object), {"X:1h:v1": np.full(4, 0.5)}, 0.6,
                       ("ml_filter", load_allowlists()["ml_filter"]))
    decider = Decider(load_config().strategy, EntryFilters({"X": inp}))
    decider.decide(s, 0, T0)
    allow = decider.decide(s, 1, T0)
    assert allow.refusal[0] == "allowlist"
    assert allow.numbers["sessions_open"] == ["asian"] and allow.numbers["sessions"] == ["eu", "us"]
    assert allow.numbers["regime"] == "TREND_UP" and allow.numbers["allowlist"] == "ml_filter"
    ml = decider.decide(s, 2, T0 + 8 * 3600)  # 11:00 UTC: past the allowlist, on to the model
    assert ml.refusal[0] == "ml_filter"
    assert ml.numbers == {"model": "X:1h:v1", "p_up": 0.5, "threshold": 0.6, "side": "BUY"}


def test_the_journal_row_of_a_refused_signal_has_its_numbers_and_side(tmp_path: Path) -> None:
    sc = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=50, seed=1,
                  partial_fill_prob=0.0, slippage_bps=0.0, max_hold_s=3600.0)
    runner = build(sc, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    s = _series([0.8, -0.9], [0.0, 1.0], symbol="ETH/BTC", domain=Domain.CRYPTO_SPOT)
    runner._decide(s, 0, T0)
    runner._decide(s, 1, T0 + 900)
    ses = runner.session
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    [row] = ses.store.journal_entries("signal_rejected")
    assert row.payload["rule"] == "confirmation" and row.payload["side"] == "sell"
    assert row.payload["numbers"]["confirm_direction"] == 1 and row.payload["numbers"]["direction"] == -1
    assert row.payload["numbers"]["primary_tf"] is not None  # the run config's timeframes, by domain


def _filtered_decider(prob: dict[str, np.ndarray], threshold: float = 0.6, explore_rate: float = 0.0) -> Decider:
    from strategies.ml.config import EnsembleConfig, ExplorationConfig

    inp = SymbolInputs(np.full(4, "TREND_UP", dtype=object), prob, threshold)
    exploration = ExplorationConfig(min_rate=explore_rate, chop_rate=explore_rate, chop_regimes=("RANGE",),
                                    tag="exploration")
    ensemble = EnsembleConfig(kind="ensemble", method="weighted", threshold=0.5, min_models=2)
    return Decider(load_config().strategy, EntryFilters({"X": inp}, exploration, ensemble))


def test_an_entry_the_model_approves_carries_its_probability_and_verdict() -> None:
    s = _series([-1.0, 1.0, 1.0, 1.0], [0.0] * 4)
    decider = _filtered_decider({"X:1h:v1": np.full(4, 0.7)})
    decider.decide(s, 0, T0)
    want = decider.decide(s, 1, T0)
    assert want.enter and want.numbers["direction"] == 1  # the signal's figures stay
    ml = want.numbers["ml_filter"]
    assert ml["model"] == "X:1h:v1" and ml["p_up"] == 0.7 and ml["threshold"] == 0.6 and ml["side"] == "BUY"
    assert "meets BUY threshold" in ml["verdict"] and "explored" not in want.numbers


def test_an_entry_an_ensemble_approves_carries_every_vote() -> None:
    s = _series([-1.0, 1.0, 1.0, 1.0], [0.0] * 4)
    decider = _filtered_decider({"X:5m:v1": np.full(4, 0.5369), "X:5m:v2": np.full(4, 0.4719)})
    decider.decide(s, 0, T0)
    want = decider.decide(s, 1, T0)
    assert want.enter and want.model_version == "X:5m:v1+X:5m:v2"
    ml = want.numbers["ml_filter"]
    assert ml["p_up"] == {"X:5m:v1": 0.5369, "X:5m:v2": 0.4719} and ml["vote"] == "BUY" and ml["side"] == "BUY"
    assert ml["score"] > 0.5 and ml["threshold"] == 0.5


def test_an_exploration_entry_says_the_draw_took_it_and_what_the_model_said() -> None:
    s = _series([-1.0, 1.0, 1.0, 1.0], [0.0] * 4)
    decider = _filtered_decider({"X:1h:v1": np.full(4, 0.2)}, explore_rate=1.0)
    decider.decide(s, 0, T0)
    want = decider.decide(s, 1, T0)
    assert want.enter and want.tags == ("exploration",) and want.numbers["explored"] is True
    assert want.numbers["ml_filter"]["p_up"] == 0.2 and "fails BUY threshold" in want.numbers["ml_filter"]["verdict"]


def test_a_rollout_refusal_carries_the_state_and_modes_it_read(tmp_path: Path) -> None:
    """rev29: a signal the rollout's state refused was journaled with its rule and side only: the
    state, the domain's mode there and its book's were in the reason's text alone."""
    sc = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=50, seed=1,
                  partial_fill_prob=0.0, slippage_bps=0.0, max_hold_s=3600.0)
    runner = build(sc, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    ses.modes["crypto_spot"] = "off"  # as a rollout state that turns the domain off leaves it
    ses._blocked = ses._blocks()
    ses.venue.on_bar(Bar("ETH/BTC", T0, 0.09, 0.09, 0.09, 0.09))  # a quote to price the entry from
    s = _series([-0.4, 0.7], [0.0, 1.0], symbol="ETH/BTC", domain=Domain.CRYPTO_SPOT)  # turns long, confirmed
    runner._decide(s, 0, T0)
    runner._decide(s, 1, T0 + 900)
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    [row] = ses.store.journal_entries("signal_rejected")
    assert row.payload["rule"] == "rollout" and row.reason == "rollout `stage_1` has crypto_spot off"
    assert row.payload["numbers"] == {"state": "stage_1", "domain": "crypto_spot", "mode": "off", "book": "paper"}
