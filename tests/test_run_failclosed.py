"""What governs a run really governs it, and fails closed (engine/run/session.py):
a raising guard raises `fault` to the kill machine; a broadcast is relayed whatever the kill
machine does with it; the journal's spec hash covers the risk spec, the overrides and the
strategy; the rollout state's `gate:` picks the gate machine; an operator's reason reaches
the audit trail; no kill-spec tag promises a check the engine does not make."""
from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Callable

import pytest

from engine.domain import Domain
from engine.runtime import FanoutSink, ListSink
from run_support import ENV, ROOT, _flips, base_config, full_series, window, write_env_override

DATASET = "crypto_spot/ETH_BTC-5m"


def _specs(tmp: Path, edit: Callable[[Path], None] | None = None):
    """The repo's specs, copied and edited by `edit(specs_dir)`, with the tests' env override."""
    from engine.run.session import load_specset

    root = tmp / "specs"
    shutil.copytree(ROOT / "specs", root)
    if edit is not None:
        edit(root)
    return load_specset([str(root), str(write_env_override(tmp / "ovr", wallet=1000.0))])


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def _runner(specs, work: Path, resume: bool = False, bars: int = 120):
    from engine.run.assemble import assemble
    from engine.run.optin import route

    cfg = base_config().model_copy(update={"db": str(work / "engine.db"), "env": ENV, "seed": 1,
                                           "checkpoint_every": 50})
    modes = dict(specs.machines["rollout"].states["stage_1"].attrs["domains"])
    routing = route(1, modes, config_enabled=False, live_flag=False, paper_flag=True)
    s = window(full_series(DATASET, specs.extra["risk"].brackets.atr_window), 0, bars)
    s = dataclasses.replace(s, signal=_flips(len(s), 6, 1))  # entries and exits every few bars
    runner = assemble(cfg, specs, 1, routing, work / "run", series=[s], venue_path=work / "venue.db",
                      resume=resume)
    runner.skip_quiet = False
    return runner


def _command(runner, name: str, reason: str = "") -> None:
    runner.session.store.post_command(name, {"reason": reason} if reason else None)
    runner.poll_commands()


# -- 1. a raising guard is a fault ---------------------------------------------------------
def test_a_kill_guard_that_raises_puts_the_book_close_only_and_says_which(tmp_path: Path) -> None:
    def broken_daily_loss(root: Path) -> None:
        _replace(root / "kill/kill_modes.yaml", "guard: pnl.daily_loss >= params.daily_loss_limit",
                 "guard: pnl.daily_loss / pnl.drawdown >= 0.5 and pnl.daily_loss >= params.daily_loss_limit")

    runner = _runner(_specs(tmp_path, broken_daily_loss), tmp_path)
    ses = runner.session
    runner.run(limit=3)  # the first risk_update: drawdown 0, the guard divides by it
    assert ses.kill.state == "close_only"
    [event] = ses.kill_events
    assert event["to"] == "close_only" and event["reason"].startswith("fault: guard error in kill_modes `kill`")
    assert "ZeroDivisionError" in event["reason"] and "pnl.daily_loss / pnl.drawdown" in event["reason"]
    assert "kill_modes.yaml:" in event["reason"]  # where the guard is written
    assert ses.rollout.ctx["kill_clear"] is False  # the close-only broadcast was relayed
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    [fault] = ses.store.journal_entries("fault")
    assert fault.key == "kill" and "ZeroDivisionError" in fault.reason


def test_a_bracket_guard_that_raises_stops_new_entries(tmp_path: Path) -> None:
    def broken_open(root: Path) -> None:
        _replace(root / "orders/bracket.yaml", "or (event.side != 'buy' and event.side != 'sell')",
                 "or (event.side != 'buy' and event.side != 'sell') or event.qty / 0 > 1")

    runner = _runner(_specs(tmp_path, broken_open), tmp_path)
    ses = runner.session
    runner.run()
    assert ses.kill.state == "close_only"
    assert ses.kill_events[0]["reason"].startswith("fault: guard error in bracket `")
    assert [o.role for o in ses.store.orders()] == ["entry"]  # the first bracket's, cancelled by close-only
    assert runner.rejections["kill_mode"] > 0


# -- 2. broadcasts are relayed whatever the kill machine does with them ----------------------------
def test_a_broadcast_the_kill_machine_handles_itself_still_reaches_the_others(tmp_path: Path) -> None:
    def notify_on_close_only(root: Path) -> None:
        _replace(root / "kill/kill_modes.yaml", "  # Losing streaks.\n",
                 "  - event: kill_close_only\n    source: \"*\"\n"
                 "    actions: [{notify: {text: \"'close-only broadcast'\"}}]\n\n  # Losing streaks.\n")

    runner = _runner(_specs(tmp_path, notify_on_close_only), tmp_path)
    ses = runner.session
    runner.run(limit=40)
    assert ses.execution.brackets, "the flips hold a position"
    heard: list[str] = []
    post = ses.execution.post
    ses.execution.post = lambda inst, event, payload=None: (heard.append(f"{inst.bound.name}:{event}"),
                                                            post(inst, event, payload))
    _command(runner, "close_only")
    assert ses.kill.state == "close_only" and "close-only broadcast" in ses.notes
    assert ses.rollout.ctx["kill_clear"] is False
    assert "bracket:kill_close_only" in heard


# -- 3. the journal's spec hash covers what sizes and times the trades ----------------------------------
def test_the_spec_hash_covers_the_risk_spec_the_overrides_and_the_strategy(tmp_path: Path) -> None:
    from engine.run.session import spec_hash, spec_hashes

    cfg = base_config().model_copy(update={"env": ENV})
    base = _specs(tmp_path / "base")
    riskier = _specs(tmp_path / "risk", lambda r: _replace(r / "risk/risk.yaml", "crypto_spot: 0.02\n",
                                                           "crypto_spot: 0.03\n"))
    stage_2 = _specs(tmp_path / "stage", lambda r: _replace(r / "overrides/stage_2.yaml", "cooldown: 30m",
                                                            "cooldown: 45m"))
    other_use = cfg.model_copy(update={"strategy": cfg.strategy.model_copy(update={"use": ["emavol_24h"]})})
    parts = spec_hashes(base, cfg)
    assert set(parts) == set(base.machines) | {"risk", "overrides", "strategy", "allowlists", "ensemble",
                                               "exploration", "regime", "selection", "contracts"}
    assert {k for k, v in spec_hashes(riskier, cfg).items() if parts[k] != v} == {"risk"}
    assert {k for k, v in spec_hashes(stage_2, cfg).items() if parts[k] != v} == {"overrides"}
    assert {k for k, v in spec_hashes(base, other_use).items() if parts[k] != v} == {"strategy"}
    hashes = {spec_hash(s, c) for s, c in ((base, cfg), (riskier, cfg), (stage_2, cfg), (base, other_use))}
    assert len(hashes) == 4
    # Another env's override does not apply to this run: it leaves the hash alone.
    bench = _specs(tmp_path / "bench", lambda r: _replace(r / "overrides/env_bench.yaml", "daily_loss_limit: 0.49",
                                                          "daily_loss_limit: 0.4"))
    assert spec_hash(bench, cfg) == spec_hash(base, cfg)


def test_the_spec_hash_covers_the_contract_catalogue_and_a_resume_checks_it(tmp_path: Path, monkeypatch) -> None:
    """Its lot steps size entries (ETH/BTC's 0.001 made 0.002: every trade 0.015 became 0.014),
    but no hash held it, and a run resumed under an edited catalogue mixed both in one journal."""
    import engine.run.session as session
    from engine.commands.run import SavedRun, _edited_specs
    from engine.spec.files import contracts_path

    cfg, specs = base_config(), _specs(tmp_path / "base")
    parts = session.spec_hashes(specs, cfg)
    edited = tmp_path / "contracts.yaml"
    edited.write_text(contracts_path().read_text().replace("step: 0.001", "step: 0.002", 1))
    monkeypatch.setattr(session, "contracts_path", lambda: edited)
    now = session.spec_hashes(specs, cfg)
    assert {k for k, v in now.items() if parts[k] != v} == {"contracts"}
    saved = SavedRun(None, None, None, None, specs=parts)
    assert _edited_specs(saved, cfg, specs) == ["the contract catalogue (adapters/paper/contracts.yaml)"]
    before = SavedRun(None, None, None, None, specs={k: v for k, v in now.items() if k != "contracts"})
    assert _edited_specs(before, cfg, specs) == [], "a run saved before the catalogue was hashed resumes"


def test_journal_rows_and_the_report_carry_the_run_hashes(tmp_path: Path) -> None:
    from engine.run.session import spec_hash

    specs = _specs(tmp_path)
    runner = _runner(specs, tmp_path)
    ses = runner.session
    runner.run(limit=40)
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    rows = ses.store.journal_entries()
    assert rows and {r.spec_hash for r in rows} == {spec_hash(specs, ses.cfg)}
    hashes = runner.result(0.0).spec_hashes
    assert hashes["kill_modes"] == specs.machines["kill_modes"].spec_hash
    assert {"risk", "overrides", "strategy"} <= set(hashes)


# -- 4. the gate a rollout state names is the one that runs -----------------------------------------
def _strict_gate_in_stage_1(root: Path) -> None:
    text = (root / "gates/model_promotion.yaml").read_text(encoding="utf-8")
    (root / "gates/strict_promotion.yaml").write_text(text.replace("name: model_promotion",
                                                                   "name: strict_promotion"), encoding="utf-8")
    rollout = root / "rollout/rollout.yaml"
    text = rollout.read_text(encoding="utf-8")
    stage_1 = text.index("  stage_1:\n")
    at = text.index("    gate: model_promotion\n", stage_1)
    rollout.write_text(text[:at] + "    gate: strict_promotion\n" + text[at + len("    gate: model_promotion\n"):],
                       encoding="utf-8")


def test_the_gate_a_stage_names_runs_and_a_promotion_switches_to_the_next_stage_s(tmp_path: Path) -> None:
    runner = _runner(_specs(tmp_path, _strict_gate_in_stage_1), tmp_path)
    ses = runner.session
    gate = ses.gates[Domain.CRYPTO_SPOT]
    assert gate.bound.name == "strict_promotion"
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "candidate"})
    assert ses.rollout.state == "confirm_stage_2" and ses.gates[Domain.CRYPTO_SPOT] is gate  # stage 1's gate waits
    ses.send(ses.rollout, "operator_confirmed")
    assert ses.rollout.state == "stage_2"
    assert ses.gates[Domain.CRYPTO_SPOT].bound.name == "model_promotion"
    assert gate.done and not gate.timers  # the replaced gate hears nothing more


def test_a_resumed_run_restores_the_gate_its_stage_names(tmp_path: Path) -> None:
    specs = _specs(tmp_path, _strict_gate_in_stage_1)
    first = _runner(specs, tmp_path)
    first.run(limit=60)  # a checkpoint at 50
    first.session.store.close()
    first.session.venue.close()
    again = _runner(specs, tmp_path, resume=True)
    assert again.bars == 60 and again.session.gates[Domain.CRYPTO_SPOT].bound.name == "strict_promotion"
    again.session.store.close()
    again.session.venue.close()


# -- 5. no kill-spec tag without a reader ----------------------------------------------------------------
def test_every_tag_of_a_kill_state_is_one_the_engine_reads() -> None:
    """A tag the spec says the engine checks, which no code reads, is a rule that is not enforced."""
    from engine.run.session import load_specset

    kill = load_specset([str(ROOT / "specs")]).machines["kill_modes"]
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "engine").rglob("*.py"))
    tags = {t for s in kill.states.values() for t in s.tags}
    assert tags and {t for t in tags if not re.search(rf"[\"']{t}[\"']", code)} == set()


# -- 6. the operator's reason is in the audit trail --------------------------------------------------------
@pytest.mark.parametrize("command, event", [("flatten", "manual_flatten"), ("close_only", "manual_close_only")])
def test_an_operator_command_s_transition_carries_the_operator_s_reason(tmp_path: Path, command: str,
                                                                        event: str) -> None:
    runner = _runner(_specs(tmp_path), tmp_path)
    ses = runner.session
    seen = ListSink()
    ses.interp.sink = FanoutSink(ses.interp.sink, seen)
    _command(runner, command, reason="drill 7")
    [moved] = [r for r in seen.records if r.event == event and r.kind == "transition"]
    # After what the spec says of it (the kill spec's description of the event; unguarded)
    assert moved.reason == f"Operator command `{command}`; operator: drill 7"
    assert all("drill 7" not in r.reason for r in seen.records if r is not moved)


def test_a_command_posted_with_the_default_reason_says_operator_once(tmp_path: Path) -> None:
    """`engine kill` without --reason posts reason `operator`: the audit said `operator: operator`."""
    runner = _runner(_specs(tmp_path), tmp_path)
    seen = ListSink()
    runner.session.interp.sink = FanoutSink(runner.session.interp.sink, seen)
    _command(runner, "close_only", reason="operator")
    [moved] = [r for r in seen.records if r.event == "manual_close_only" and r.kind == "transition"]
    assert moved.reason == "Operator command `close_only`; operator"


@pytest.mark.parametrize("mode", ["close_only", "halt"])
def test_a_kill_while_an_entry_works_is_no_fault(tmp_path: Path, mode: str) -> None:
    """The review found a false fault: the kill broadcast cancels the working entry and the bracket's
    cancel_entry cancels it too; the second cancel reached CANCELED, which neither took nor ignored
    it. The order spec now ignores a cancel there and in PENDING_CANCEL (it asks nothing new)."""
    runner = _runner(_specs(tmp_path), tmp_path, bars=400)
    ses, every, tl = runner.session, runner.session.cfg.checkpoint_every, runner.timeline
    ex = ses.execution
    while not [b for b in ex.brackets.values() if b.entry is not None and ex.is_live(b.entry)]:
        k = runner.bars
        assert k < len(tl), "an entry works at some bar of the window"
        runner.step(runner.series[tl.ser[k]], int(tl.idx[k]))
        runner._passed(1, None, every)
    _command(runner, mode)
    assert ex.faults == [] and not [e for e in ses.kill_events if "fault" in e["reason"]]
