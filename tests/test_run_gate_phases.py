"""Each model gate measures its current phase alone (specs/gates/model_promotion.yaml, input
`kpi`: paper trades in paper, shadow trades in shadow, live trades in canary and live): the
KPIs the loop sends (Runner.gate_kpis) restart whenever the gate's state changes, so a canary
counts no paper trade and a degraded model's drawdown starts again; a resumed run restarts
them exactly where an uninterrupted one does."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.domain import Domain
from engine.run.kpi import RunningKpis
from run_support import ENV, Scenario, _flips, base_config, full_series, specset, window, write_env_override

SPOT = Domain.CRYPTO_SPOT
# A candidate gate any 3 paper trades pass and a shadow run of an hour, so a short replay
# reaches awaiting_confirmation; the canary never has its trades, so it stays until degraded.
QUICK = {"model_promotion": {"min_trades": 3, "min_sharpe": -1e9, "max_dd": 1.0, "min_win_rate": 0.0,
                             "shadow_period": "1h", "canary_trades": 1000}}
SC = Scenario(1, ("crypto_spot/ETH_BTC-5m",), 0, 2400, 11, 0.0, 5.0, 36 * 3600.0, flip_every=20)
CONFIRM, DEGRADE = 462, 700  # the bars (runner.bars) the operator answers at (_COMMANDS)


def _confirm() -> tuple[str, dict]:
    return "confirm_canary", {"machine": "model_promotion", "instance": "gate:crypto_spot",
                              "event": "operator_confirmed", "expect_state": "awaiting_confirmation", "reason": "test"}


def _degrade() -> tuple[str, dict]:
    return "degrade", {"machine": "model_promotion", "instance": "gate:crypto_spot",
                       "event": "degrade_to_paper", "reason": "test"}


_COMMANDS = {CONFIRM: ("awaiting_confirmation", _confirm()), DEGRADE: ("canary", _degrade())}


def _assembled(work: Path, overrides: Path, resume: bool = False):
    """SC as `engine run --stage 1 --paper` runs it, on a store and venue under `work`."""
    from engine.run.assemble import assemble
    from engine.run.optin import route

    specs = specset(str(overrides))
    cfg = base_config().model_copy(update={"db": str(work / "engine.db"), "env": ENV, "seed": SC.seed,
                                           "checkpoint_every": 50})
    modes = dict(specs.machines["rollout"].states["stage_1"].attrs["domains"])
    routing = route(1, modes, config_enabled=False, live_flag=False, paper_flag=True)
    [name] = SC.datasets
    s = window(full_series(name, specs.extra["risk"].brackets.atr_window), SC.offset, SC.bars)
    s = dataclasses.replace(s, signal=_flips(len(s), SC.flip_every, SC.seed))
    return assemble(cfg, specs, 1, routing, work / "run", series=[s], venue_path=work / "paper-venue.db",
                    resume=resume)


@dataclass
class Heard:
    """Per kpi_update the gate heard: (bar, state before, state after, the `kpi` sent, the
    exploitation trades closed since the gate entered the state it was in)."""
    updates: list = field(default_factory=list)
    answered: list = field(default_factory=list)  # (gate state, trades closed) per operator answer
    entered: int = 0  # exploitation trades closed when the gate last changed state
    decisions: list = field(default_factory=list)  # the session's gate decisions (report.json gate_decisions)
    closes: list = field(default_factory=list)  # per kpi_update, the domain's equity at that day roll
    start: float = 0.0  # the domain wallet's start balance


def _closed(runner) -> int:
    return sum(not t.exploration for t in runner.trades)


def _drive(runner, heard: Heard, limit: int | None = None) -> dict:
    """Run (to `limit`), answering as _COMMANDS says; returns the gate KPIs' state at the end."""
    ses = runner.session
    send, step = ses.send, runner.step

    def tap(inst, event, payload=None, inputs=None, cause=""):
        before = inst.state
        records = send(inst, event, payload, inputs, cause)
        if inst is ses.gates.get(SPOT):
            if event == "kpi_update":
                heard.updates.append((runner.bars, before, inst.state, inputs["kpi"], _closed(runner) - heard.entered))
                book = ses.books[SPOT]
                heard.closes.append(book.day_start_equity - runner._explored(SPOT, book))
                heard.start = book.start_balance
            if inst.state != before:
                heard.entered = _closed(runner)
        return records

    def stepped(s, i) -> None:
        want = _COMMANDS.get(runner.bars)
        if want is not None:
            state, (name, args) = want
            assert ses.gates[SPOT].state == state, f"bar {runner.bars}: the replay no longer reaches `{state}` here"
            ses.store.post_command(name, args)
            runner.poll_commands()
            heard.answered.append((ses.gates[SPOT].state, _closed(runner)))
        step(s, i)

    ses.send, runner.step = tap, stepped
    runner.skip_quiet = False  # the operator answers at given bars: step every one
    try:
        runner.run(limit=limit)
        return runner.gate_kpis[SPOT].state()
    finally:
        heard.decisions = list(ses.gate_decisions)
        ses.store.close()
        ses.venue.close()


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_env_override(tmp_path_factory.mktemp("quick"), wallet=1_000_000.0, values=QUICK)


@pytest.fixture(scope="module")
def straight(quick: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Heard, dict]:
    work, heard = tmp_path_factory.mktemp("straight"), Heard()
    return heard, _drive(_assembled(work, quick), heard)


def test_each_kpi_update_counts_the_trades_of_the_gates_current_phase_alone(straight) -> None:
    heard, _ = straight
    states = [u[1] for u in heard.updates]
    assert {"paper", "shadow", "canary"} <= set(states), states
    # Passed twice: before the canary, and again on 3 new paper trades after its degrade.
    candidates = [u for u in heard.updates if (u[1], u[2]) == ("paper", "shadow")]
    assert len(candidates) == 2 and all(u[3]["trades"] >= 3 for u in candidates)
    assert [u[3]["trades"] for u in heard.updates] == [u[4] for u in heard.updates]


def test_every_gate_decision_is_recorded_for_the_report(straight) -> None:
    """Seed 001: gate decisions are recorded. Each candidate pass that moved the gate (twice in
    this replay) is one of the run's gate_decisions (report.json), with its domain and phase."""
    heard, _ = straight
    passes = [(d["domain"], d["phase"], d["passed"]) for d in heard.decisions if d["passed"]]
    assert passes.count(("crypto_spot", "candidate", True)) == 2, heard.decisions
    assert all(isinstance(d["ts"], float) and d["state"] for d in heard.decisions)


def test_the_phase_a_domain_opens_in_is_measured_from_the_wallet_s_start_balance(straight) -> None:
    """The first phase's curve starts at the start balance, not at the first daily close: the
    first day's trades move its drawdown and Sharpe as they count in its trades and win rate."""
    heard, _ = straight
    (_, before, _, first, _), (_, again, _, second, _) = heard.updates[:2]
    assert before == again == "paper"  # no restart between them
    e1, e2 = heard.closes[:2]
    assert first["max_dd"] == pytest.approx(max(0.0, 1.0 - e1 / heard.start), abs=1e-12)
    assert second["max_dd"] == pytest.approx(max(0.0, 1.0 - e1 / heard.start, 1.0 - e2 / max(heard.start, e1)),
                                              abs=1e-12)
    returns = (e1 / heard.start - 1.0, e2 / e1 - 1.0)  # two daily returns: a Sharpe from the second close on
    assert second["sharpe"] != 0.0 and (second["sharpe"] > 0) == (sum(returns) > 0), (heard.start, e1, e2)


def test_a_canary_counts_no_paper_trade(straight) -> None:
    """The candidate passed on its paper trades; at canary entry none of them counts, and the
    canary's first update counts only what closed since the operator confirmed it."""
    heard, _ = straight
    state, closed = heard.answered[0]
    assert state == "canary" and closed >= 3
    first = next(u for u in heard.updates if u[1] == "canary")
    assert first[3]["trades"] == first[4] == 0  # none closed before its first day roll


def test_a_degraded_models_drawdown_starts_again(straight) -> None:
    heard, _ = straight
    state, _ = heard.answered[1]
    assert state == "paper"
    canary = [u for u in heard.updates if u[1] == "canary"]
    after = next(u for u in heard.updates if u[0] > DEGRADE)
    # The canary's record (a trade; its days made money, so no drawdown) is not the paper phase's:
    # test_a_restart_keeps_nothing_but_the_equity_it_starts_from drives a drawdown through a restart.
    assert after[1] == "paper" and any(u[3]["trades"] for u in canary)
    assert after[3]["max_dd"] == 0.0 and after[3]["sharpe"] == 0.0  # one daily close since the degrade


def test_a_resumed_run_restarts_each_phase_where_an_uninterrupted_one_does(straight, quick: Path,
                                                                           tmp_path: Path) -> None:
    """Stopped just after each operator answer (the gate moved, its KPIs not yet restarted) and
    within a phase (its KPIs must go on, not restart: the checkpoint holds the phase they
    measure), then resumed, the run sends the gate the same KPIs."""
    heard, end = straight
    again = Heard()
    for n, limit in enumerate((CONFIRM + 1, 600, DEGRADE + 1, 800, None)):
        got = _drive(_assembled(tmp_path, quick, resume=n > 0), again, limit)
    assert [u[:4] for u in again.updates] == [u[:4] for u in heard.updates]
    assert again.answered == heard.answered and got == end


def test_a_restart_keeps_nothing_but_the_equity_it_starts_from() -> None:
    k = RunningKpis()
    for day, eq in enumerate((100.0, 80.0, 90.0)):
        k.day(day * 86400.0, eq)
    k.trade(5.0)
    assert k.max_dd == pytest.approx(0.2) and k.trades == 1
    k.restart("model_promotion:canary", k.close())
    assert (k.trades, k.days, k.max_dd, k.sharpe, k.phase) == (0, 0, 0.0, 0.0, "model_promotion:canary")
    assert (k.first_ts, k.intervals) == (2 * 86400.0, 0)  # its span starts at that close
    k.day(3 * 86400.0, 81.0)
    assert k.days == 1 and k.max_dd == pytest.approx(0.1)  # from the phase's own start, not the run's peak
    assert RunningKpis.restored(k.state()) == k  # what a checkpoint saves restores it, phase included


def test_an_opening_balance_is_the_first_point_and_a_checkpoint_keeps_it_until_then() -> None:
    k = RunningKpis()
    k.restart("model_promotion:paper", None)
    k.opening = 100.0  # as Runner._gate_kpis sets it for the phase a domain opens in
    k = RunningKpis.restored(k.state())  # a run stopped before its first daily close
    k.day(86400.0, 90.0, 0.0)
    assert (k.first_ts, k.days, k.intervals, k.opening) == (0.0, 1, 1, None)
    assert k.max_dd == pytest.approx(0.1)
    k.day(2 * 86400.0, 99.0, 86400.0)  # a later day's start adds no point
    assert (k.first_ts, k.days, k.max_dd) == (0.0, 2, pytest.approx(0.1))
    k.opening = 100.0
    k.restart("model_promotion:canary", None)  # a phase entered between day rolls has no opening figure
    assert k.opening is None


def test_a_checkpoint_without_the_closes_times_measures_its_phase_again() -> None:
    """A checkpoint from before the gate kept its closes' times has no span to annualise its
    Sharpe by: the phase is measured again (as one from before phases were kept), never
    annualised by a guessed rate."""
    k = RunningKpis()
    for day, eq in enumerate((100.0, 80.0, 90.0)):
        k.day(day * 86400.0, eq)
    old = {f: v for f, v in k.state().items() if f not in ("first_ts", "last_ts", "intervals")}
    assert RunningKpis.restored(old).phase is None  # _gate_kpis restarts a phase it does not know


def test_the_shadow_baseline_is_flat() -> None:
    """No second model runs beside the candidate, so the baseline the shadow gate compares with is
    holding cash: Sharpe 0 (the spec's input says so)."""
    assert RunningKpis().inputs()["kpi"]["baseline_sharpe"] == 0.0


def test_a_model_that_goes_live_keeps_its_canarys_live_record(tmp_path: Path, monkeypatch) -> None:
    """The second review: restarting at canary -> live left the live gate an empty record (Sharpe 0,
    win rate 0) at its first update, so every model that went live was degraded the next day. The
    spec's `measures` makes canary and live one measurement, the live trades."""
    values = {"model_promotion": {**QUICK["model_promotion"], "canary_trades": 3, "canary_period": "1h",
                                  "live_max_dd": 1.0}}
    monkeypatch.delitem(_COMMANDS, DEGRADE)  # the operator confirms the canary and never degrades it
    (tmp_path / "q").mkdir()
    heard = Heard()
    _drive(_assembled(tmp_path / "w", write_env_override(tmp_path / "q", wallet=1_000_000.0, values=values)), heard)
    went_live = [u for u in heard.updates if (u[1], u[2]) == ("canary", "live")]
    assert went_live, "the canary passes its live gates in this replay"
    first_live = next(u for u in heard.updates if u[1] == "live")
    assert first_live[3]["trades"] >= went_live[0][3]["trades"] >= 3  # the canary's trades still count
    assert first_live[2] == "live", first_live
