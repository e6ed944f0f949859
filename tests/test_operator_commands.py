"""engine kill / promote / status against a real SQLite store in a temp folder: what they
post on the control channel, when they refuse, and what status shows."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from engine.cli import main
from engine.commands import status
from engine.domain import Domain, Position
from engine.run.keys import ROUTING_KEY
from engine.run.optin import Routing
from state.runlock import RunLock
from state.store import Store
from state_support import put_position

SPECS = str(Path(__file__).resolve().parents[1] / "specs")


@pytest.fixture
def db(unsaved: Path) -> Path:
    """A run stopped after its checkpoint at bar 1,200 of stage 1: a resume takes commands."""
    from engine.run.keys import CHECKPOINT_KEY

    with Store.open(path=str(unsaved)) as s:
        s.put_json(CHECKPOINT_KEY, {"cursor": 1200, "clock": 1516515300.0, "stage": 1})
    return unsaved


@pytest.fixture
def unsaved(tmp_path: Path) -> Path:
    """A run's store before its first checkpoint: no resume can take a command."""
    path = tmp_path / "engine.db"
    with Store.open(path=str(path)) as s:
        s.open_wallet("crypto_spot", "paper", 1000.0)
        s.credit("crypto_spot", "paper", 25.0, "trade closed", realized=True)
        s.open_wallet("forex", "paper", 1000.0)
        put_position(s, Position("BTC/USDT", Domain.CRYPTO_SPOT, qty=0.02, avg_price=42_000.0))
        put_position(s, Position("ETH/USDT", Domain.CRYPTO_SPOT, qty=0.0))  # flat: not shown
        s.put_kpis(stage=1, domain="crypto_spot", mode="paper", trades=7, win_rate=0.5, sharpe=1.1,
                   sortino=1.4, max_dd=0.03, profit_factor=1.8, expectancy=3.5)
    set_state(path, "rollout", "stage_1", {"stage": 1})
    set_state(path, "kill_modes", "normal", {"tripped_by": ""})
    set_routing(path, paper=True)  # a run started with --paper: a promoted stage's live legs trade paper
    return path


def set_routing(path: Path, paper: bool) -> None:
    """The routing the running engine stores at start (engine/run/assemble.py)."""
    modes = {"crypto_spot": "paper", "crypto_perp": "off", "forex": "off", "forex_options": "off"}
    with Store.open(path=str(path)) as s:
        s.put_json(ROUTING_KEY, Routing(modes, (), (), paper).to_json(1))


def set_state(path: Path, machine: str, state: str, ctx: dict, timers: tuple[dict, ...] = ()) -> None:
    with Store.open(path=str(path)) as s:
        s.save_snapshots([(machine, machine, "h", {"format": 1, "machine": machine, "spec_hash": "h", "id": machine,
                                                   "state": state, "ctx": ctx, "done": False,
                                                   "timers": list(timers)})])


def engine(*argv: str) -> int:
    return main([*argv, "--specs", SPECS])


def taken(path: Path) -> list:
    with Store.open(path=str(path)) as s:
        return s.take_commands()


@pytest.mark.parametrize("mode, command, event", [
    ("flatten", "flatten", "manual_flatten"), ("close-only", "close_only", "manual_close_only"),
    ("halt", "halt", "manual_halt"), ("resume", "resume", "manual_resume")])
def test_kill_posts_exactly_one_command_with_the_spec_event(db, capsys, mode, command, event):
    assert engine("kill", "--mode", mode, "--db", str(db)) == 0
    [cmd] = taken(db)
    assert cmd.command == command  # the spec's command name: the loop looks it up in each machine
    assert cmd.args == {"machine": "kill_modes", "event": event, "mode": mode, "reason": "operator"}
    out = capsys.readouterr().out
    assert event in out and "no engine is running: the command is queued and is applied by `engine run --stage 1" in out


def test_kill_and_status_say_when_another_build_started_the_stopped_run(db, capsys):
    """An upgraded engine may refuse the resume they suggest (a key its schema gained): a close-only
    queued for it would then never be applied, and nothing said why."""
    from engine.run.build import code_digest
    from engine.run.keys import ENGINE_KEY

    note = ("the run was last started or resumed by another build of the engine, which may read the same files otherwise (its "
            "defaults and schemas): if this one refuses the resume, resume it with that engine")
    assert engine("kill", "--mode", "close-only", "--db", str(db)) == 0
    assert f"--resume`; but {note}" in capsys.readouterr().out  # a store from before builds were kept
    assert engine("status", "--db", str(db), "--json") == 0
    assert json.loads(capsys.readouterr().out)["engine"]["other_build"] == note
    with Store.open(path=str(db)) as s:
        s.put_json(ENGINE_KEY, code_digest())
    assert engine("kill", "--mode", "close-only", "--db", str(db)) == 0
    assert "another build" not in capsys.readouterr().out
    assert engine("status", "--db", str(db)) == 0
    out = capsys.readouterr().out
    assert "engine: not running, the run did not finish" in out and "another build" not in out


def test_kill_takes_a_mode_written_with_the_specs_underscore(db):
    """Rule (kill.py): the modes are the kill spec's command names, written with hyphens; the
    spec's own spelling (`close_only`, as in the docs and the journal) names the same command."""
    assert engine("kill", "--mode", "close_only", "--db", str(db)) == 0
    [cmd] = taken(db)
    assert cmd.command == "close_only" and cmd.args["mode"] == "close-only"


@pytest.mark.parametrize("mode", ["resume", "close-only"])
def test_kill_says_a_demoted_rollout_stays_until_the_operator_promotes(db, capsys, mode):
    """QA (perpidle): after a flatten demoted stage 3, `engine kill --mode resume` said only that
    entries were allowed again; the perps stayed off (rollout `demoted` allows crypto spot paper)
    and the operator was not told that only `engine promote` reinstates the stage."""
    set_state(db, "rollout", "demoted", {"stage": 3, "kill_clear": False})
    set_state(db, "kill_modes", "halted", {"tripped_by": "operator"})
    assert engine("kill", "--mode", mode, "--db", str(db)) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "note: rollout stays `demoted` (" in out
    assert "until the operator confirms, once the engine has applied this command: `engine promote" in out


def test_a_promotion_after_a_queued_resume_says_the_resume_is_not_applied_yet(db, capsys):
    """rev34: after a flatten, `engine kill --mode resume` (queued: no engine running) told the
    operator to `engine promote`, whose refusal then said to `engine kill --mode resume` first,
    the command just posted: the dry run reads the kill mode saved before it."""
    set_state(db, "rollout", "demoted", {"stage": 3, "kill_clear": False})
    set_state(db, "kill_modes", "halted", {"tripped_by": "operator"})
    assert engine("kill", "--mode", "resume", "--db", str(db)) == 0
    capsys.readouterr()
    assert engine("promote", "--db", str(db)) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert ("the kill switch is still engaged (kill mode `halted`), and the kill command `resume` (#1) posted for "
            "it is not applied yet: confirm once the engine has applied it") in err, err
    assert "engine kill --mode resume" not in err
    assert [c.command for c in taken(db)] == ["resume"]  # the promotion posted nothing


def test_kill_says_nothing_of_the_rollout_when_it_awaits_no_one(db, capsys):
    assert engine("kill", "--mode", "resume", "--db", str(db)) == 0
    assert "rollout stays" not in capsys.readouterr().out


def test_kill_names_the_running_engine_that_will_act_on_it(db, capsys):
    with RunLock.acquire(f"sqlite:///{db}"):  # what `engine run` holds while it runs
        assert engine("kill", "--mode", "halt", "--db", str(db)) == 0
    out = capsys.readouterr().out
    assert f"the running engine (pid {os.getpid()} since " in out and "within a quarter second, between two bars" in out
    assert "no engine is running" not in out


@pytest.fixture
def writing(db):
    """The engine in the middle of a write transaction (a checkpoint) on the store."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO kv (key, value, updated_ts) VALUES ('busy', '1', 0)")
    yield
    conn.rollback()
    conn.close()


def test_status_reads_while_the_engine_holds_a_write_transaction(db, writing, capsys, monkeypatch):
    monkeypatch.setattr(status, "WRITE_WAIT_S", 0.2)  # a status that waited at all would fail here
    assert engine("status", "--db", str(db)) == 0
    assert "stage: stage_1" in capsys.readouterr().out


def test_kill_gives_up_on_a_busy_store_with_a_clear_message(db, writing, capsys, monkeypatch):
    monkeypatch.setattr(status, "WRITE_WAIT_S", 0.2)
    assert engine("kill", "--mode", "halt", "--db", str(db)) == 1
    err = capsys.readouterr().err
    assert "is busy" in err and "try again" in err and "sqlalche.me" not in err and "Traceback" not in err


def test_kill_unknown_mode_is_a_usage_error_listing_the_modes(db, capsys):
    assert engine("kill", "--mode", "panic", "--db", str(db)) == 2
    err = capsys.readouterr().err
    assert "panic" in err and "flatten, close-only, halt, resume" in err
    assert taken(db) == []


def test_kill_without_a_store_refuses_and_creates_none(tmp_path, capsys):
    missing = tmp_path / "var" / "engine.db"
    assert engine("kill", "--mode", "halt", "--db", str(missing)) == 1
    # started there, with the specs the command was given: `engine run --stage 1` alone used var/engine.db
    assert f"no run yet: start one with `engine run --stage 1 --specs {SPECS} --db {missing}`" in capsys.readouterr().err
    assert not missing.parent.exists()


def test_promote_is_refused_when_nothing_awaits_confirmation(db, capsys):
    assert engine("promote", "--db", str(db)) == 1
    captured = capsys.readouterr()
    assert "stage_1" in captured.out and "nothing awaits confirmation" in captured.err
    assert taken(db) == []


def test_promote_confirms_a_pending_promotion(db, capsys):
    expiry = {"state": "confirm_stage_2", "index": 0, "event": "confirmation_expired", "deadline": 1.7e9}
    set_state(db, "rollout", "confirm_stage_2", {"stage": 1}, (expiry,))
    assert engine("promote", "--db", str(db), "--stage", "2") == 0
    [cmd] = taken(db)
    assert cmd.command == "promote"
    # the stay the operator saw: its expiry timer's deadline (a later stay there has another one)
    assert cmd.args == {"machine": "rollout", "event": "operator_confirmed", "expect_state": "confirm_stage_2",
                        "expect_timers": [1.7e9], "stage": 2, "reason": "operator"}
    assert "confirm_stage_2" in capsys.readouterr().out


def test_promote_decline_posts_the_specs_decline_command(db, capsys):
    """The rollout spec's `decline` command had no way in: a pending promotion could only lapse."""
    set_state(db, "rollout", "confirm_stage_2", {"stage": 1})
    assert engine("promote", "--decline", "--db", str(db), "--reason", "not yet") == 0
    [cmd] = taken(db)
    assert cmd.command == "decline"
    assert cmd.args == {"machine": "rollout", "event": "operator_rejected", "expect_state": "confirm_stage_2",
                        "expect_timers": [], "stage": None, "reason": "not yet"}
    assert "confirm_stage_2 -> stage_1" in capsys.readouterr().out
    assert engine("promote", "--decline", "--stage", "2", "--db", str(db)) == 2
    set_state(db, "rollout", "stage_1", {"stage": 1})
    assert engine("promote", "--decline", "--db", str(db)) == 1
    assert "nothing awaits confirmation" in capsys.readouterr().err and taken(db) == []


def test_promote_says_a_paper_run_trades_the_promoted_live_leg_on_paper(db, capsys):
    set_state(db, "rollout", "confirm_stage_2", {"stage": 1})
    assert engine("promote", "--db", str(db)) == 0
    assert "stage_2 trades crypto_spot live; this run trades it paper (started with --paper)" in capsys.readouterr().out
    assert len(taken(db)) == 1


def test_promote_refuses_a_live_leg_the_running_engine_has_no_opt_in_for(db, capsys):
    """A stage-1 run started without --paper (it needed none) and without the live opt-in: the
    engine would refuse stage 2's live crypto spot, so promote refuses it up front."""
    set_routing(db, paper=False)
    set_state(db, "rollout", "confirm_stage_2", {"stage": 1})
    assert engine("promote", "--db", str(db)) == 1
    err = capsys.readouterr().err
    assert "stage_2 trades crypto_spot live" in err and "without the live opt-in and without --paper" in err
    assert taken(db) == []
    set_state(db, "rollout", "demoted", {"stage": 1, "kill_clear": True})  # back to stage 1: no live leg
    assert engine("promote", "--db", str(db)) == 0


def test_promote_refuses_a_live_leg_when_the_store_does_not_say_how_the_run_routes(db, capsys):
    with Store.open(path=str(db)) as s:
        s.put_json(ROUTING_KEY, None)
    set_state(db, "rollout", "demoted", {"stage": 2, "kill_clear": True})
    assert engine("promote", "--db", str(db)) == 1
    assert "refusing rather than guessing" in capsys.readouterr().err
    assert taken(db) == []


def test_promote_refuses_a_different_stage_than_the_pending_one(db, capsys):
    set_state(db, "rollout", "confirm_stage_2", {"stage": 1})
    assert engine("promote", "--db", str(db), "--stage", "3") == 1
    assert "stage_2, not stage 3" in capsys.readouterr().err
    assert taken(db) == []


def test_promote_refuses_an_answer_whose_action_arguments_leave_the_catalogue_bounds(db, capsys, tmp_path):
    """The running engine checks apply_stage's exploration rates against the catalogue's floor (0.10,
    seed 001) and stops on a value below it; the dry run binds the catalogue too, so the promotion
    that would stop the engine is refused here, with the bound, instead of being posted."""
    import shutil

    tree = tmp_path / "specs"
    shutil.copytree(SPECS, tree)
    rollout = tree / "rollout" / "rollout.yaml"
    text = rollout.read_text(encoding="utf-8")
    old = "exploration_min: params.exploration_min\n"
    assert old in text  # stage 1 keeps 0.10; stage 2's entry passes 0.10 * (2 - 2) = 0
    rollout.write_text(text.replace(old, "exploration_min: params.exploration_min * (2 - ctx.stage)\n"),
                       encoding="utf-8")
    set_state(db, "rollout", "confirm_stage_2", {"stage": 1})
    assert main(["promote", "--db", str(db), "--specs", str(tree)]) == 1
    err = capsys.readouterr().err
    assert "the engine would stop on this command, so it is not posted" in err
    assert "`exploration_min` of `apply_stage` is 0.0, out of its bounds" in err and "catalogue.yaml:" in err
    assert taken(db) == []
    assert engine("promote", "--db", str(db)) == 0  # the shipped spec's rates are in bounds


def test_promote_reinstates_after_a_demotion(db, capsys):
    set_state(db, "rollout", "demoted", {"stage": 2, "kill_clear": True})  # spec tags it awaiting_operator
    assert engine("promote", "--db", str(db)) == 0
    assert [c.args["expect_state"] for c in taken(db)] == ["demoted"]
    out = capsys.readouterr().out
    assert "demoted -> stage_2" in out and "queued" in out


def test_promote_refuses_a_stage_the_reinstatement_does_not_lead_to(db, capsys):
    """Demoted from stage 1, a confirmation reinstates stage 1 (the spec's guard reads ctx.stage):
    `--stage 3` names another stage and is refused (docs/run-report.md)."""
    set_state(db, "rollout", "demoted", {"stage": 1, "kill_clear": True})
    assert engine("promote", "--db", str(db), "--stage", "3") == 1
    assert "leads to stage_1, not stage 3" in capsys.readouterr().err
    assert taken(db) == []
    assert engine("promote", "--db", str(db), "--stage", "1") == 0
    assert [c.args["stage"] for c in taken(db)] == [1]


def test_promote_refuses_while_the_kill_switch_keeps_the_rollout_demoted(db, capsys):
    set_state(db, "rollout", "demoted", {"stage": 2, "kill_clear": False})
    assert engine("promote", "--db", str(db)) == 1
    assert "would not leave `demoted`" in capsys.readouterr().err
    assert taken(db) == []


def test_a_refused_promotion_says_what_lifts_the_kill_switch_not_the_raw_ctx(db, capsys):
    """QA round 14: the refusal printed `saved ctx {... 'kill_clear': False}`. It gives the spec's
    own reason and, from the kill spec and its saved state, the command that lifts the switch."""
    set_state(db, "rollout", "demoted", {"stage": 1, "kill_clear": False})
    set_state(db, "kill_modes", "halted", {"tripped_by": "manual"})
    assert engine("promote", "--db", str(db)) == 1
    err = capsys.readouterr().err
    assert ("confirming now would not leave `demoted`: the kill switch is still engaged (kill mode `halted`): "
            f"`engine kill --mode resume --specs {SPECS} --db {db}` first (the `rollout` spec: kill switch still "
            "engaged: resume it first)") in err
    assert "ctx" not in err and "kill_clear" not in err
    set_state(db, "rollout", "confirm_stage_2", {"stage": 1, "kill_clear": False})  # a guard alone refuses it
    set_state(db, "kill_modes", "close_only", {"tripped_by": "daily_loss"})
    assert engine("promote", "--db", str(db)) == 1
    err = capsys.readouterr().err
    assert (f"(kill mode `close_only`): `engine kill --mode resume --specs {SPECS} --db {db}` first (the `rollout` "
            "spec: `ctx.kill_clear` is false)") in err
    set_state(db, "kill_modes", "flatten_all", {"tripped_by": "manual"})  # no command lifts it: wait
    assert engine("promote", "--db", str(db)) == 1
    assert "no operator command lifts it from there: wait until the engine moves it on" in capsys.readouterr().err
    assert taken(db) == []


def test_a_refused_decline_says_declining_and_what_answers_instead(db, capsys):
    """`--decline` on `demoted` said "confirming now would not leave": demoted has no decline at all."""
    set_state(db, "rollout", "demoted", {"stage": 1, "kill_clear": True})
    assert engine("promote", "--decline", "--db", str(db)) == 1
    err = capsys.readouterr().err
    assert ("declining now would not leave `demoted`: the `rollout` spec has no `operator_rejected` transition out of "
            f"it; it is answered with `engine promote --specs {SPECS} --db {db}`") in err, err
    assert taken(db) == []


def test_promote_before_any_rollout_snapshot_refuses(tmp_path, capsys):
    path = tmp_path / "engine.db"
    Store.open(path=str(path)).close()
    assert engine("promote", "--db", str(path)) == 1
    assert "no `rollout` snapshot" in capsys.readouterr().err


def test_status_lists_stage_kill_wallets_positions_commands_and_kpis(db, capsys):
    assert engine("kill", "--mode", "close-only", "--db", str(db)) == 0
    capsys.readouterr()
    assert engine("status", "--db", str(db)) == 0
    out = capsys.readouterr().out
    for needle in ("stage: stage_1", "kill mode: normal", "crypto_spot", "forex", "1,025.00", "25.00",
                   "BTC/USDT", "0.02", "42,000", "kill_modes.manual_close_only", "50.0%"):
        assert needle in out
    assert "ETH/USDT" not in out  # flat positions are not open positions


def test_status_json(db, capsys, monkeypatch):
    set_state(db, "rollout", "confirm_stage_2", {"stage": 1})
    set_state(db, "kill_modes", "close_only", {"tripped_by": "daily_loss"})
    monkeypatch.setenv("ENGINE_DB_URL", f"sqlite:///{db}")  # honoured when --db is not given
    assert engine("status", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["stage"] == {"state": "confirm_stage_2", "stage": 1, "awaiting_confirmation": True}
    assert data["kill"] == {"mode": "close_only", "tripped_by": "daily_loss"}
    assert [(w["domain"], w["balance"], w["start_balance"], w["realized_pnl"]) for w in data["wallets"]] == [
        ("crypto_spot", 1025.0, 1000.0, 25.0), ("forex", 1000.0, 1000.0, 0.0)]
    assert [(p["symbol"], p["qty"]) for p in data["positions"]] == [("BTC/USDT", 0.02)]
    assert data["pending_commands"] == []
    assert [(k["domain"], k["trades"], k["sharpe"]) for k in data["kpis"]] == [("crypto_spot", 7, 1.1)]


def test_status_shows_short_positions_and_the_last_kpi_snapshot_per_domain_and_mode(db, capsys):
    """Seed 001 / docs/run-report.md: `engine status` shows every open position, a short (perps,
    forex) as well as a long, and the last KPI snapshot per domain and mode: a promoted run keeps
    one per stage, and the latest is the one shown."""
    with Store.open(path=str(db)) as s:
        put_position(s, Position("XRP-PERP", Domain.CRYPTO_PERP, qty=-150.0, avg_price=0.9))
        s.put_kpis(stage=2, domain="crypto_spot", mode="paper", trades=3, win_rate=0.6, sharpe=0.4,
                   sortino=0.5, max_dd=0.01, profit_factor=1.2, expectancy=1.0)
    assert engine("status", "--db", str(db), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted((p["symbol"], p["qty"]) for p in data["positions"]) == [("BTC/USDT", 0.02), ("XRP-PERP", -150.0)]
    assert [(k["domain"], k["mode"], k["stage"], k["trades"]) for k in data["kpis"]] == [("crypto_spot", "paper", 2, 3)]


def test_status_marks_the_positions_filled_after_the_last_checkpoint(db, capsys):
    """With durability full the store commits each fill, while the brackets shown are the last
    checkpoint's: a run killed after an entry filled showed the position with "open brackets:
    none" under a header saying every figure was the checkpoint's."""
    from engine.run.keys import CHECKPOINT_KEY

    with Store.open(path=str(db)) as s:
        book = {"domain": "crypto_spot", "mode": "paper", "positions": {"BTC/USDT": {"qty": 0.02}}}
        s.put_json(CHECKPOINT_KEY, {"cursor": 1200, "clock": 1516515300.0, "stage": 1, "books": [book]})
        put_position(s, Position("XRP-PERP", Domain.CRYPTO_PERP, qty=-150.0, avg_price=0.9))  # filled since
    assert engine("status", "--db", str(db), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted((p["symbol"], p["after_checkpoint"]) for p in data["positions"]) == [
        ("BTC/USDT", False), ("XRP-PERP", True)]
    assert engine("status", "--db", str(db)) == 0
    out = capsys.readouterr().out
    assert "XRP-PERP: filled after the last checkpoint" in out and "BTC/USDT:" not in out


def test_status_lists_as_pending_only_the_commands_no_engine_took(db, capsys):
    """docs/run-report.md: `pending_commands` are the operator commands not yet taken."""
    assert engine("kill", "--mode", "halt", "--db", str(db)) == 0
    taken(db)  # the engine took it
    assert engine("kill", "--mode", "close-only", "--db", str(db)) == 0
    capsys.readouterr()
    assert engine("status", "--db", str(db), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["command"] for c in data["pending_commands"]] == ["close_only"]


def test_status_lists_a_command_the_stopped_run_claimed_but_never_applied(db, capsys):
    """rev34: a run killed between the checkpoint that claims a command and the one that applies it
    leaves it in the checkpoint only (its control row consumed): status said no command was
    pending, though the resume applies it first."""
    from engine.run.keys import CHECKPOINT_KEY

    assert engine("kill", "--mode", "flatten", "--db", str(db)) == 0
    [cmd] = taken(db)
    with Store.open(path=str(db)) as s:
        s.put_json(CHECKPOINT_KEY, {**s.get_json(CHECKPOINT_KEY), "commands": [
            {"id": cmd.id, "ts": cmd.ts, "command": cmd.command, "args": cmd.args}]})
    assert engine("kill", "--mode", "halt", "--db", str(db)) == 0
    capsys.readouterr()
    assert engine("status", "--db", str(db), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert [(c["command"], c["claimed"]) for c in data["pending_commands"]] == [("flatten", True), ("halt", False)]
    assert engine("status", "--db", str(db)) == 0
    assert "claimed by the stopped run: its resume applies it first" in capsys.readouterr().out


def test_a_bad_db_is_said_before_a_missing_specs(tmp_path, capsys, monkeypatch):
    """rev34: from a folder with no `specs`, `engine kill --db ''` said `--specs specs: no such
    file or folder`: the --db that names no store is the news."""
    monkeypatch.chdir(tmp_path)
    for argv in (["kill", "--mode", "halt"], ["status"], ["promote"], ["move-stop", "--symbol", "X", "--stop", "1"]):
        assert main([*argv, "--db", "mysql://a/b"]) == 2
        err = capsys.readouterr().err
        assert "--db: `mysql://` names no store" in err and "--specs" not in err.split(";")[0], err


def test_kill_posts_the_operators_reason_for_the_audit(db, capsys):
    """`engine kill --reason TEXT`: the text goes with the command (its kill event's reason)."""
    assert engine("kill", "--mode", "halt", "--reason", "exchange outage", "--db", str(db)) == 0
    [cmd] = taken(db)
    assert cmd.args["reason"] == "exchange outage"


def test_status_without_a_store_says_how_to_start(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ENGINE_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # default var/engine.db, relative to the working folder
    assert engine("status") == 1
    captured = capsys.readouterr()
    assert f"no run yet: start one with `engine run --stage 1 --specs {SPECS}`" in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "var").exists()


def test_status_names_each_wallets_currency(tmp_path, capsys):
    """A BTC-quoted pair's wallet of 1,000 is 1,000 BTC, not dollars: the quote of the symbols the
    domain traded (contracts.yaml), "mixed" when they differ, unknown before any trade."""
    path = tmp_path / "engine.db"
    with Store.open(path=str(path)) as s:
        for dom in ("crypto_spot", "forex", "crypto_perp"):
            s.open_wallet(dom, "paper", 1000.0)
        put_position(s, Position("ETH/BTC", Domain.CRYPTO_SPOT, qty=0.5, avg_price=0.05))
        put_position(s, Position("ADA/BTC", Domain.CRYPTO_SPOT, qty=0.0))  # flat, but it traded in BTC too
        put_position(s, Position("GBP/USD", Domain.FOREX, qty=1000.0, avg_price=1.27))
        put_position(s, Position("USD/JPY", Domain.FOREX, qty=0.0))
    assert engine("status", "--db", str(path), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert {w["domain"]: w["quote"] for w in data["wallets"]} == {
        "crypto_spot": "BTC", "forex": "mixed", "crypto_perp": None}
    assert engine("status", "--db", str(path)) == 0
    out = capsys.readouterr().out
    wallets = out[out.index("wallets"):out.index("open positions")]
    assert "currency" in wallets and "BTC" in wallets and "mixed" in wallets


def test_kill_warns_when_the_spec_has_no_transition_from_the_saved_mode(db, capsys):
    # kill_modes is `normal`: the spec's manual_resume leaves only cooldown, close_only and halted.
    assert engine("kill", "--mode", "resume", "--db", str(db)) == 0
    assert [c.command for c in taken(db)] == ["resume"]  # posted: the saved mode may be stale
    err = capsys.readouterr().err
    assert "warning" in err and "ignores `manual_resume` in `normal` (the last saved kill mode) on purpose" in err
    assert "kill_modes.yaml:" in err  # where the spec says why


@pytest.mark.parametrize("state, mode, warned", [
    ("close_only", "close-only", ""),  # an operator's close-only holds a daily-loss one past the day roll
    ("halted", "close-only", "ignores `manual_close_only` in `halted`"),
    ("flatten_all", "halt", "ignores `manual_halt` in `flatten_all`"),
    ("flatten_all", "resume", "ignores `manual_resume` in `flatten_all`"),
    ("flatten_all", "flatten", "")])  # re-sent at once
def test_kill_warns_of_a_command_the_mode_drops_and_of_no_other(db, capsys, state, mode, warned):
    set_state(db, "kill_modes", state, {"tripped_by": "daily_loss"})
    assert engine("kill", "--mode", mode, "--db", str(db)) == 0
    err = capsys.readouterr().err
    assert (warned in err and "will not apply" in err) if warned else err == ""


def test_kill_names_the_guard_a_command_waits_on_and_is_quiet_when_it_applies(db, capsys):
    set_state(db, "kill_modes", "close_only", {"tripped_by": "daily_loss"})
    assert engine("kill", "--mode", "resume", "--db", str(db)) == 0
    assert "only when pnl.daily_loss < params.daily_loss_limit" in capsys.readouterr().err
    assert engine("kill", "--mode", "halt", "--db", str(db)) == 0
    assert capsys.readouterr().err == ""


def test_kill_posts_without_a_warning_when_the_saved_mode_is_not_in_the_spec(db, capsys):
    """Rule (kill.py _inapplicable): a saved kill mode the spec no longer has (a store from an
    older spec) says nothing of what the spec would do: the command is posted, no warning."""
    set_state(db, "kill_modes", "retired_mode", {"tripped_by": "operator"})
    assert engine("kill", "--mode", "resume", "--db", str(db)) == 0
    assert [c.command for c in taken(db)] == ["resume"] and capsys.readouterr().err == ""


def test_kill_names_no_guard_when_an_unguarded_transition_applies_the_command(db, tmp_path, capsys):
    """Rule (kill.py _inapplicable): the guard warning is for a command that applies only when
    a guard holds; where the spec also has an unguarded transition for it from the saved mode, it
    always applies, and saying it waits on a guard would mislead the operator."""
    specs = tmp_path / "specs"
    shutil.copytree(SPECS, specs)
    kill = specs / "kill" / "kill_modes.yaml"
    guarded = "    guard: pnl.daily_loss < params.daily_loss_limit and pnl.drawdown < params.max_drawdown\n"
    text = kill.read_text()
    assert text.count(guarded) == 1
    fallback = ("  - event: manual_resume\n    source: close_only\n    target: halted\n"
                "    description: Outside the limits, a resume halts (a test's spec).\n")
    kill.write_text(text.replace("\nchecks:\n", "\n" + fallback + "\nchecks:\n", 1))
    set_state(db, "kill_modes", "close_only", {"tripped_by": "daily_loss"})
    assert main(["kill", "--mode", "resume", "--db", str(db), "--specs", str(specs)]) == 0
    assert capsys.readouterr().err == ""  # (from cooldown, guarded alone, it is named: the test above)


def test_status_says_whether_an_engine_runs_and_how_current_its_figures_are(unsaved, capsys):
    from engine.run.keys import CHECKPOINT_KEY, FINISHED_KEY

    db = unsaved
    assert engine("status", "--db", str(db), "--json") == 0
    assert json.loads(capsys.readouterr().out)["engine"]["state"] == "never checkpointed"
    with Store.open(path=str(db)) as s:
        s.put_json(CHECKPOINT_KEY, {"cursor": 1200, "clock": 1516515300.0, "stage": 1})
    assert engine("status", "--db", str(db)) == 0
    out = capsys.readouterr().out
    assert "not running, the run did not finish (continue it with `engine run --stage 1 --paper" in out
    assert "bar 1,200, replay time 2018-01-21 06:15:00 UTC" in out
    with RunLock.acquire(f"sqlite:///{db}"):
        assert engine("status", "--db", str(db), "--json") == 0
        got = json.loads(capsys.readouterr().out)["engine"]
    assert got["state"] == "running" and str(os.getpid()) in got["holder"]
    assert got["as_of"] == {"bar": 1200, "time": 1516515300.0}
    with Store.open(path=str(db)) as s:
        s.put_json(FINISHED_KEY, {"run_dir": "runs/x"})
    assert engine("status", "--db", str(db)) == 0
    assert "engine: the run finished (report in runs/x)" in capsys.readouterr().out


def _pasted(text: str) -> list[str]:
    """The `engine run ...` command quoted in `text`, as the shell would split it."""
    import re
    import shlex

    command = re.search(r"`(engine run [^`]*)`", text)
    assert command is not None, text
    return shlex.split(command.group(1))[2:]


def _run_args(argv: list[str]):
    import argparse

    from engine.commands import run

    parser = argparse.ArgumentParser()
    run.add_arguments(parser)
    return parser.parse_args(argv)  # exits (argparse) on what `engine run` would refuse as usage


def test_status_kill_and_promote_print_a_resume_command_that_pastes(db, tmp_path, capsys):
    """`engine run --resume` alone was printed, and `engine run` requires --stage: pasting it failed."""
    from engine.run.keys import CHECKPOINT_KEY

    with Store.open(path=str(db)) as s:
        s.put_json(CHECKPOINT_KEY, {"cursor": 1200, "clock": 1516515300.0, "stage": 2})
    set_state(db, "rollout", "confirm_stage_2", {"stage": 1})
    cfg = tmp_path / "run config.yaml"  # a space: the command must quote it
    cfg.write_text(f"db: {db}\n")
    assert engine("status", "--config", str(cfg)) == 0
    assert engine("kill", "--mode", "halt", "--config", str(cfg)) == 0
    assert engine("promote", "--config", str(cfg)) == 0
    out = capsys.readouterr().out.split("\n")
    printed = [_pasted(line) for line in out if "engine run" in line]
    assert len(printed) == 3 and printed[0] == printed[1] == printed[2]
    args = _run_args(printed[0])
    assert (args.stage, args.resume, args.paper, args.live) == (2, True, True, False)
    assert (args.config, args.db, args.specs) == (str(cfg), None, [SPECS])
    set_routing(db, paper=False)
    assert engine("status", "--db", str(db), "--json") == 0
    args = _run_args(_pasted(f"`{json.loads(capsys.readouterr().out)['engine']['resume']}`"))
    assert (args.stage, args.paper, args.db, args.config) == (2, False, str(db), None)


def test_the_resume_command_masks_a_database_password() -> None:
    import argparse

    from engine.run.keys import CHECKPOINT_KEY

    class Saved:
        def get_json(self, key: str) -> dict | None:
            return {"stage": 3} if key == CHECKPOINT_KEY else None

    url = "postgresql+psycopg2://engine:s3cret@db.example/engine"
    args = argparse.Namespace(db=url, config=None, specs="specs")
    command = status.resume_command(Saved(), args)
    assert "s3cret" not in command and "engine:***@db.example" in command and command.startswith("engine run --stage 3")


def test_engine_runs_suggested_commands_mask_a_database_password() -> None:
    """The Ctrl-C hint and the --paper suggestion are built by one function: neither prints a
    password given in --db."""
    from engine.commands import run

    parser = argparse.ArgumentParser()
    run.add_arguments(parser)
    args = parser.parse_args(["--stage", "2", "--db", "postgresql+psycopg2://engine:s3cret@db.example/engine"])
    for line in (run.resume_command_of(args), run._paper_command(args)):
        assert "s3cret" not in line and "engine:***@db.example" in line


@pytest.mark.parametrize("argv", [("kill", "--mode", "close-only"), ("promote",)])
def test_a_command_no_engine_would_take_is_refused(unsaved, capsys, argv):
    """No engine runs and no run checkpointed: a fresh run archives the store, so a queued command
    was lost unseen. Refused, nothing posted; with an engine running it is posted."""
    set_state(unsaved, "rollout", "confirm_stage_2", {"stage": 1})
    assert engine(*argv, "--db", str(unsaved)) == 1
    assert "nothing was posted" in capsys.readouterr().err and taken(unsaved) == []
    with RunLock.acquire(f"sqlite:///{unsaved}"):
        assert engine(*argv, "--db", str(unsaved)) == 0
    assert len(taken(unsaved)) == 1


def set_gate(path: Path, domain: str, state: str) -> None:
    """A domain's gate as the running engine saves it (instance `gate:<domain>`)."""
    with Store.open(path=str(path)) as s:
        s.save_snapshots([("model_promotion", f"gate:{domain}", "h", {
            "format": 1, "machine": "model_promotion", "spec_hash": "h", "id": f"gate:{domain}", "state": state,
            "ctx": {"shadow_done": True, "canary_period_done": False, "degradations": 0}, "done": False,
            "timers": []})])


def test_degrade_posts_the_gate_specs_command_for_that_domains_gate_only(db, capsys):
    """The gate spec's `degrade` command had no way in: an operator could not send a model back."""
    set_gate(db, "crypto_spot", "canary")
    assert engine("degrade", "--domain", "crypto_spot", "--db", str(db), "--reason", "slippage too high") == 0
    [cmd] = taken(db)
    assert cmd.command == "degrade"
    assert cmd.args == {"machine": "model_promotion", "instance": "gate:crypto_spot", "event": "degrade_to_paper",
                        "reason": "slippage too high"}
    captured = capsys.readouterr()
    assert "gate:crypto_spot" in captured.out and captured.err == ""


def test_degrade_warns_from_a_state_the_spec_does_not_degrade_and_refuses_an_unknown_gate(db, capsys):
    set_gate(db, "crypto_spot", "paper")
    assert engine("degrade", "--domain", "crypto_spot", "--db", str(db)) == 0  # posted: the saved state may be old
    assert "does not degrade from `paper`" in capsys.readouterr().err and len(taken(db)) == 1
    assert engine("degrade", "--domain", "forex", "--db", str(db)) == 1
    assert "no gate of forex in the store" in capsys.readouterr().err and taken(db) == []


def test_promote_domain_answers_that_gate_and_only_in_the_state_the_operator_saw(db, capsys):
    """NEVER_SENT found it: nothing sent the gate's operator_confirmed, so a model that passed its
    shadow run waited in awaiting_confirmation for ever and never reached its canary."""
    set_gate(db, "crypto_spot", "awaiting_confirmation")
    assert engine("promote", "--domain", "crypto_spot", "--db", str(db), "--reason", "shadow looked fine") == 0
    assert engine("promote", "--domain", "crypto_spot", "--decline", "--db", str(db)) == 0
    confirm, decline = taken(db)
    assert (confirm.command, decline.command) == ("confirm_canary", "decline_canary")
    assert confirm.args == {"machine": "model_promotion", "instance": "gate:crypto_spot", "event": "operator_confirmed",
                            "expect_state": "awaiting_confirmation", "expect_timers": [],
                            "reason": "shadow looked fine"}
    assert decline.args["event"] == "operator_rejected" and "gate:crypto_spot" in capsys.readouterr().out


def test_promote_domain_refuses_a_gate_that_awaits_nothing_and_a_stage(db, capsys):
    set_gate(db, "crypto_spot", "shadow")
    assert engine("promote", "--domain", "crypto_spot", "--db", str(db)) == 1
    assert "gate:crypto_spot is in `shadow`" in capsys.readouterr().err and taken(db) == []
    assert engine("promote", "--domain", "crypto_spot", "--stage", "2", "--db", str(db)) == 2
    assert "--domain answers a gate" in capsys.readouterr().err and taken(db) == []


def test_status_shows_each_gate_and_the_command_a_waiting_one_needs(db, capsys):
    set_gate(db, "crypto_spot", "awaiting_confirmation")
    set_gate(db, "forex", "shadow")
    assert engine("status", "--db", str(db)) == 0
    out = capsys.readouterr().out
    assert "gate:crypto_spot (model_promotion) awaits the operator in `awaiting_confirmation`" in out
    assert f"promote --domain crypto_spot --specs {SPECS} --db {db}` (or `--decline`)" in out
    assert "promote --domain forex" not in out
    assert engine("status", "--db", str(db), "--json") == 0
    gates = json.loads(capsys.readouterr().out)["gates"]
    assert [(g["gate"], g["state"], g["awaiting_confirmation"]) for g in gates] == [
        ("gate:crypto_spot", "awaiting_confirmation", True), ("gate:forex", "shadow", False)]


@pytest.mark.parametrize("command", [("status",), ("kill", "--mode", "flatten")])
def test_a_store_an_engine_is_still_starting_on_says_so(tmp_path, capsys, command):
    """While a starting engine holds the run lock, before its tables exist, these said `no run yet:
    start one with engine run ...`, a command that cannot start while that engine holds the lock."""
    db = tmp_path / "engine.db"
    with RunLock.acquire(f"sqlite:///{db}"):
        assert engine(*command, "--db", str(db)) == 1
    err = capsys.readouterr().err
    assert f"an engine (pid {os.getpid()} since " in err and "give the command again in a moment" in err
    assert "no run yet" not in err


def test_a_folder_for_the_store_is_a_usage_error(tmp_path, capsys):
    """It said `no run yet: start one with engine run --stage 1 --db DIR`, exit 1; that run refuses a folder."""
    (tmp_path / "adir").mkdir()
    assert engine("status", "--db", str(tmp_path / "adir")) == 2
    assert f"{tmp_path / 'adir'} is a folder, not a state store" in capsys.readouterr().err


def test_a_relative_store_path_missed_from_another_folder_names_where_it_looked(tmp_path, monkeypatch, capsys):
    """rev31: `engine kill --config run.yaml` (db: rel.db) typed in another folder than the run's
    said `no run yet ... (no store at rel.db)` while that run traded: relative to what was unsaid."""
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert engine("kill", "--mode", "flatten", "--db", "rel.db") == 1
    err = capsys.readouterr().err
    assert f"no store at {tmp_path / 'elsewhere' / 'rel.db'}, which `rel.db` names from the current folder" in err
    assert "a run started in another folder keeps its store there" in err


@pytest.mark.parametrize("command", [("status",), ("kill", "--mode", "flatten")])
def test_a_store_below_a_file_is_a_usage_error_from_any_folder(tmp_path, monkeypatch, capsys, command):
    """rev29: `--db afile/x.db` said `no run yet: start one with engine run ... --db afile/x.db`, a run
    that cannot make its store there; from a folder without specs, that --specs was missing."""
    (tmp_path / "afile").write_text("")
    monkeypatch.chdir(tmp_path)
    assert engine(*command, "--db", "afile/sub/x.db") == 2
    err = capsys.readouterr().err
    assert "no store can be at afile/sub/x.db: afile is a file, not a folder" in err
    assert "no run yet" not in err and "--specs" not in err


@pytest.mark.parametrize("command", [("kill", "--mode", "halt"), ("status",)])
def test_an_operator_command_from_a_folder_without_specs_reads_the_runs(db, tmp_path, monkeypatch, capsys, command):
    """From another folder `engine kill` was refused (`--specs specs: no such file`) before it read the
    store, which records the spec folders its run was started with."""
    from engine.run.keys import CONFIG_FILE_KEY

    with Store.open(path=str(db)) as s:
        s.put_json(CONFIG_FILE_KEY, {"path": None, "specs": [SPECS], "cwd": str(tmp_path)})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main([*command, "--db", str(db)]) == 0, capsys.readouterr().err
    assert f"--specs {SPECS}" in capsys.readouterr().out


@pytest.mark.parametrize("command", [("kill", "--mode", "halt"), ("status",), ("promote",), ("degrade", "--domain", "forex"),
                                     ("move-stop", "--symbol", "X", "--stop", "1")])
def test_a_store_that_cannot_be_opened_from_a_folder_without_specs_says_so(tmp_path, monkeypatch, capsys, command):
    """rev26: a store it could not open (a bad password, a closed port) was reported as
    `--specs specs: no such file or folder`: the look for the run's specs swallowed the error."""
    bad = tmp_path / "engine.db"
    bad.write_bytes(b"this is no SQLite database, whatever its name says" * 100)
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--db", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "--specs" not in err and str(bad) in err, err


@pytest.mark.parametrize("command", [("kill", "--mode", "halt"), ("status",), ("promote",), ("degrade", "--domain", "forex"),
                                     ("move-stop", "--symbol", "X", "--stop", "1")])
@pytest.mark.parametrize("made", [False, True], ids=["no file", "no tables"])
def test_a_store_no_run_made_from_a_folder_without_specs_says_no_run(tmp_path, monkeypatch, capsys, command, made):
    """A run killed while it started leaves no store (or one without tables): from another folder
    the commands said `--specs specs: no such file or folder`, not that there is no run there."""
    none = tmp_path / "engine.db"
    if made:
        none.touch()
    monkeypatch.chdir(tmp_path)
    assert main([*command, "--db", str(none)]) == 1
    err = capsys.readouterr().err
    assert "no run yet" in err and "--specs specs" not in err, err
    assert f"hint: {SPECS} is the engine's own" in err, err


@pytest.mark.parametrize("where", ["operator .env", "run folder .env too", "shell"])
def test_a_resume_found_through_this_folders_env_names_its_store(db, tmp_path, capsys, monkeypatch, where):
    """ENGINE_DB_URL read from `.env` here does not follow the resume's `cd` to the run's folder:
    the printed resume had no --db, so pasted it opened the run folder's default store ("nothing
    to resume") and a queued kill was never applied. A shell export, or the same line in the run
    folder's `.env`, goes with it: no --db then."""
    from engine import envfile
    from engine.run.keys import CONFIG_FILE_KEY

    run_dir, op = tmp_path / "run", tmp_path / "op"
    run_dir.mkdir()
    op.mkdir()
    with Store.open(path=str(db)) as s:
        s.put_json(CONFIG_FILE_KEY, {"specs": [SPECS], "cwd": str(run_dir)})
    line = f"ENGINE_DB_URL=sqlite:///{db}\n"
    (op / ".env").write_text(line)
    if where == "run folder .env too":
        (run_dir / ".env").write_text(line)
    monkeypatch.setattr(envfile, "_loaded", {})
    monkeypatch.delenv("PYTHON_DOTENV_DISABLED")  # tests/conftest.py turns .env off for the suite
    monkeypatch.setenv("ENGINE_DB_URL", f"sqlite:///{db}")  # so that teardown removes what .env sets
    if where != "shell":
        monkeypatch.delenv("ENGINE_DB_URL")
    monkeypatch.chdir(op)
    assert engine("status", "--specs", SPECS, "--json") == 0
    resume = json.loads(capsys.readouterr().out)["engine"]["resume"]
    assert resume.startswith(f"cd {run_dir} && ")
    args = _run_args(_pasted(f"`{resume.split(' && ', 1)[1]}`"))
    assert args.resume and args.db == (str(db) if where == "operator .env" else None), resume


def test_promote_on_a_store_that_lost_its_snapshots_says_it_is_damaged(db, capsys) -> None:
    """SQLite may read a damaged page as no rows, without raising: a store with a checkpoint but
    no rollout snapshot (every checkpoint saves one) was told "the engine has not run a stage"."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM machine_snapshots")
    conn.close()
    assert engine("promote", "--db", str(db)) == 1
    err = capsys.readouterr().err
    assert "has a checkpoint but no `rollout` snapshot" in err and "damaged" in err, err


# -- a run that finishes: a command it would never take is refused, never lost -----------------
def test_a_command_to_a_run_past_its_last_poll_is_refused(db, capsys):
    """rev28: `engine kill` posted while the engine wrote its report was accepted ("the running
    engine acts on it") and never applied; status listed it as pending for good."""
    from engine.run.keys import CLOSING_KEY

    with Store.open(path=str(db)) as s:
        s.put_json(CLOSING_KEY, True)  # as the engine sets it before its last poll
    with RunLock.acquire(f"sqlite:///{db}"):  # ... and still runs
        assert engine("kill", "--db", str(db), "--mode", "halt") == 1
    assert "processed its last bar and is writing its report" in capsys.readouterr().err
    assert taken(db) == []


def test_a_command_to_a_run_killed_past_its_last_poll_waits_for_its_resume(db, capsys):
    """rev34: a run SIGKILLed after marking itself closing, before its report, left the mark: `engine
    kill` said the (dead) run "is writing its report" and refused, while `--resume` re-runs from
    the last checkpoint and polls again."""
    from engine.run.keys import CLOSING_KEY

    with Store.open(path=str(db)) as s:
        s.put_json(CLOSING_KEY, True)
    assert engine("kill", "--db", str(db), "--mode", "halt") == 0
    err = capsys.readouterr().err
    assert "writing its report" not in err and "withdrawn" not in err, err
    assert [c.command for c in taken(db)] == ["halt"]


@pytest.mark.parametrize("engine_polls_first", [False, True])
def test_a_command_that_races_the_last_poll_is_taken_or_withdrawn(db, capsys, monkeypatch, engine_polls_first):
    """The engine sets the closing mark between the command's first check and its post: either its
    last poll took the command (applied), or the command is withdrawn and refused: never both,
    never neither."""
    from engine.run.keys import CLOSING_KEY

    post = Store.post_command

    def racing(self, name, args=None):  # the engine's mark (and maybe its poll) land right after the post
        command_id = post(self, name, args)
        self.put_json(CLOSING_KEY, True)
        self.commit()
        if engine_polls_first:
            assert [c.id for c in self.take_commands()] == [command_id]
        return command_id

    monkeypatch.setattr(Store, "post_command", racing)
    with RunLock.acquire(f"sqlite:///{db}"):
        code = engine("kill", "--db", str(db), "--mode", "halt")
    err = capsys.readouterr().err
    if engine_polls_first:
        assert code == 0 and "withdrawn" not in err
    else:
        assert code == 1 and "so the command was withdrawn (#1)" in err
    with Store.open(path=str(db)) as s:
        assert [c for c in s.commands() if c.consumed_ts is None] == []  # nothing left pending for ever
