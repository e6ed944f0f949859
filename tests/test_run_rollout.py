"""The rollout's state governs a running replay (engine/run/session.py): its `domains` decide
which domains take new entries, a promotion never opens a live leg without the opt-in, and a
promoted stage's parameter overrides apply."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.domain import Domain
from engine.run.optin import Misused, route
from run_support import Checker, Notes, Scenario, build, write_env_override

PERPS = Scenario(stage=3, datasets=("crypto_perp/BTC-PERP-1m",), offset=0, bars=400, seed=3, partial_fill_prob=0.0,
                 slippage_bps=0.0, max_hold_s=1e9, flip_every=8)
TWO_SPOT = dataclasses.replace(PERPS, stage=1, datasets=("crypto_spot/ETH_BTC-5m", "crypto_spot/LTC_BTC-5m"))
SPOT = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=60, seed=1, partial_fill_prob=0.0,
                slippage_bps=0.0, max_hold_s=3600.0)


class EntryLog(Checker):
    """The invariant checker, also noting the bar of each entry sent to the venue."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[int, str]] = []

    def before_submit(self, req) -> None:
        super().before_submit(req)
        if req.role.value == "entry":
            self.sent.append((self.runner.bars, req.symbol))


def command(runner, name: str, args: dict | None = None) -> None:
    """What `engine kill` / `engine promote` post, taken at once as the running engine would."""
    runner.session.store.post_command(name, args)
    runner.poll_commands()


def journal(ses, kind: str) -> list:
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    return ses.store.journal_entries(kind)


def test_demoted_takes_no_perp_entries_after_the_kill_switch_resumes(tmp_path: Path) -> None:
    """halt -> rollout stage_3 -> demoted (stage-1 domains: perps off) -> resume: the kill switch
    allows entries again, the rollout still has perps off until the operator reinstates."""
    log = EntryLog()
    runner = build(PERPS, tmp_path, write_env_override(tmp_path / "ovr", wallet=100_000.0), log)
    ses = runner.session
    runner.run(limit=100)
    assert log.sent, "the flips open perp positions before the halt"
    command(runner, "halt")
    command(runner, "resume")
    assert (ses.kill.state, ses.rollout.state) == ("normal", "demoted")
    resumed_at = runner.bars
    runner.run()
    assert [s for bar, s in log.sent if bar >= resumed_at] == []
    assert runner.rejections.get("rollout", 0) > 0
    [row] = [e for e in journal(ses, "domain") if e.key == "crypto_perp" and e.payload["to"] == "off"]
    assert row.payload["state"] == "demoted" and "stage_3 -> demoted" in row.reason
    assert not log.violations, log.violations  # open positions kept their stops, exits passed


def _to_confirm_stage_2(runner) -> None:
    ses = runner.session
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "candidate"})
    assert ses.rollout.state == "confirm_stage_2"


def _promote(runner) -> None:
    command(runner, "promote", {"machine": "rollout", "event": "operator_confirmed",
                                "expect_state": runner.session.rollout.state, "stage": 2, "reason": "operator"})


def test_a_paper_run_promoted_to_stage_2_trades_the_live_leg_on_paper_with_stage_2_parameters(
        tmp_path: Path) -> None:
    runner = build(SPOT, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    # run_support.build routes as `engine run --stage 1 --paper` does
    assert ses.kill.bound.params["daily_loss_limit"] == 0.035
    _to_confirm_stage_2(runner)
    _promote(runner)
    assert ses.rollout.state == "stage_2"
    assert {w.mode for w in ses.store.wallets()} == {"paper"}
    # specs/overrides/stage_2.yaml: the promoted stage's kill parameters apply at once
    assert (ses.kill.bound.params["daily_loss_limit"], ses.kill.bound.params["cooldown"]) == (0.03, 1800.0)
    [params] = journal(ses, "params")
    assert params.payload["kill_modes"] == {"daily_loss_limit": [0.035, 0.03], "cooldown": [900.0, 1800.0]}
    stage_2 = [e for e in journal(ses, "stage") if e.key == "stage_2"][-1].payload
    assert stage_2["domains"]["crypto_spot"] == "paper" and stage_2["spec_domains"]["crypto_spot"] == "live"
    assert ses.entry_block(Domain.CRYPTO_SPOT) == ("", {})


def test_a_promoted_run_keeps_its_kpis_per_stage(tmp_path: Path) -> None:
    """Each trade counts for the stage whose rules opened it; the store keeps a KPI snapshot
    per stage and domain, and the report splits the domain's KPIs the same way."""
    from engine.run.report import report_dict

    flips = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=400, seed=1,
                     partial_fill_prob=0.0, slippage_bps=0.0, max_hold_s=3600.0, flip_every=6)
    runner = build(flips, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    runner.run(limit=200)
    before = len(runner.trades)
    _to_confirm_stage_2(runner)
    _promote(runner)
    promoted_at = ses.clock.now()
    runner.run()
    result = runner.result(0.0)
    assert [e[1:] for e in ses.stage_log] == [(1, "stage_1"), (2, "stage_2")] and ses.stage_log[1][0] == promoted_at
    # The promotion came after the bar at promoted_at: an entry decided there had stage 1's rules.
    assert (ses.stage_at(promoted_at), ses.stage_at(promoted_at + 1.0)) == (1, 2)
    stages = [t.stage for t in runner.trades]
    assert before and stages.count(1) >= before and 2 in stages, stages
    in_entry_order = [t.stage for t in sorted(runner.trades, key=lambda t: t.entry_ts)]
    assert in_entry_order == sorted(in_entry_order)  # the stage 1 trades, then the stage 2 ones
    snaps = {k.stage: k.trades for k in ses.store.kpis(domain="crypto_spot")}
    assert snaps == {1: stages.count(1), 2: stages.count(2)}
    by_stage = report_dict(result, {})["domains"]["crypto_spot"]["kpis_by_stage"]
    assert {n: k["trades"] for n, k in by_stage.items()} == {"1": stages.count(1), "2": stages.count(2)}


def test_a_run_without_paper_or_opt_in_refuses_a_promotion_to_a_live_leg(tmp_path: Path) -> None:
    """A stage-1 run needs neither --paper nor the opt-in; stage 2 trades crypto spot live."""
    runner = build(SPOT, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    ses.routing = route(1, dict(ses.routing.modes), config_enabled=False, live_flag=False,
                        paper_flag=False)  # as `engine run --stage 1` routes
    _to_confirm_stage_2(runner)
    _promote(runner)
    assert ses.rollout.state == "confirm_stage_2"
    assert {w.mode for w in ses.store.wallets()} == {"paper"}
    assert ses.kill.bound.params["daily_loss_limit"] == 0.035
    [row] = [e for e in journal(ses, "rejection") if e.key == "rollout"]
    assert row.reason.startswith("not applied: stage_2 trades crypto_spot live") and "--paper" in row.reason
    command = [e for e in journal(ses, "command") if e.key == "promote"][-1]  # the first: its posting
    assert command.reason == "not applied: rollout: " + row.reason.removeprefix("not applied: ")


def test_a_resumed_promoted_run_keeps_its_stage_parameters_and_its_paper_routing(tmp_path: Path) -> None:
    from engine.run.assemble import assemble
    from engine.run.session import RefusedToStart

    overrides = write_env_override(tmp_path / "ovr", wallet=1000.0)
    runner = build(SPOT, tmp_path, overrides, Checker())
    _to_confirm_stage_2(runner)
    _promote(runner)
    runner.run(limit=10)
    ses = runner.session
    ses.store.close()
    modes = dict(ses.specs.machines["rollout"].states["stage_1"].attrs["domains"])
    for paper, refused in ((False, True), (True, False)):
        routing = route(1, modes, config_enabled=False, live_flag=False, paper_flag=paper)
        if refused:
            with pytest.raises(RefusedToStart, match="rollout is in `stage_2`, which trades crypto_spot live"):
                assemble(ses.cfg, ses.specs, 1, routing, tmp_path / "run", series=runner.series, resume=True)
            continue
        again = assemble(ses.cfg, ses.specs, 1, routing, tmp_path / "run", series=runner.series, resume=True)
        try:
            assert again.session.rollout.state == "stage_2"
            assert again.session.kill.bound.params["daily_loss_limit"] == 0.03
            assert [e[1] for e in again.session.stage_log] == [1, 2]
        finally:
            again.session.store.close()


def test_live_and_paper_together_are_refused() -> None:
    with pytest.raises(Misused, match="--live and --paper contradict"):
        route(1, {"crypto_spot": "paper"}, config_enabled=True, live_flag=True, paper_flag=True, environ={})


@pytest.mark.parametrize("stage", ["1", "3"])  # no live leg, live legs: the flags contradict either way
def test_engine_run_refuses_live_with_paper_before_writing_anything(tmp_path: Path, capsys, stage: str) -> None:
    from engine.cli import main

    assert main(["run", "--stage", stage, "--live", "--paper", "--db", str(tmp_path / "e.db")]) == 2  # usage
    assert "--live and --paper contradict" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_stage_override_of_the_wallet_applies_when_that_stage_opens_its_wallets(tmp_path: Path) -> None:
    """The stage's parameters are in force for its entry actions: apply_stage opened stage 3's
    wallets with stage 1's paper_wallet_usd, and only then switched."""
    folder = write_env_override(tmp_path / "ovr", wallet=1000.0)
    (folder / "stage_3.yaml").write_text("kind: overrides\nscope: stage\nkey: \"3\"\n"
                                         "values:\n  rollout:\n    paper_wallet_usd: 100000\n")
    runner = build(PERPS, tmp_path, folder, Checker())
    ses = runner.session
    assert {w.domain: w.start_balance for w in ses.store.wallets()} == {"crypto_spot": 100000.0,
                                                                        "crypto_perp": 100000.0,
                                                                        "forex": 100000.0}
    [params] = journal(ses, "params")
    assert params.payload["rollout"]["paper_wallet_usd"] == [1000.0, 100000.0]


class Operator:
    """The wall clock of a replay held for the operator: each pause moves it on, and the operator
    answers (posts a command) at the pause `answers_at`, if given."""

    def __init__(self, runner, answers_at: int | None) -> None:
        self.runner, self.answers_at, self.now, self.pauses = runner, answers_at, 0.0, 0
        self.stored: list[str] = []  # the rollout state `engine promote` reads from the store, each pause

    def wall(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        from engine.commands.status import latest_snapshot

        self.pauses += 1
        self.now += seconds
        self.stored.append(latest_snapshot(self.runner.session.store, "rollout")["state"])
        if self.pauses == self.answers_at:
            r = self.runner
            r.session.store.post_command("promote", {
                "machine": "rollout", "event": "operator_confirmed", "expect_state": r.session.rollout.state,
                "stage": 2, "reason": "operator"})


def _held_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wait_s: float, answers_at: int | None):
    import engine.run.loop as loop

    runner = build(SPOT, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    ses.cfg = ses.cfg.model_copy(update={"operator_wait_s": wait_s})
    op = Operator(runner, answers_at)
    monkeypatch.setattr(loop, "wall", op.wall)
    runner.pause = op.pause
    _to_confirm_stage_2(runner)
    held_at = ses.clock.now()
    runner.run()
    return runner, op, held_at


def test_a_replay_holds_where_the_rollout_awaits_the_operator(tmp_path: Path, monkeypatch) -> None:
    """The confirmation window counts replay time, which a replay passes in a blink: with
    operator_wait_s the replay stands still there (replay clock and all) until `engine promote`."""
    runner, op, held_at = _held_run(tmp_path, monkeypatch, wait_s=60.0, answers_at=3)
    ses = runner.session
    assert op.pauses == 3 and ses.rollout.state == "stage_2"
    assert op.stored == ["confirm_stage_2"] * 3, "checkpointed first: engine promote reads the store"
    [(_, _, _), (promoted_at, stage, state)] = ses.stage_log
    assert (stage, state) == (2, "stage_2")
    assert promoted_at <= held_at + 300.0, "promoted at the row where the replay held, not later"
    assert runner.bars == SPOT.bars


def test_a_hold_lasts_operator_wait_s_once_and_then_the_replay_goes_on(tmp_path: Path, monkeypatch) -> None:
    runner, op, _ = _held_run(tmp_path, monkeypatch, wait_s=5.0, answers_at=None)
    assert op.pauses == 20 and runner.session.rollout.state == "confirm_stage_2"  # 5 s of 0.25 s polls, once
    assert runner.bars == SPOT.bars


def test_a_hold_leaves_kpi_snapshots_for_engine_status(tmp_path: Path, monkeypatch) -> None:
    """Before, snapshots were written only when a run stopped: `engine status` showed `last KPIs:
    none` while the operator was asked to confirm a promotion (rev28)."""
    import engine.run.loop as loop
    from engine.commands.status import collect

    class Looking(Operator):
        def pause(self, seconds: float) -> None:
            super().pause(seconds)
            self.kpis = collect(self.runner.session.store, {})["kpis"]

    runner = build(SPOT, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    ses.cfg = ses.cfg.model_copy(update={"operator_wait_s": 1.0})
    op = Looking(runner, None)
    monkeypatch.setattr(loop, "wall", op.wall)
    runner.pause = op.pause
    runner.run(limit=30)
    _to_confirm_stage_2(runner)
    held_at = ses.clock.now()  # the rollout waits before the next row: the replay holds there
    runner.run(limit=31)
    [row] = op.kpis
    assert (row["domain"], row["stage"], row["ts"]) == ("crypto_spot", 1, held_at)


def test_without_operator_wait_s_a_replay_does_not_hold(tmp_path: Path, monkeypatch) -> None:
    runner, op, _ = _held_run(tmp_path, monkeypatch, wait_s=0.0, answers_at=1)
    assert op.pauses == 0 and runner.session.rollout.state == "confirm_stage_2"


class Scripted(Operator):
    """An operator who posts `script[n]` (command, args) at pause n, noting at each pause what the
    engine was doing: (kill mode, a flatten pending, positions open)."""

    def __init__(self, runner, script: dict[int, tuple[str, dict]]) -> None:
        super().__init__(runner, None)
        self.script, self.seen = script, []

    def pause(self, seconds: float) -> None:
        super().pause(seconds)
        ses = self.runner.session
        self.seen.append((ses.kill.state, ses.flatten_pending, len(ses.execution.brackets)))
        if self.pauses in self.script:
            ses.store.post_command(*self.script[self.pauses])


def test_a_hold_comes_once_a_pending_flatten_is_done(tmp_path: Path, monkeypatch) -> None:
    """QA round 14: a flatten demoted the rollout while a position was open, and the replay held on
    `demoted` at once: its clock stood still, so the exits never filled, the kill switch stayed in
    `flatten_all` (no resume applies there) and the hold passed with nothing the operator could do.
    The hold comes once the position closed; a resume and a reinstatement given then both apply."""
    import engine.run.loop as loop

    runner = build(TWO_SPOT, tmp_path, write_env_override(tmp_path / "ovr", wallet=100_000.0), Checker())
    ses = runner.session
    while len({b.symbol for b in ses.execution.brackets.values() if b.entry_fills}) < 2:
        runner.run(limit=runner.bars + 1)  # till both hold a position: a flatten then takes more than a row
    command(runner, "flatten")
    assert (ses.kill.state, ses.rollout.state, ses.flatten_pending) == ("flatten_all", "demoted", True)
    ses.cfg = ses.cfg.model_copy(update={"operator_wait_s": 60.0})
    op = Scripted(runner, {1: ("resume", {}), 2: ("promote", {
        "machine": "rollout", "event": "operator_confirmed", "expect_state": "demoted", "stage": 1,
        "reason": "operator"})})
    monkeypatch.setattr(loop, "wall", op.wall)
    runner.pause = op.pause
    progress = Notes()
    runner.run(progress)
    assert op.seen[0] == ("halted", False, 0), "held only once the flatten was done"
    assert (ses.kill.state, ses.rollout.state, op.pauses) == ("normal", "stage_1", 2)
    [note] = [n for n in progress.notes if "awaits the operator" in n]
    assert "`engine promote`" in note and "--decline" not in note, note  # demoted has no decline
    assert "kill mode `halted`): `engine kill --mode resume` first" in note, note


def test_operator_wait_s_is_no_change_a_resume_refuses() -> None:
    """How long a replay holds changes no decision: a run saved before the key existed, or with
    another value, resumes."""
    from engine.run.checkpoint import config_changes, config_digest
    from run_support import base_config

    cfg = base_config()
    assert "operator_wait_s" not in config_digest(cfg)
    assert config_changes(config_digest(cfg), cfg.model_copy(update={"operator_wait_s": 30.0})) == []


def test_a_degrade_command_moves_only_the_gate_it_names(tmp_path: Path) -> None:
    runner = build(PERPS, tmp_path, write_env_override(tmp_path / "ovr", wallet=100_000.0), Checker())
    gates = runner.session.gates
    for gate in gates.values():
        gate.state = "canary"  # as a gate that earned real money would be
    command(runner, "degrade", {"machine": "model_promotion", "instance": "gate:crypto_perp",
                                "event": "degrade_to_paper", "reason": "operator"})
    assert {d.value: g.state for d, g in gates.items()} == {
        "crypto_spot": "canary", "crypto_perp": "paper", "forex": "canary"}
    [row] = [e for e in journal(runner.session, "command") if e.key == "degrade" and "moved" in e.payload]
    assert row.payload["moved"] == ["gate:crypto_perp: canary -> paper"]


def test_a_canary_confirmation_moves_only_its_gate_and_never_a_later_wait(tmp_path: Path) -> None:
    """`engine promote --domain D` posts the gate spec's confirm_canary for gate:D with the state the
    operator saw; the rollout's promote never reaches a gate (the commands are named apart)."""
    runner = build(PERPS, tmp_path, write_env_override(tmp_path / "ovr", wallet=100_000.0), Checker())
    gates = runner.session.gates
    for gate in gates.values():
        gate.state = "awaiting_confirmation"  # as after a shadow run that passed
    posted = {"machine": "model_promotion", "instance": "gate:forex", "event": "operator_confirmed",
              "expect_state": "awaiting_confirmation", "reason": "operator"}
    command(runner, "confirm_canary", posted)
    assert {d.value: g.state for d, g in gates.items()} == {
        "crypto_spot": "awaiting_confirmation", "crypto_perp": "awaiting_confirmation", "forex": "canary"}
    gates[Domain.FOREX].state = "paper"  # degraded since: the same confirmation must not apply again
    command(runner, "confirm_canary", posted)
    assert gates[Domain.FOREX].state == "paper"
    stale = [e for e in journal(runner.session, "command") if e.key == "confirm_canary"][-1]
    assert "gate:forex (model_promotion) is in `paper`, the operator confirmed `awaiting_confirmation`" in stale.reason
    posted = {**posted, "instance": "gate:forex_options"}  # a gate this run does not host: said so, not applied
    command(runner, "confirm_canary", posted)
    last = [e for e in journal(runner.session, "command") if e.key == "confirm_canary"][-1]
    assert "this run hosts no gate:forex_options" in last.reason


# -- a promotion that was not taken is offered again while its model stands past the gate -------
LONG_SPOT = dataclasses.replace(SPOT, bars=120)  # 120 rows of 15 minutes: 30 h of replay time
REOFFER = {"rollout": {"reoffer_after": "4h"}}


def _gate_journal(ses) -> list:
    return [e.payload for e in journal(ses, "gate")]


def _decline(runner) -> None:
    command(runner, "decline", {"machine": "rollout", "event": "operator_rejected",
                                "expect_state": "confirm_stage_2", "reason": "operator"})
    assert runner.session.rollout.state == "stage_1"


@pytest.mark.parametrize("answer", ["decline", "lapse"])
def test_a_promotion_not_taken_is_offered_again_after_reoffer_after(tmp_path: Path, answer: str) -> None:
    """Before, a declined or lapsed promotion was never offered again: the gate had left the phase
    whose pass offers it, and the rollout stayed in stage 1 for good."""
    values = {"rollout": {**REOFFER["rollout"], "confirmation_timeout": "2h"}}
    runner = build(LONG_SPOT, tmp_path, write_env_override(tmp_path / "ovr", 1000.0, values), Checker())
    ses = runner.session
    runner.run(limit=30)
    ses.gates[Domain.CRYPTO_SPOT].state = "shadow"  # as after its candidate pass
    _to_confirm_stage_2(runner)
    if answer == "decline":
        _decline(runner)
    while ses.rollout.state != "stage_1":  # the 2 h window runs out
        runner.run(limit=runner.bars + 1)
    back_at = ses.clock.now()
    runner.run(limit=runner.bars + 12)  # 3 hours: inside reoffer_after
    assert ses.rollout.state == "stage_1"
    runner.run(limit=runner.bars + 6)
    assert ses.rollout.state == "confirm_stage_2"
    [restated] = [g for g in _gate_journal(ses) if g.get("restated")]
    assert restated["phase"] == "candidate" and restated["ts"] - back_at == pytest.approx(14400.0, abs=900.0)
    assert ses.gate_decisions == []  # a restatement is no new gate decision


def test_a_declined_promotion_is_not_offered_again_once_its_model_was_degraded(tmp_path: Path) -> None:
    runner = build(LONG_SPOT, tmp_path, write_env_override(tmp_path / "ovr", 1000.0, REOFFER), Checker())
    ses = runner.session
    runner.run(limit=30)
    ses.gates[Domain.CRYPTO_SPOT].state = "shadow"
    _to_confirm_stage_2(runner)
    _decline(runner)
    command(runner, "degrade", {"machine": "model_promotion", "instance": "gate:crypto_spot",
                                "event": "degrade_to_paper", "reason": "operator"})
    runner.run(limit=runner.bars + 40)  # 10 hours, past reoffer_after
    assert ses.rollout.state == "stage_1"
    assert [g for g in _gate_journal(ses) if g.get("restated")] == []


def test_a_pass_the_kill_switch_held_back_is_offered_once_it_resumes(tmp_path: Path) -> None:
    """Before, a gate that passed while close-only held promotions back was never offered: the
    rollout dropped its one gate_passed."""
    runner = build(LONG_SPOT, tmp_path, write_env_override(tmp_path / "ovr", 1000.0), Checker())
    ses = runner.session
    runner.run(limit=30)
    command(runner, "close_only")
    ses.gates[Domain.CRYPTO_SPOT].state = "shadow"
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "candidate"})
    assert (ses.rollout.state, ses.rollout.ctx["pass_held"]) == ("stage_1", True)
    command(runner, "resume")
    assert (ses.rollout.state, ses.rollout.ctx["pass_held"]) == ("confirm_stage_2", False)


def test_only_the_pass_a_stage_promotes_on_is_held_and_a_demotion_drops_it(tmp_path: Path) -> None:
    """Before, any pass during close-only set pass_held and a demotion kept it: a later resume (the
    next trading day's, after a daily-loss close-only) offered a declined promotion at once."""
    runner = build(LONG_SPOT, tmp_path, write_env_override(tmp_path / "ovr", 1000.0), Checker())
    ses = runner.session
    runner.run(limit=30)
    command(runner, "close_only")
    ses.gates[Domain.CRYPTO_SPOT].state = "established"
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "live"})  # stage 1 promotes on no live pass
    assert ses.rollout.ctx["pass_held"] is False
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "candidate"})
    assert ses.rollout.ctx["pass_held"] is True
    command(runner, "halt")
    assert (ses.rollout.state, ses.rollout.ctx["pass_held"]) == ("demoted", False)
    command(runner, "resume")
    command(runner, "promote", {"machine": "rollout", "event": "operator_confirmed", "expect_state": "demoted",
                                "stage": 1, "reason": "operator"})
    assert ses.rollout.state == "stage_1"  # reinstated; asked again reoffer_after after it, not at once


@pytest.mark.parametrize("how", ["operator", "tripwire"])
def test_a_degrade_withdraws_the_promotion_its_pass_offered(tmp_path: Path, how: str) -> None:
    """Before, a model degraded while the rollout waited in confirm_stage_2 left the offer open:
    `engine promote` then took the run into live-legged stage 2 on a model that stood past
    nothing (rev28). The gate's degrade reaches the rollout as gate_withdrawn."""
    runner = build(LONG_SPOT, tmp_path, write_env_override(tmp_path / "ovr", 1000.0), Checker())
    ses = runner.session
    runner.run(limit=30)
    ses.gates[Domain.CRYPTO_SPOT].state = "shadow"  # as after its candidate pass
    _to_confirm_stage_2(runner)
    if how == "operator":
        command(runner, "degrade", {"machine": "model_promotion", "instance": "gate:crypto_spot",
                                    "event": "degrade_to_paper", "reason": "operator"})
    else:  # the shadow run broke its drawdown limit
        kpi = {"trades": 5, "sharpe": 2.0, "max_dd": 0.5, "win_rate": 0.6, "baseline_sharpe": 0.0}
        ses.send(ses.gates[Domain.CRYPTO_SPOT], "kpi_update", inputs={"kpi": kpi})
    assert (ses.gates[Domain.CRYPTO_SPOT].state, ses.rollout.state) == ("paper", "stage_1")
    _promote(runner)
    assert ses.rollout.state == "stage_1"
    assert any("promotion withdrawn: crypto_spot model degraded" in n for n in ses.notes)


def test_another_domains_degrade_leaves_the_offer_open(tmp_path: Path) -> None:
    runner = build(LONG_SPOT, tmp_path, write_env_override(tmp_path / "ovr", 1000.0), Checker())
    ses = runner.session
    runner.run(limit=30)
    _to_confirm_stage_2(runner)
    ses.send(ses.rollout, "gate_withdrawn", {"domain": "forex", "phase": "degraded"})
    assert ses.rollout.state == "confirm_stage_2"


def test_a_gate_that_does_not_pass_records_the_kpis_it_judged(tmp_path: Path) -> None:
    """Before, a daily kpi_update that passed no guard left `guard_inputs: {}`: nothing in the
    audit trail said which threshold held the model back, or by how much (rev28)."""
    runner = build(SPOT, tmp_path, write_env_override(tmp_path / "ovr", 1000.0), Checker())
    ses = runner.session
    kpi = {"trades": 2, "sharpe": 0.3, "max_dd": 0.01, "win_rate": 0.5, "baseline_sharpe": 0.0}
    [record] = ses.send(ses.gates[Domain.CRYPTO_SPOT], "kpi_update", inputs={"kpi": kpi})
    assert (record.kind, ses.gates[Domain.CRYPTO_SPOT].state) == ("unhandled", "paper")
    assert {k: v for k, v in record.guard_inputs.items() if k.startswith("kpi.")} == {
        "kpi.trades": 2, "kpi.sharpe": 0.3, "kpi.max_dd": 0.01, "kpi.win_rate": 0.5}
    assert record.guard_inputs["params.min_trades"] == 100


def test_a_run_marks_itself_closing_before_its_last_poll(tmp_path: Path) -> None:
    """The mark `engine kill` & co. read to refuse (or withdraw) a command no poll would take."""
    from engine.run.keys import CLOSING_KEY

    runner = build(SPOT, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    store = runner.session.store
    polls = runner.poll_commands
    seen: list = []
    runner.poll_commands = lambda: (seen.append(store.get_json(CLOSING_KEY)), polls())[1]
    runner.run(limit=20)
    assert store.get_json(CLOSING_KEY) is None and set(seen) == {None}  # a --max-bars stop: resumable
    runner.run()
    assert seen[-1] is True and store.get_json(CLOSING_KEY) is True


def test_a_resumed_run_clears_the_closing_mark_its_killed_run_left(tmp_path: Path) -> None:
    """rev34: a run killed between its closing mark and its report, then resumed, kept the mark:
    every `engine kill` was refused ("writing its report") while the resumed run replayed."""
    from engine.run.keys import CLOSING_KEY

    runner = build(SPOT, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    store = runner.session.store
    store.put_json(CLOSING_KEY, True)  # what the killed run left
    store.commit()
    polls = runner.poll_commands
    seen: list = []
    runner.poll_commands = lambda: (seen.append(store.get_json(CLOSING_KEY)), polls())[1]
    runner.run(limit=20)
    assert set(seen) == {None} and store.get_json(CLOSING_KEY) is None
