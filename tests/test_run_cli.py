"""engine run: live legs need the triple opt-in (a clear refusal otherwise); --paper runs them on paper."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cli_support import after_word
from engine.run.optin import ENV_VAR, OptInError, route

ROOT = Path(__file__).resolve().parents[1]
STAGE2 = {"crypto_spot": "live", "crypto_perp": "off", "forex": "off", "forex_options": "off"}


def _engine(tmp: Path, *args: str, env: dict | None = None, db: bool = True) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("ENGINE_DB_URL", ENV_VAR)}
    where = ["--db", str(tmp / "engine.db")] if db else []  # --db beats ENGINE_DB_URL
    return subprocess.run([sys.executable, "-m", "engine.cli", "run", *args, *where,
                           "--run-dir", str(tmp / "run"), "--no-progress"], cwd=ROOT, capture_output=True,
                          text=True, env={**base, **(env or {})}, timeout=600)


def test_stage_2_without_opt_in_names_all_three_switches_and_paper(tmp_path: Path) -> None:
    done = _engine(tmp_path, "--stage", "2")
    assert done.returncode == 1
    msg = done.stderr
    for needle in ("execution.trading_enabled: true", "--live", f"{ENV_VAR}=1"):
        assert needle in msg, needle
    assert after_word(msg.split("Or run `")[1].split("`")[0])[:4] == ["run", "--stage", "2", "--paper"], msg
    assert "Traceback" not in msg and not (tmp_path / "run").exists()


def test_the_paper_suggestion_keeps_resume_and_the_database(tmp_path: Path) -> None:
    done = _engine(tmp_path, "--stage", "2", "--resume")
    assert done.returncode == 1
    paper = done.stderr.split("Or run `")[1].split("`")[0]
    assert " ".join(after_word(paper)) == (f"run --stage 2 --paper --db {tmp_path / 'engine.db'} --run-dir "
                                           f"{tmp_path / 'run'} --no-progress --resume"), done.stderr


def test_the_refusal_names_all_three_switches_and_marks_the_missing_one() -> None:
    with pytest.raises(OptInError) as e:
        route(2, STAGE2, config_enabled=True, live_flag=False, paper_flag=False, environ={ENV_VAR: "1"})
    lines = str(e.value).splitlines()
    assert lines[1].startswith("  - config: `execution.trading_enabled: true`") and lines[1].endswith(": set")
    assert "--live" in lines[2] and lines[2].endswith(": MISSING")
    assert f"export {ENV_VAR}=1" in lines[3] and lines[3].endswith(": set")
    assert "--paper" in lines[4]
    ok = route(2, STAGE2, config_enabled=True, live_flag=True, paper_flag=False, environ={ENV_VAR: "1"})
    assert ok.live_domains == ("crypto_spot",)
    paper = route(2, STAGE2, config_enabled=False, live_flag=False, paper_flag=True, environ={})
    assert paper.modes["crypto_spot"] == "paper" and paper.paper_routed == ("crypto_spot",)


@pytest.mark.parametrize("value", ["0", "true", "", "yes", " 1"])
def test_the_env_opt_in_must_be_exactly_1_not_merely_set(value: str) -> None:
    # an operator who sets ENABLE_LIVE_TRADING=0 to switch live off must not get live
    with pytest.raises(OptInError) as e:
        route(2, STAGE2, config_enabled=True, live_flag=True, paper_flag=False, environ={ENV_VAR: value})
    env = [line for line in str(e.value).splitlines() if f"export {ENV_VAR}=1" in line]
    assert env == [f"  - environment: `export {ENV_VAR}=1` in this shell (it is {value!r}: only `1` opts in): MISSING"]
    ok = route(2, STAGE2, config_enabled=True, live_flag=True, paper_flag=False, environ={ENV_VAR: "1"})
    assert ok.live_domains == ("crypto_spot",)


SWITCHES = {"config": "trading_enabled", "flag": "--live", "env": f"{ENV_VAR}=1"}


@pytest.mark.parametrize("config,flag,env", [(c, f, v) for c in (False, True) for f in (False, True)
                                             for v in (False, True) if not (c and f and v)])
def test_each_missing_opt_in_refuses_and_is_marked_among_the_three(config: bool, flag: bool, env: bool) -> None:
    with pytest.raises(OptInError) as e:
        route(2, STAGE2, config_enabled=config, live_flag=flag, paper_flag=False,
              environ={ENV_VAR: "1"} if env else {})
    msg = str(e.value)
    for name, present in (("config", config), ("flag", flag), ("env", env)):
        [line] = [line for line in msg.splitlines() if SWITCHES[name] in line]
        assert line.endswith(": set" if present else ": MISSING"), (name, msg)


def test_all_three_opt_ins_still_refuse_without_a_live_adapter(tmp_path: Path) -> None:
    cfg = tmp_path / "live.yaml"
    cfg.write_text("execution: {trading_enabled: true}\n")
    done = _engine(tmp_path, "--stage", "2", "--live", "--config", str(cfg), env={ENV_VAR: "1"})
    assert done.returncode == 1 and "no" in done.stderr and "--paper" in done.stderr


def test_stage_2_with_paper_runs_and_writes_its_run_directory(tmp_path: Path) -> None:
    done = _engine(tmp_path, "--stage", "2", "--paper", "--max-bars", "400")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["stage"] == 2 and report["domains"]["crypto_spot"]["mode"] == "paper"
    assert report["final_stage_state"] == "stage_2"
    assert report["environment"]["env"] == "paper" and report["domains"]["crypto_spot"]["quote"] == "BTC"
    for name in ("report.json", "trades.csv", "equity.png", "audit.jsonl", "journal.jsonl"):
        assert (tmp_path / "run" / name).is_file(), name


def test_a_bad_run_config_is_reported_at_its_line_without_a_traceback(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("seed: 7\ndurability: sometimes\n")
    done = _engine(tmp_path, "--stage", "1", "--config", str(cfg))
    assert done.returncode == 1
    assert f"{cfg}:2:" in done.stderr and "durability" in done.stderr and "Traceback" not in done.stderr


def test_stage_3_refuses_entries_under_one_lot_in_the_risk_chain(tmp_path: Path) -> None:
    """A $1,000 perp wallet in canary (2%) cannot buy one 0.001 BTC lot at ~$43k: min_size refuses
    each such signal with its numbers, and no order of nothing reaches the venue."""
    done = _engine(tmp_path, "--stage", "3", "--paper")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["rejections"].get("min_size", 0) > 0 and report["venue_rejections"] == 0
    with sqlite3.connect(tmp_path / "engine.db") as db:
        intents = [json.loads(p) for (p,) in db.execute("SELECT payload FROM journal WHERE kind = 'intent'")]
        refusals = [json.loads(p) for (p,) in db.execute(
            "SELECT payload FROM journal WHERE kind = 'signal_rejected' AND key = 'BTC-PERP'")]
    assert intents and all(i["qty"] > 0 for i in intents)
    lots = [r["numbers"] for r in refusals if r["rule"] == "min_size"]
    assert lots and all(n["qty"] == 0.0 and n["step"] == 0.001 for n in lots)


@pytest.mark.parametrize("url", ["garbage", "nosuchdriver://x/y", "postgresql://x:s3cret@127.0.0.1:1/db",
                                 "postgresql+psycopg2://x:s3cret@127.0.0.1:1/db"])
def test_a_bad_engine_db_url_is_one_line_with_the_password_masked(tmp_path: Path, url: str) -> None:
    done = _engine(tmp_path, "--stage", "1", env={"ENGINE_DB_URL": url}, db=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("engine run: ") and done.stderr.count("\n") == 1
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr and "sqlalche.me" not in done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("make, what", [(lambda p: p.mkdir(), "a directory"), (lambda p: None, "missing")])
def test_a_config_that_is_no_file_is_named_without_a_traceback(tmp_path: Path, make, what: str) -> None:
    cfg = tmp_path / "cfg"
    make(cfg)
    done = _engine(tmp_path, "--stage", "1", "--config", str(cfg))
    assert done.returncode == 2
    assert f"--config {cfg}: {what}" in done.stderr and "Errno" not in done.stderr and "Traceback" not in done.stderr
