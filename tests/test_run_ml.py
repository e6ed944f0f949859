"""`engine run` with the ML filter, the allowlist, exploration and the active set, end to end.

A model is trained with `engine train ml` into a temporary registry once per
module; runs are stage-1 replays of bundled ETH/BTC through `assemble`, with a
fast strategy so that a short replay makes many decisions.
"""
from __future__ import annotations

import csv
import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.domain import Domain
from engine.run.assemble import assemble
from engine.run.config import load_config
from engine.run.decide import Decider, EntryFilters, SymbolInputs
from engine.run.market import Series, Timeline
from engine.run.optin import Routing
from engine.run.report import write_run_dir
from engine.run.session import load_specset
from engine.spec.ir import SpecSet, frozen_map

ROOT = Path(__file__).resolve().parents[1]
SYMBOL, MODEL = "ETH/BTC", "ETH/BTC:5m:v1"
STRATEGY = """kind: strategy
name: fast
version: 1
strategies:
  - id: fast
    class: EmaVolStrategy
    weight: 1.0
    params: {fast_ema_window: 3, slow_ema_multiplier: 3, vol_window: 48, decay_span: 48, fit_decay: false}
"""
FILTER = ("kind: ml\nmodel: {n_estimators: 20}\n"
          "walkforward: {train: 4w, test: 1w, min_folds: 3, min_train_samples: 200}\n")


def _middle() -> str:
    """The first bar the runs trade (fit_fraction 0.5): models are trained on the bars before it,
    as a run judges no bar its model learnt from (ml.in_sample: refuse)."""
    from engine.data import bundled

    bars = bundled.load("crypto_spot/ETH_BTC-5m")
    return bars.index[len(bars) // 2].isoformat()


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Path:
    """`engine train ml` on the first half of bundled ETH/BTC 5m into a temporary registry (v1, active)."""
    work = tmp_path_factory.mktemp("registry")
    (work / "filter.yaml").write_text(FILTER)
    assert main(["train", "ml", "--symbol", SYMBOL, "--tf", "5m", "--registry", str(work / "reg"),
                 "--spec", str(work / "filter.yaml"), "--until", _middle()]) == 0
    return work / "reg"


def train_on_every_bar(tmp_path_factory) -> Path:
    """ETH/BTC 5m trained on every bar a run replays (v1, active): in sample for all of them."""
    work = tmp_path_factory.mktemp("full")
    (work / "filter.yaml").write_text(FILTER)
    assert main(["train", "ml", "--symbol", SYMBOL, "--tf", "5m", "--registry", str(work / "reg"),
                 "--spec", str(work / "filter.yaml")]) == 0
    return work / "reg"


def run_config(work: Path, registry: Path, **ml) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    (work / "fast.yaml").write_text(STRATEGY)
    ml = {"registry": str(registry), **ml}
    (work / "run.yaml").write_text(json.dumps({
        "db": str(work / "engine.db"), "durability": "batch", "checkpoint_every": 100000,
        "data": {"crypto_spot": {"datasets": ["crypto_spot/ETH_BTC-5m"], "primary": "15m", "confirm": "5m"}},
        "strategy": {"file": str(work / "fast.yaml"), "use": ["fast"], "fit_fraction": 0.5, "deadband": 0.0},
        "ml": ml}))
    return work / "run.yaml"


ROUTING = Routing({"crypto_spot": "paper", "crypto_perp": "off", "forex": "off", "forex_options": "off"}, (), ())


def spec_set(work: Path, tree: Path = ROOT / "specs") -> SpecSet:
    """The spec set at `tree`, its selection spec's fallback_file `work`/active.json: no active set
    unless a test writes one there (never a developer's var/active_symbols.json)."""
    specs = load_specset([str(tree)])
    sel = specs.extra["selection"].model_copy(update={"fallback_file": str(work / "active.json")})
    return replace(specs, extra=frozen_map({**specs.extra, "selection": sel}))


def make_runner(work: Path, registry: Path, *, series: list | None = None, **ml):
    path = run_config(work, registry, **ml)
    return assemble(load_config(path), spec_set(work), 1, ROUTING, work / "run", series=series, config=str(path))


def rejected(runner) -> list[tuple[str, str, str]]:
    return [(e.key, e.payload["rule"], e.reason) for e in runner.session.store.journal_entries("signal_rejected")]


def finish(runner) -> dict:
    runner.run()
    write_run_dir(runner.result(0.0))
    return json.loads((runner.session.run_dir / "report.json").read_text())


def test_trained_model_decides_and_is_recorded(tmp_path, registry):
    runner = make_runner(tmp_path, registry)
    assert any(MODEL in note for note in runner.session.notes)
    report = finish(runner)
    with open(tmp_path / "run" / "trades.csv") as f:
        trades = list(csv.DictReader(f))
    assert trades and {t["model_version"] for t in trades} == {MODEL}
    refusals = [r for r in rejected(runner) if r[1] == "ml_filter"]
    assert refusals and all(MODEL in why and "p_up" in why and "threshold" in why for _, _, why in refusals)
    assert report["rejections"]["ml_filter"] == len(refusals)
    assert report["trade_count"] == len(trades)


def test_report_json_names_the_model_versions(tmp_path, registry):
    report = finish(make_runner(tmp_path, registry))
    assert MODEL in json.dumps(report)


def test_no_model_means_no_filter_and_says_so(tmp_path):
    runner = make_runner(tmp_path, tmp_path / "empty-registry")
    assert runner.decider.filters is None
    assert any("ML filter off" in n and "no active model" in n for n in runner.session.notes)
    finish(runner)
    assert all(t.model_version is None for t in runner.trades)


def test_enabled_true_without_model_refuses_to_start(tmp_path):
    with pytest.raises(FileNotFoundError, match="no active model for ETH/BTC"):
        make_runner(tmp_path, tmp_path / "empty-registry", enabled=True)


def test_pinned_version_that_does_not_exist_refuses_to_start(tmp_path, registry):
    with pytest.raises(FileNotFoundError, match="v7 is not registered"):
        make_runner(tmp_path, registry, symbols={SYMBOL: [{"tf": "5m", "version": 7}]})


@pytest.mark.parametrize("pins, says", [
    ([{"tf": "5m", "version": 1}, {"tf": "5m", "version": 1}], "pins model ETH/BTC:5m:v1 twice"),
    ([{"version": 1}, {}], "pins model ETH/BTC:5m:v1 twice"),  # the active version, pinned by number too
    ([{"tf": "1h"}], "pins the active 1h model of ETH/BTC, and"),
])
def test_a_pin_that_would_not_filter_as_written_refuses_to_start(tmp_path, registry, pins, says):
    """One model pinned twice was judged as an ensemble of one at 0.5, not at its threshold; a pin
    whose timeframe has no model was dropped, and the symbol traded unfiltered."""
    from engine.diagnostics import SpecError

    with pytest.raises(SpecError) as e:
        make_runner(tmp_path, registry, symbols={SYMBOL: pins})
    [d] = e.value.diagnostics
    assert d.code == "CONFIG_ML" and says in d.message and d.pos.file.endswith("run.yaml")


def test_allowlist_refusals_are_recorded_with_the_reason(tmp_path, registry):
    runner = make_runner(tmp_path, registry)
    report = finish(runner)
    reasons = [why for _, rule, why in rejected(runner) if rule == "allowlist"]
    assert reasons and report["rejections"]["allowlist"] == len(reasons)
    assert all(why.startswith("ml_filter: ") for why in reasons)
    assert any("session:" in why for why in reasons) and any("regime:" in why for why in reasons)


def test_allowlist_refuses_outside_its_sessions():
    from strategies.regime import load_allowlists

    s, inp = _series(4, "TREND_UP")
    inp.allowlist = ("ml_filter", load_allowlists()["ml_filter"])
    decider = Decider(load_config().strategy, EntryFilters({"X": inp}))
    asian = 1_700_000_000.0 - 1_700_000_000.0 % 86400 + 3 * 3600  # 03:00 UTC
    decider.decide(s, 0, asian)  # the first bar may only set the direction
    want = decider.decide(s, 1, asian)
    assert not want.enter and want.refusal == ("allowlist", "ml_filter: session: asian not in allowlist ['eu', 'us']")
    assert decider.decide(s, 1, asian + 8 * 3600).refusal[0] == "ml_filter"  # 11:00: on to the model


def test_two_models_vote_as_an_ensemble(tmp_path, registry):
    reg = tmp_path / "reg"
    shutil.copytree(registry, reg)
    (tmp_path / "other.yaml").write_text(FILTER.replace("n_estimators: 20", "n_estimators: 10, seed: 3"))
    assert main(["train", "ml", "--symbol", SYMBOL, "--tf", "5m", "--registry", str(reg),
                 "--spec", str(tmp_path / "other.yaml"), "--until", _middle()]) == 0
    runner = make_runner(tmp_path, reg, symbols={SYMBOL: [{"version": 1}, {"version": 2}]})
    runner.run()
    assert {t.model_version for t in runner.trades} <= {f"{MODEL}+{SYMBOL}:5m:v2"}
    assert any("ensemble" in why for _, rule, why in rejected(runner) if rule == "ml_filter")


# -- exploration ------------------------------------------------------------------------------
def test_exploration_trades_are_tagged_and_measured_apart(tmp_path, registry):
    runner = make_runner(tmp_path, registry)
    cfg = runner.decider.filters.exploration
    assert (cfg.min_rate, cfg.chop_rate) == (0.10, 0.25)  # the rollout stage's exploration_min / _max_chop
    runner.decider.filters.exploration = cfg.model_copy(update={"min_rate": 0.3, "chop_rate": 0.3})
    report = finish(runner)
    explo = [t for t in runner.trades if t.exploration]
    exploit = [t for t in runner.trades if not t.exploration]
    assert explo and exploit
    assert all(t.model_version == MODEL for t in explo)
    dom = report["domains"]["crypto_spot"]
    assert dom["exploration_kpis"]["trades"] == len(explo)
    assert dom["kpis"]["trades"] == len(exploit)
    with open(tmp_path / "run" / "trades.csv") as f:
        assert sum(row["exploration"] == "True" for row in csv.DictReader(f)) == len(explo)


def _series(n: int, regime: str) -> tuple[Series, SymbolInputs]:
    """Alternating long/short signals on perps: every other bar arms a fresh entry."""
    ts = 1_700_000_000.0 + 900.0 * np.arange(n)
    ones = np.ones(n)
    signal = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    s = Series("X", Domain.CRYPTO_PERP, ts, ones, ones, ones, ones, ones, None, None, signal, np.zeros(n), ones, 0)
    return s, SymbolInputs(np.full(n, regime, dtype=object), {"X:1h:v1": np.full(n, 0.5)}, 0.6)


@pytest.mark.parametrize("regime, rate", [("TREND_UP", 0.10), ("RANGE", 0.25)])
def test_exploration_rate_is_the_stage_rate_and_chop_rate(regime, rate):
    from strategies.ml.config import ExplorationConfig

    n = 8000
    s, inp = _series(n, regime)
    cfg = ExplorationConfig(min_rate=0.10, chop_rate=0.25, chop_regimes=("RANGE",), tag="exploration")
    decider = Decider(load_config().strategy, EntryFilters({"X": inp}, cfg), seed=11)
    wants = [decider.decide(s, i, float(s.ts[i])) for i in range(n)][1:]  # the first bar may only set the direction
    taken = [w for w in wants if w.enter]
    assert all(w.tags == ("exploration",) for w in taken)  # p = 0.5 never passes 0.6: only exploration enters
    assert all(w.refusal[0] == "ml_filter" for w in wants if not w.enter)
    share = len(taken) / len(wants)
    assert abs(share - rate) < 4 * math.sqrt(rate * (1 - rate) / len(wants))


def test_exploration_draws_resume_from_the_checkpoint():
    from strategies.ml.config import ExplorationConfig

    s, inp = _series(400, "RANGE")
    cfg = ExplorationConfig(min_rate=0.10, chop_rate=0.25, chop_regimes=("RANGE",), tag="exploration")

    def fresh() -> Decider:
        return Decider(load_config().strategy, EntryFilters({"X": inp}, cfg), seed=5)

    whole = fresh()
    expected = [whole.decide(s, i, 0.0) for i in range(400)]
    first = fresh()
    got = [first.decide(s, i, 0.0) for i in range(150)]
    resumed = fresh()
    resumed.load(json.loads(json.dumps(first.state())))
    got += [resumed.decide(s, i, 0.0) for i in range(150, 400)]
    assert got == expected


# -- the active set ----------------------------------------------------------------------------
def test_active_set_refuses_entries_in_the_risk_chain(tmp_path, registry):
    (tmp_path / "active.json").write_text(json.dumps({"symbols": ["LTC/BTC"], "generated_at": "2026-01-01"}))
    runner = make_runner(tmp_path, registry)
    assert runner.active_symbols == frozenset({"LTC/BTC"})
    assert runner.session.store.get_json("active_symbols")["symbols"] == ["LTC/BTC"]  # a resume sees it
    report = finish(runner)
    assert report["trade_count"] == 0 and report["rejections"]["active_symbol"] > 0
    assert all("not in the active top-K set" in why for _, rule, why in rejected(runner) if rule == "active_symbol")


def test_deselected_symbol_keeps_its_open_position_managed(tmp_path, registry):
    runner = make_runner(tmp_path, registry)
    ex = runner.session.execution
    for s, i in Timeline(runner.series):  # bar by bar, as Runner.run does, until a position is open
        runner.step(s, i)
        runner.bars += 1
        if ex.open_brackets(SYMBOL):
            break
    assert ex.open_brackets(SYMBOL), "the replay never opened a position"
    runner.active_symbols = frozenset()  # deselected while the position is open
    opened = set(ex.brackets)
    runner.run()
    assert runner.trades and not ex.open_brackets(SYMBOL)  # it was exited, not orphaned
    assert set(ex.brackets) <= opened
    assert runner.rejections.get("active_symbol", 0) > 0
