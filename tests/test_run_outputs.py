"""What a run's outputs say about it, for what QA found in them: the stages a run went through
(no stage before activation, a demotion noted), the bar rate of a resumed run, the journal
export's last row, the documented exit reasons and rejection rules, a domain with no data."""
from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.run.report import equity_figure, report_dict
from engine.run.result import DomainResult, RunResult
from run_support import Checker, Scenario, build, write_env_override

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "run-report.md").read_text()
T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z
SPOT = ("crypto_spot/ETH_BTC-5m",)
ONE = "data:\n  crypto_spot:\n    datasets: [crypto_spot/ETH_BTC-5m]\n    primary: 15m\n    confirm: 5m\n"


def doc_row(key: str) -> str:
    """The docs' table row of `key` (report.json key or trades.csv column)."""
    [row] = [line for line in DOC.splitlines() if line.startswith(f"| `{key}` |")]
    return row


# -- the stage log -----------------------------------------------------------------------

def test_a_run_started_in_stage_3_went_through_stage_3_only(tmp_path: Path) -> None:
    """The rollout's initial state, before `activate`, is no stage: nothing of stage 1 (ctx.stage's
    default) reaches the stage log, the report, the KPIs per stage or the store's snapshots."""
    sc = Scenario(stage=3, datasets=SPOT, offset=0, bars=60, seed=1, partial_fill_prob=0.0, slippage_bps=0.0,
                  max_hold_s=3600.0)
    runner = build(sc, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    runner.run()
    result = runner.result(0.0)
    assert [e[1:] for e in ses.stage_log] == [(3, "stage_3")]
    report = report_dict(result, {})
    assert [(s["stage"], s["state"]) for s in report["stages"]] == [(3, "stage_3")]
    assert {d: list(v["kpis_by_stage"]) for d, v in report["domains"].items()} == {
        "crypto_spot": ["3"], "crypto_perp": ["3"], "forex": ["3"]}
    assert {k.stage for k in ses.store.kpis()} == {3}
    ses.store.close()


def test_a_demotion_by_the_kill_switch_adds_an_entry_for_the_stage_whose_parameters_still_apply(
        tmp_path: Path) -> None:
    """max_drawdown at its spec minimum: the flips trip it, the kill switch flattens, the rollout
    is demoted. `stages` says when; the demoted spell's trades and KPIs stay the stage's own."""
    sc = Scenario(stage=1, datasets=SPOT, offset=0, bars=400, seed=1, partial_fill_prob=0.0, slippage_bps=0.0,
                  max_hold_s=3600.0, flip_every=6)
    ovr = write_env_override(tmp_path / "ovr", wallet=1000.0, values={"kill_modes": {"max_drawdown": 0.001}})
    runner = build(sc, tmp_path, ovr, Checker())
    ses = runner.session
    runner.run()
    result = runner.result(0.0)
    ses.store.close()
    assert ses.rollout.state == "demoted"
    [flatten] = [e for e in ses.kill_events if e["to"] == "flatten_all"]
    report = report_dict(result, {})
    assert [(s["stage"], s["state"]) for s in report["stages"]] == [(1, "stage_1"), (1, "demoted")]
    assert report["stages"][1]["from"] == report_dict(result, {})["kill_events"][-2]["ts"]
    assert ses.stage_log[1][0] == flatten["ts"]
    assert list(report["domains"]["crypto_spot"]["kpis_by_stage"]) == ["1"]


def test_the_journal_holds_every_kill_event_in_order(tmp_path: Path) -> None:
    """docs/run-report.md: journal.jsonl holds every kill event, as report.json's `kill_events`
    lists them; the cooldown and its lifts, which no spec action journals, included."""
    sc = Scenario(stage=1, datasets=SPOT, offset=0, bars=400, seed=1, partial_fill_prob=0.0, slippage_bps=0.0,
                  max_hold_s=3600.0, flip_every=6)
    ovr = write_env_override(tmp_path / "ovr", wallet=1000.0, values={"kill_modes": {"max_drawdown": 0.001}})
    runner = build(sc, tmp_path, ovr, Checker())
    ses = runner.session
    try:
        runner.run()
        rows = [(e.ts, e.key, e.payload["from"], e.payload["event"], e.reason) for e in ses.store.journal_entries("kill")]
    finally:
        ses.store.close()
    assert {"cooldown", "flatten_all"} <= {e["to"] for e in ses.kill_events}
    assert rows == [(e["ts"], e["to"], e["from"], e["event"], e["reason"]) for e in ses.kill_events]


def test_open_positions_are_positions_held_not_brackets(tmp_path: Path) -> None:
    """report.json's `open_positions` is what the domain holds at the end (docs/run-report.md), and
    equity.png's title says so: an entry sent at the last bar, not yet filled, holds nothing
    (review 8: it counted brackets, so it said 1)."""
    sc = Scenario(stage=1, datasets=(*SPOT, "crypto_spot/LTC_BTC-5m"), offset=0, bars=400, seed=1,
                  partial_fill_prob=0.0, slippage_bps=0.0, max_hold_s=3600.0, flip_every=6)
    runner = build(sc, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    runner.run(limit=276)
    ses = runner.session
    [working] = ses.execution.brackets.values()
    assert working.instance.state == "entry_working" and not ses.venue.positions()
    assert runner.result(0.0).domains["crypto_spot"].open_positions == 0
    runner.run(limit=277)  # the entry filled at the next bar's open
    assert runner.result(0.0).domains["crypto_spot"].open_positions == 1
    ses.store.close()


def test_a_reinstatement_adds_an_entry_and_a_pending_confirmation_none(tmp_path: Path) -> None:
    sc = Scenario(stage=1, datasets=SPOT, offset=0, bars=60, seed=1, partial_fill_prob=0.0, slippage_bps=0.0,
                  max_hold_s=3600.0)
    runner = build(sc, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    runner.run(limit=20)
    for name in ("halt", "resume"):  # what `engine kill` posts, taken as the running engine would
        ses.store.post_command(name)
        runner.poll_commands()
    runner.run(limit=40)
    ses.store.post_command("promote", {"machine": "rollout", "event": "operator_confirmed", "expect_state": "demoted",
                                       "stage": None, "reason": "operator"})
    runner.poll_commands()
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "candidate"})  # awaits the operator
    runner.run()
    ses.store.close()
    assert ses.rollout.state == "confirm_stage_2"
    assert [e[1:] for e in ses.stage_log] == [(1, "stage_1"), (1, "demoted"), (1, "stage_1")]


# -- the run directory of a real run, resumed ------------------------------------------------

@pytest.fixture(scope="module")
def resumed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stage-1 run on one data set stopped after 120 bars, then resumed to its end."""
    tmp = tmp_path_factory.mktemp("resumed")
    (tmp / "run.yaml").write_text(ONE)
    env = {k: v for k, v in os.environ.items() if k not in ("ENGINE_DB_URL", "ENABLE_LIVE_TRADING")}
    base = [sys.executable, "-m", "engine.cli", "run", "--stage", "1", "--no-progress", "--config",
            str(tmp / "run.yaml"), "--db", str(tmp / "engine.db"), "--run-dir", str(tmp / "run")]
    for extra in (["--max-bars", "120"], ["--resume"]):
        done = subprocess.run(base + extra, cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    return tmp


def test_a_resumed_run_reports_the_rate_of_the_bars_it_processed(resumed: Path) -> None:
    report = json.loads((resumed / "run" / "report.json").read_text())
    assert report["resumed_at_bar"] == 120 and report["bars"] > 120
    assert report["bars_per_second"] == pytest.approx((report["bars"] - 120) / report["elapsed_s"])


def test_a_zero_length_or_fresh_run_keeps_its_rate_rules() -> None:
    run = RunResult(stage=1, run_dir=Path("run"), started=T0, finished=T0 + 2.0, bars=500, domains={})
    assert report_dict(run, {})["bars_per_second"] == 250 and report_dict(run, {})["resumed_at_bar"] == 0
    run.resumed_at_bar = 400
    assert report_dict(run, {})["bars_per_second"] == 50


def test_the_journal_export_ends_with_the_stores_last_row(resumed: Path) -> None:
    lines = (resumed / "run" / "journal.jsonl").read_text().splitlines()
    with sqlite3.connect(resumed / "engine.db") as conn:
        rows = conn.execute("SELECT count(*), max(seq) FROM journal").fetchone()
    last = json.loads(lines[-1])
    assert (len(lines), last["seq"]) == rows
    assert (last["kind"], last["key"]) == ("kv", "run/finished")
    assert [json.loads(line)["seq"] for line in lines] == sorted({json.loads(line)["seq"] for line in lines})


# -- the docs say what the outputs hold -----------------------------------------------------

def _exit_reasons() -> set[str]:
    """Every exit reason the code and the bracket spec can give a trade."""
    handles = (ROOT / "engine/exec/handles.py").read_text()
    loop = (ROOT / "engine/run/loop.py").read_text()
    bracket = (ROOT / "specs/orders/bracket.yaml").read_text()
    found = {*re.findall(r'self\.legs\["(\w+)"\] =', handles),  # the legs
             *re.findall(r'_close_now\([^,]+, "([^"]+)"\)', handles),  # close-outs after the bracket closed
             *re.findall(r'exit_whys\.get\(order\.id, "(\w+)"\)', handles),  # an exit it sent for no reason known
             *re.findall(r'ex\.exit\(b, "(\w+)"\)', loop),  # the engine's exits
             *re.findall(r'exit_reason or "(\w+)"', loop),
             *re.findall(r"close_position: \{reason: \"'([^']+)'\"\}", bracket)}  # the spec's close-outs
    assert {"take_profit", "stop_loss", "signal", "max_hold", "kill switch flatten"} <= found  # the patterns hold
    return found


def test_every_exit_reason_is_documented() -> None:
    row = doc_row("exit_reason")
    assert not {r for r in _exit_reasons() if f"`{r}`" not in row}


def test_the_rejections_key_names_every_rule_that_is_not_a_risk_rule() -> None:
    loop = (ROOT / "engine/run/loop.py").read_text()
    decide = (ROOT / "engine/run/decide.py").read_text()
    rules = {*re.findall(r'_refused\([\w.]+, "(\w+)"', loop), *re.findall(r'_once\(sym, \("(\w+)"', decide)}
    rules |= set(re.findall(r'refusal=\("(\w+)"', decide))  # the ML filter's verdict
    assert rules >= {"rollout", "confirmation", "allowlist", "ml_filter"}
    row = doc_row("rejections")
    assert not {r for r in rules if f"`{r}`" not in row} and "risk rule → number of orders" not in row


def test_the_rejections_key_names_every_rule_of_the_risk_chain() -> None:
    """QA D7: `active_symbol` rejections appeared in report.json and in no doc (the list ended `...`)."""
    guards = "\n".join(p.read_text() for p in (ROOT / "engine/risk").glob("*.py"))
    rules = {*re.findall(r'Rejection\(\s*"(\w+)"', guards), *re.findall(r'_exposure\(\s*"(\w+)"', guards)}
    assert rules >= {"active_symbol", "kill_mode", "exposure_pair"}
    row = doc_row("rejections")
    assert {r for r in rules if f"`{r}`" not in row} == set()


def test_a_stage_domain_with_no_dataset_gets_a_note() -> None:
    from engine.run.assemble import stage_series
    from engine.run.config import load_config
    from engine.run.optin import Routing

    notes: list[str] = []
    assert stage_series(load_config(), Routing({"crypto_spot": "off", "forex_options": "paper"}, (), ()), 14,
                        notes) == []
    [note] = notes
    assert note.startswith("forex_options is not traded") and "data.forex_options.datasets" in note


# -- equity.png ----------------------------------------------------------------------------

def _run(domains: dict[str, DomainResult], equity: dict) -> RunResult:
    return RunResult(stage=4, run_dir=Path("run"), started=T0, finished=T0 + 2.0, bars=10, domains=domains,
                     equity=equity)


def _titles(fig) -> dict[str, str]:
    return {ax.get_title(loc="left").split(" ")[0]: ax.get_title(loc="left") for ax in fig.axes
            if ax.get_title(loc="left")}


def test_a_panel_with_a_position_open_titles_its_marked_equity_and_says_so() -> None:
    curve = [(T0, 1000.0), (T0 + 60, 999.95), (T0 + 120, 999.82)]
    fig = equity_figure(_run({"crypto_spot": DomainResult("crypto_spot", "paper", 1000.0, 999.91, 1)},
                             {"crypto_spot": curve}))
    title = _titles(fig)["crypto_spot"]
    assert "1,000.00 -> 999.82" in title and "1 position open" in title and "cash 999.91" in title


def test_a_domain_without_data_gets_no_line_but_a_label() -> None:
    fig = equity_figure(_run({"crypto_spot": DomainResult("crypto_spot", "paper", 1000.0, 1000.0, 0),
                              "forex_options": DomainResult("forex_options", "paper", 1000.0, 1000.0, 0)},
                             {"crypto_spot": [(T0, 1000.0), (T0 + 60, 1000.0)]}))
    [ax] = [ax for ax in fig.axes if ax.get_title(loc="left").startswith("forex_options")]
    assert not ax.lines and "no data" in ax.get_title(loc="left")
    assert [t.get_text() for t in ax.texts] == ["no bars of this domain in the run"]
