"""`engine run` and `engine validate` say the same of the same specs: a bad ML spec is refused by
the run with validate's diagnostics (not the run config's), the config's allowlist is checked
against the spec set, the warnings validate gives are printed and recorded by the run, and a fresh
run with nothing to trade is refused rather than reported as a finished resume."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from cli_support import ONE_DATASET, ROOT
from engine.cli import main
from engine.commands.run import run_warnings
from engine.commands.validate import validate
from engine.diagnostics import Diagnostic, Pos, Severity, SpecError, render
from engine.run.config import check_allowlist, load_config
from test_contract_rates import without_eth_rate

pytestmark = pytest.mark.usefixtures("at_root")


def spec_copy(tmp: Path) -> Path:
    specs = tmp / "specs"
    shutil.copytree(ROOT / "specs", specs)
    return specs


def run_argv(tmp: Path, *args: str) -> list[str]:
    (tmp / "one.yaml").write_text(ONE_DATASET)
    return ["run", "--stage", "1", "--config", str(tmp / "one.yaml"), "--db", str(tmp / "e.db"),
            "--run-dir", str(tmp / "run"), "--no-progress", *args]


SCHEMA = {"[TREND_UP, TREND_DOWN]": "[TREND_UP, TREND_DWN]", "    sessions: [asian, eu]": "    session: [asian, eu]"}
NAMES = {"sessions: [eu, us]": "sessions: [eu, usa]", "assets: [crypto_spot,": "assets: [crypto_spt,"}


@pytest.mark.parametrize("edits, codes", [(SCHEMA, {"SCHEMA_VALUE", "SCHEMA_UNKNOWN_KEY", "SCHEMA_MISSING"}),
                                          (NAMES, {"ML_UNKNOWN_NAME"})], ids=["schema", "names"])
def test_a_bad_allowlists_file_gets_validates_diagnostics_from_the_run(tmp_path: Path, monkeypatch, capsys,
                                                                       edits: dict, codes: set):
    """The run used to read the allowlists file for its config's `allowlist` before the spec lint,
    and printed pydantic's words at another column, with a hint into Python; a misspelt session,
    asset or chop regime passed both commands."""
    specs = spec_copy(tmp_path)
    allow, explore = specs / "ml" / "allowlists.yaml", specs / "ml" / "exploration.yaml"
    text = allow.read_text()
    for old, new in edits.items():
        assert old in text
        text = text.replace(old, new)
    allow.write_text(text)
    explore.write_text(explore.read_text().replace("[RANGE]", "[RANGES]"))
    errors = [d for d in validate([str(specs)])[0] if d.severity is Severity.ERROR]
    assert {d.code for d in errors} == codes | {"ML_UNKNOWN_NAME"}  # RANGES
    assert main(run_argv(tmp_path, "--specs", str(specs))) == 1
    assert capsys.readouterr().err.strip() == render(errors)
    assert not (tmp_path / "run").exists()


def test_the_config_allowlist_is_checked_against_the_spec_set_only(tmp_path: Path, monkeypatch):
    config = tmp_path / "c.yaml"
    config.write_text("strategy:\n  allowlist: ml_filtr\n")
    monkeypatch.setattr("strategies.ml.config.SPEC_DIR", tmp_path / "nowhere")  # no spec file is read
    cfg = load_config(config)
    assert cfg.strategy.allowlist == "ml_filtr"
    with pytest.raises(SpecError) as e:
        check_allowlist(cfg, config, ("ml_filter", "mean_reversion"))
    [d] = e.value.diagnostics
    assert (d.pos, d.code) == (Pos(str(config), 2, 14), "CONFIG_STRATEGY")
    assert "unknown allowlist `ml_filtr`" in d.message and "did you mean `ml_filter`?" in d.hint
    check_allowlist(load_config(), None, ())  # `auto` names none


def test_the_run_prints_and_records_the_warnings_validate_gives(tmp_path: Path, capsys):
    specs = without_eth_rate(tmp_path / "specs")  # validate warns of XRP/ETH, which this run does not trade
    risk = specs / "risk" / "risk.yaml"
    risk.write_text(risk.read_text().replace("  - no_short\n", "").replace("  - wallet_available\n", ""))
    given = validate([str(specs)])[0]
    warned = [d for d in given if d.code != "CONTRACT_NO_RATE"]
    assert {d.code for d in warned} == {"RISK_LIMIT_UNREAD", "RISK_GUARD_UNUSED"} and len(given) == 3
    assert main(run_argv(tmp_path, "--specs", str(specs), "--max-bars", "20")) == 0
    out = capsys.readouterr().out
    assert out.startswith(render(warned) + "\n") and out.count("RISK_LIMIT_UNREAD") == 1
    assert "CONTRACT_NO_RATE" not in out  # XRP/ETH is not traded by this run
    report = json.loads((tmp_path / "run/report.json").read_text())
    assert report["spec_warnings"] == [d.as_dict() for d in warned]
    rows = [json.loads(line) for line in (tmp_path / "run/journal.jsonl").read_text().splitlines()]
    assert [r["payload"]["warnings"] for r in rows if r["kind"] == "spec"] == [[d.as_dict() for d in warned]]


def test_the_run_trades_with_the_ml_specs_of_its_spec_set(tmp_path: Path, capsys):
    """The run's allowlist, regimes, ensemble, exploration and selection came from the repo's
    specs/ml whatever --specs named: an allowlist only the given set has was a KeyError traceback,
    and a set without a selection spec ran on the repo's."""
    specs = spec_copy(tmp_path)
    allow = specs / "ml" / "allowlists.yaml"
    allow.write_text(allow.read_text().replace("  mean_reversion:", "  mine:"))
    argv = run_argv(tmp_path, "--specs", str(specs))
    (tmp_path / "one.yaml").write_text(ONE_DATASET + "strategy:\n  allowlist: mine\n")
    assert main(argv) == 0
    assert "checked against allowlist 'mine'" in capsys.readouterr().out
    rows = [json.loads(line) for line in (tmp_path / "run/journal.jsonl").read_text().splitlines()]
    [note] = [r["reason"] for r in rows if r["kind"] == "ml" and r["key"] == "allowlist"]
    assert note.endswith(f"checked against allowlist 'mine' ({allow})")  # the set's file, not the repo's

    (specs / "ml" / "selection.yaml").unlink()
    shutil.rmtree(tmp_path / "run")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "the spec set has no `kind: selection` spec" in err and "Traceback" not in err


def test_a_contract_without_a_rate_is_a_run_warning_only_when_the_run_trades_it():
    def finding(symbol: str) -> Diagnostic:
        return Diagnostic(Pos("adapters/paper/contracts.yaml", 1, 1), Severity.WARNING, "CONTRACT_NO_RATE",
                          f"{symbol} quotes in ETH, which has no entry in the risk spec's `usd_rates`")

    other = Diagnostic(Pos("specs/risk/risk.yaml", 1, 1), Severity.WARNING, "RISK_GUARD_UNUSED", "x")
    series = [SimpleNamespace(symbol="ETH/BTC")]
    assert run_warnings([finding("XRP/ETH"), finding("ETH/BTC"), other], series) == [finding("ETH/BTC"), other]


def test_a_fresh_run_with_nothing_to_trade_is_refused_naming_why(tmp_path: Path, capsys):
    """It used to run no bar and say the saved run had processed its last bar already, exit 0."""
    strategy = tmp_path / "s.yaml"
    strategy.write_text((ROOT / "specs/strategies/seed003.yaml").read_text()
                        .replace("vol_window: 720", "vol_window: 1000000"))
    argv = run_argv(tmp_path)
    (tmp_path / "one.yaml").write_text(ONE_DATASET + f"strategy:\n  file: {strategy}\n")
    assert main(argv) == 1
    out = capsys.readouterr()
    assert "engine run: nothing to trade" in out.err and "ETH_BTC-5m is not traded" in out.err
    assert "saved run" not in out.err + out.out and "Give the run data it can trade" in out.err
    assert not (tmp_path / "run").exists() and not (tmp_path / "e.db").exists()


def test_the_console_says_when_its_kill_event_list_is_cut(tmp_path: Path):
    from engine.run.report import print_kpi_table
    from engine.run.result import DomainResult, RunResult

    events = [{"ts": 1_704_067_200.0 + i, "from": "normal", "to": "cooldown", "reason": f"r{i}"} for i in range(6)]
    run = RunResult(stage=1, run_dir=tmp_path, started=0.0, finished=1.0, bars=1,
                    domains={"crypto_spot": DomainResult("crypto_spot", "paper", 1.0, 1.0, 0)}, trades=[],
                    equity={}, gate_decisions=[], kill_events=events, rejections={}, venue_rejections=0,
                    spec_hashes={}, final_kill_mode="normal", final_stage_state="stage_1")
    out = io.StringIO()
    print_kpi_table(run, Console(file=out, width=200))
    text = out.getvalue()
    assert "kill events: 6" in text and "(last 5 of 6 kill events)" in text
    assert "r0" not in text and text.count("  kill: ") == 5
