"""Run outputs: KPIs on hand-computed examples, the exploration split, the run directory
(report.json, trades.csv, equity.png) with and without trades, the KPI table and the progress bar."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re
import statistics
import subprocess
import sys
from array import array
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from engine.run.equity import EquityCurve
from engine.run.kpi import kpis, split_kpis, stage_kpis, trade_curve
from engine.run.progress import RunProgress
from engine.run.report import TRADE_COLUMNS, equity_figure, print_kpi_table, write_run_dir
from engine.run.result import ClosedTrade, DomainResult, RunResult
from strategies.selection import SECONDS_PER_YEAR

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z


def trade(pnl: float, exit_ts: float, *, exploration: bool = False, domain: str = "crypto_spot",
          fees: float = 1.0, model_version: str | None = None) -> ClosedTrade:
    return ClosedTrade(domain=domain, mode="paper", symbol="BTC/USDT", side="buy", qty=0.01,
                       entry_ts=exit_ts - 0.5, entry_price=40_000.0, exit_ts=exit_ts,
                       exit_price=40_000.0 + pnl * 100, pnl=pnl, fees=fees, exit_reason="take_profit",
                       strategy="seed003", exploration=exploration, model_version=model_version,
                       client_order_id=f"sc-{exit_ts}")


# -- KPIs ---------------------------------------------------------------------

HAND_TRADES = [trade(30, 1), trade(-10, 2), trade(20, 3), trade(-20, 4)]
HAND_CURVE = [(0.0, 1000.0), (1.0, 1030.0), (2.0, 1020.0), (3.0, 1040.0), (4.0, 1020.0)]


def test_kpis_on_a_hand_computed_example():
    k = kpis(HAND_TRADES, HAND_CURVE, 1000.0)
    assert k.trades == 4
    assert k.win_rate == 0.5
    assert k.profit_factor == pytest.approx(50 / 30)
    assert k.expectancy == pytest.approx(5.0)
    assert k.max_dd == pytest.approx(20 / 1040)  # 1040 -> 1020 beats 1030 -> 1020
    assert k.total_return == pytest.approx(0.02)
    assert (k.gross_profit, k.gross_loss, k.fees) == (50, 30, 4)
    returns = [b / a - 1 for (_, a), (_, b) in zip(HAND_CURVE, HAND_CURVE[1:])]
    # four returns over four seconds: one period per second
    per_year = math.sqrt(SECONDS_PER_YEAR)
    assert k.sharpe == pytest.approx(statistics.mean(returns) / statistics.stdev(returns) * per_year)
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / len(returns))
    assert k.sortino == pytest.approx(statistics.mean(returns) / downside * per_year)


def test_sharpe_is_annualised_by_the_sampling_interval():
    hourly = [(T0 + i * 3600, e) for i, (_, e) in enumerate(HAND_CURVE)]
    daily = [(T0 + i * 86400, e) for i, (_, e) in enumerate(HAND_CURVE)]
    ratio = kpis([], hourly, 1000).sharpe / kpis([], daily, 1000).sharpe
    assert ratio == pytest.approx(math.sqrt(24))


def test_no_trades_and_no_losses_give_none_not_nan():
    empty = kpis([], [], 1000.0)
    assert (empty.trades, empty.win_rate, empty.profit_factor, empty.expectancy) == (0, None, None, None)
    assert (empty.sharpe, empty.sortino, empty.max_dd, empty.total_return) == (None, None, 0.0, 0.0)
    winners = kpis([trade(5, 1), trade(7, 2)], [], 1000.0)  # curve falls back to the trades
    assert winners.win_rate == 1.0 and winners.profit_factor is None and winners.sortino is None
    assert winners.max_dd == 0.0 and winners.total_return == pytest.approx(0.012)
    flat = kpis([], [(0, 1000.0), (1, 1000.0), (2, 1000.0)], 1000.0)
    assert flat.sharpe is None and flat.sortino is None


def test_a_break_even_trade_is_not_a_win():
    """win_rate is the share of trades with pnl > 0 (docs/run-report.md): a trade that made exactly
    nothing after fees is not a win (mutation round 6)."""
    k = kpis([trade(0.0, 1), trade(5.0, 2)], [], 1000.0)
    assert k.win_rate == 0.5 and k.trades == 2


def test_a_single_return_gives_no_sharpe_and_no_sortino():
    """Sharpe and Sortino need two returns or more (engine/run/kpi.py): one falling step has a
    downside deviation, but one return is no distribution to take a ratio of (mutation round 6)."""
    k = kpis([], [(T0, 1000.0), (T0 + 3600, 990.0)], 1000.0)
    assert (k.sharpe, k.sortino) == (None, None)
    assert k.max_dd == pytest.approx(0.01)


def test_a_later_stage_is_measured_from_the_equity_it_started_with():
    """kpis_by_stage (kpi.stage_kpis): a stage after the first starts from the exploitation equity in
    force when it began, not the run's start balance: stage 2 below made 10 % of its 1100, not 21 %
    of the opening 1000 (mutation round 6)."""
    curve = [(0.0, 1000.0), (10.0, 1100.0), (20.0, 1100.0), (30.0, 1210.0)]
    log = [(0.0, 1, "stage_1"), (15.0, 2, "stage_2")]
    by = stage_kpis([dataclasses.replace(trade(100.0, 10), stage=1), dataclasses.replace(trade(110.0, 30), stage=2)],
                    curve, 1000.0, log)
    assert by[1].total_return == pytest.approx(0.1) and by[2].total_return == pytest.approx(0.1)
    assert (by[1].trades, by[2].trades) == (1, 1)


def test_the_bar_a_promotion_follows_is_the_old_stage_s_last():
    """A promotion is taken after a bar and stamped with that bar's time: the bar's move is the old
    stage's, and the new stage starts from the equity it left. The stages' returns chain to the
    run's, with no bar in neither (review 8: the 1000 -> 950 bar below counted for no stage)."""
    curve = [(0.0, 1000.0), (10.0, 1000.0), (20.0, 950.0), (30.0, 950.0), (40.0, 1045.0)]
    log = [(-1.0, 1, "stage_1"), (20.0, 2, "stage_2")]
    by = stage_kpis([dataclasses.replace(trade(-50.0, 20), stage=1)], curve, 1000.0, log)
    assert by[1].total_return == pytest.approx(-0.05) and by[1].max_dd == pytest.approx(0.05)
    assert by[2].total_return == pytest.approx(0.1)
    whole = kpis([], curve, 1000.0).total_return
    assert (1 + by[1].total_return) * (1 + by[2].total_return) - 1 == pytest.approx(whole)


def test_a_stage_before_the_domains_wallet_opened_has_no_kpis():
    """A domain a later promotion opened has no record in the stages before: before, it got a row of
    zeros there (0 trades, 0 drawdown), which reads as a flawless record (rev28)."""
    log = [(0.0, 2, "stage_2"), (15.0, 3, "stage_3")]
    by = stage_kpis([dataclasses.replace(trade(5.0, 30), stage=3)], [(20.0, 1000.0), (30.0, 1005.0)], 1000.0, log)
    assert list(by) == [3] and by[3].trades == 1
    assert stage_kpis([], [], 1000.0, log) == {}


def test_max_drawdown_is_a_fraction_of_the_peak_and_capped_at_one():
    assert kpis([], [(0, 100.0), (1, 150.0), (2, 75.0), (3, 200.0)], 100.0).max_dd == pytest.approx(0.5)
    assert kpis([], [(0, 100.0), (1, -20.0)], 100.0).max_dd == 1.0


def test_exploration_never_mixes_with_exploitation():
    trades = [trade(10, 1), trade(-50, 2, exploration=True)]
    # The wallet saw both trades; each point keeps the exploration share of it: at 1.5 the
    # exploration trade is open and 20 down, at 2 it closed 50 down.
    ts = [0.0, 1.0, 1.5, 2.0]
    equity = EquityCurve(array("d", ts), array("d", [1000.0, 1010.0, 990.0, 960.0]),
                         array("d", [0.0, 0.0, -20.0, -50.0]))
    split = split_kpis(trades, equity, 1000.0)
    exploit, explore = split["exploitation"], split["exploration"]
    assert (exploit.trades, exploit.win_rate, exploit.max_dd) == (1, 1.0, 0.0)  # nor its open loss
    assert exploit.total_return == pytest.approx(0.01)  # the exploration loss is not in it
    assert exploit.sharpe == kpis([], list(zip(ts, [1000.0, 1010.0, 1010.0, 1010.0])), 1000.0).sharpe
    assert (explore.trades, explore.win_rate, explore.expectancy) == (1, 0.0, -50.0)
    assert explore.max_dd == pytest.approx(0.05) and explore.total_return == pytest.approx(-0.05)
    on_share = kpis([], list(zip(ts, [1000.0, 1000.0, 980.0, 950.0])), 1000.0)  # start balance plus the share
    assert (explore.sharpe, explore.sortino) == (on_share.sharpe, on_share.sortino)
    assert trade_curve(trades[1:], 1000.0) == [(1.5, 1000.0), (2.0, 950.0)]


pnls = st.lists(st.floats(-500, 500, allow_nan=False), max_size=30)


@given(pnls, st.lists(st.booleans(), min_size=30, max_size=30))
def test_kpis_are_always_finite_or_none(values, flags):
    trades = [trade(p, i + 1.0, exploration=f) for i, (p, f) in enumerate(zip(values, flags))]
    for k in split_kpis(trades, trade_curve(trades, 1000.0), 1000.0).values():
        for name, v in k.as_dict().items():
            assert v is None or math.isfinite(v), name
        assert 0.0 <= k.max_dd <= 1.0


# -- run directory -----------------------------------------------------------

def result(tmp_path: Path, trades: list[ClosedTrade], equity: dict | None = None) -> RunResult:
    return RunResult(
        stage=1, run_dir=tmp_path / "run", started=T0, finished=T0 + 2.0, bars=500,
        domains={"crypto_spot": DomainResult("crypto_spot", "paper", 1000.0, 1000.0 + sum(t.pnl for t in trades), 0)},
        trades=trades, equity=equity if equity is not None else {},
        gate_decisions=[{"ts": T0 + 1, "machine": "model_promotion", "phase": "candidate", "passed": False}],
        kill_events=[{"ts": T0 + 1, "from": "normal", "to": "cooldown", "reason": "losing_streak"}],
        rejections={"max_positions": 3, "min_notional": 1}, venue_rejections=2, spec_hashes={"rollout": "abc123"},
        final_kill_mode="normal", final_stage_state="stage_1")


def read_report(files: dict[str, Path]) -> dict:
    return json.loads(files["report"].read_text())


def test_run_dir_with_zero_trades_is_complete_and_parseable(tmp_path):
    files = write_run_dir(result(tmp_path, []))
    assert set(files) == {"report", "trades", "equity", "journal"}  # no audit.jsonl was written
    report = read_report(files)
    assert report["trade_count"] == 0 and report["bars"] == 500 and report["bars_per_second"] == 250
    assert report["started"] == "2024-01-01T00:00:00+00:00"
    dom = report["domains"]["crypto_spot"]
    assert dom["kpis"]["trades"] == 0 and dom["kpis"]["win_rate"] is None
    assert dom["exploration_kpis"]["profit_factor"] is None
    assert report["files"] == {"report": "report.json", "trades": "trades.csv", "equity": "equity.png",
                               "journal": "journal.jsonl", "audit": None}
    assert files["journal"].read_text() == ""  # a store with nothing journaled
    assert files["trades"].read_text().splitlines() == [",".join(TRADE_COLUMNS)]
    assert files["equity"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


MONEY_KPIS = ("gross_profit", "gross_loss", "fees", "funding")


@pytest.mark.parametrize("trades", [[], [trade(30, T0 + 1)]], ids=["no trade", "no exploration trade"])
def test_money_kpis_are_floats_in_every_block_even_with_no_trade(tmp_path, trades):
    """A block with no trade (the exploration block of most runs) says 0.0, as the docs type it,
    not 0, nor -0.0."""
    dom = read_report(write_run_dir(result(tmp_path, trades)))["domains"]["crypto_spot"]
    for block in (dom["kpis"], dom["exploration_kpis"], *dom["kpis_by_stage"].values()):
        for key in MONEY_KPIS:
            assert isinstance(block[key], float) and math.copysign(1.0, block[key]) == 1.0, (key, block[key])
    assert (dom["exploration_kpis"]["gross_profit"], dom["exploration_kpis"]["fees"]) == (0.0, 0.0)


def test_wallet_balances_are_floats_even_when_the_wallet_was_written_as_an_integer(tmp_path):
    """A USD wallet opens at `paper_wallet_usd` as written (1000, an int); report.json types the
    balances float (docs/run-report.md). The untradable entries' wallets: tests/test_preflight.py."""
    res = result(tmp_path, [])
    res.domains["crypto_spot"] = DomainResult("crypto_spot", "paper", 1000, 1000, 0)
    dom = read_report(write_run_dir(res))["domains"]["crypto_spot"]
    assert [type(dom["start_balance"]), type(dom["end_balance"])] == [float, float]


def test_run_dir_with_trades(tmp_path):
    trades = [trade(30, T0 + 60), trade(-10, T0 + 120, model_version="xgb-3"),
              trade(-5, T0 + 180, exploration=True)]
    # The last point's equity holds the exploration trade's -5: its share, taken off `kpis`.
    equity = {"crypto_spot": EquityCurve(array("d", [T0 + 60 * i for i in range(4)]),
                                         array("d", [1000.0 + e for e in (0, 30, 20, 15)]),
                                         array("d", [0.0, 0.0, 0.0, -5.0]))}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "audit.jsonl").write_text('{"kind": "transition"}\n')
    files = write_run_dir(result(tmp_path, trades, equity))
    report = read_report(files)
    assert files["audit"].name == "audit.jsonl" and report["files"]["audit"] == "audit.jsonl"
    assert report["trade_count"] == 3
    dom = report["domains"]["crypto_spot"]
    assert dom["kpis"]["trades"] == 2 and dom["exploration_kpis"]["trades"] == 1
    assert dom["kpis"]["total_return"] == pytest.approx(0.02)  # 1015 plus the 5 exploration lost
    assert report["rejections"] == {"max_positions": 3, "min_notional": 1}
    assert report["venue_rejections"] == 2
    assert report["kill_events"][0]["to"] == "cooldown"
    with files["trades"].open() as f:
        rows = list(csv.DictReader(f))
    assert [float(r["pnl"]) for r in rows] == [30, -10, -5]
    assert [r["model_version"] for r in rows] == ["", "xgb-3", ""]
    assert [r["exploration"] for r in rows] == ["False", "False", "True"]
    assert files["equity"].stat().st_size > 5000


def test_report_gives_each_domains_start_and_end_balance_apart(tmp_path):
    """Seed 001: each domain's wallet starts at its paper amount and profit rolls over into it;
    report.json keeps both figures (docs/run-report.md, `domains`), never one for the other."""
    res = result(tmp_path, [trade(30, T0 + 60), trade(-10, T0 + 120)])
    dom = read_report(write_run_dir(res))["domains"]["crypto_spot"]
    assert (dom["start_balance"], dom["end_balance"]) == (1000.0, 1020.0)


def test_each_domains_kpis_count_its_own_trades_alone(tmp_path):
    """Seed 001: KPIs per stage and domain, wallets segregated: a forex trade never enters crypto
    spot's figures, nor the other way round."""
    res = result(tmp_path, [trade(30, T0 + 60), trade(-10, T0 + 120, domain="forex"),
                            trade(-20, T0 + 180, domain="forex")])
    res.domains["forex"] = DomainResult("forex", "paper", 1000.0, 970.0, 0)
    doms = read_report(write_run_dir(res))["domains"]
    assert {d: (v["kpis"]["trades"], v["kpis"]["win_rate"]) for d, v in doms.items()} == {
        "crypto_spot": (1, 1.0), "forex": (2, 0.0)}
    assert {d: v["kpis_by_stage"]["1"]["trades"] for d, v in doms.items()} == {"crypto_spot": 1, "forex": 2}


def test_report_lists_every_kill_event_and_gate_decision_where_the_console_shows_five(tmp_path):
    """docs/run-report.md: `kill_events` and `gate_decisions` hold every one, in order; only the
    console cuts them to the last five."""
    res = result(tmp_path, [])
    res.kill_events = [{"ts": T0 + i, "from": "normal", "to": "cooldown", "event": "loss", "reason": f"k{i}"}
                       for i in range(8)]
    res.gate_decisions = [{"ts": T0 + i, "domain": "crypto_spot", "phase": "candidate", "passed": False,
                           "state": f"g{i}"} for i in range(7)]
    report = read_report(write_run_dir(res))
    assert [e["reason"] for e in report["kill_events"]] == [f"k{i}" for i in range(8)]
    assert [g["state"] for g in report["gate_decisions"]] == [f"g{i}" for i in range(7)]


def test_trades_csv_rows_are_in_exit_order(tmp_path):
    """docs/run-report.md, trades.csv: one row per closed trade, in exit order (a trade entered
    first may close last)."""
    early_in_late_out = dataclasses.replace(trade(30, T0 + 600), entry_ts=T0 + 10, client_order_id="long")
    late_in_early_out = dataclasses.replace(trade(-10, T0 + 300), entry_ts=T0 + 200, client_order_id="short")
    files = write_run_dir(result(tmp_path, [early_in_late_out, late_in_early_out]))
    with files["trades"].open() as f:
        rows = list(csv.DictReader(f))
    assert [r["client_order_id"] for r in rows] == ["short", "long"]


def test_kill_and_gate_times_are_iso_8601_utc_in_the_report_only(tmp_path):
    res = result(tmp_path, [])
    report = read_report(write_run_dir(res))
    assert report["kill_events"][0]["ts"] == report["gate_decisions"][0]["ts"] == "2024-01-01T00:00:01+00:00"
    assert report["stages"][0]["from"].endswith("+00:00")  # the report's other times, spelled alike
    assert res.kill_events[0]["ts"] == res.gate_decisions[0]["ts"] == T0 + 1  # the run's own data stays epoch


def test_the_journal_goes_into_the_run_directory(tmp_path):
    from state.models import JournalEntry

    rows = [JournalEntry(seq=1, ts=T0, kind="signal_rejected", key="ETH/BTC", reason="max_concurrent",
                         spec_hash="abc", payload={"rule": "max_concurrent", "numbers": {"open": 5, "max": 5}})]
    files = write_run_dir(result(tmp_path, []), journal=rows)
    [line] = files["journal"].read_text().splitlines()
    assert json.loads(line) == {"seq": 1, "ts": T0, "kind": "signal_rejected", "key": "ETH/BTC",
                                "reason": "max_concurrent", "spec_hash": "abc",
                                "payload": {"rule": "max_concurrent", "numbers": {"open": 5, "max": 5}}}


def test_report_is_strict_json_even_with_odd_values(tmp_path):
    res = result(tmp_path, [])
    res.gate_decisions = [{"sharpe": float("nan"), "path": tmp_path, "kpi": float("inf")}]
    res.finished = res.started  # zero duration: no bars/s
    report = read_report(write_run_dir(res))
    assert report["gate_decisions"] == [{"sharpe": None, "path": str(tmp_path), "kpi": None}]
    assert report["bars_per_second"] is None


def _keys(obj: object, prefix: str = "") -> set[str]:
    if not isinstance(obj, dict):
        return set()
    out = set()
    for k, v in obj.items():
        out.add(k)
        if k not in ("domains", "rejections", "spec_hashes", "kpis_by_stage"):  # their keys are data, not names
            out |= _keys(v)
        elif k in ("domains", "kpis_by_stage"):
            for dom in v.values():
                out |= _keys(dom)
    return out


def test_every_report_key_is_documented(tmp_path):
    report = read_report(write_run_dir(result(tmp_path, [trade(1, T0 + 1)])))
    documented = set(re.findall(r"`([a-z_]+)`", (ROOT / "docs" / "run-report.md").read_text()))
    assert _keys(report) - {"machine", "phase", "passed", "ts", "from", "to", "reason"} <= documented
    assert set(TRADE_COLUMNS) <= documented


@pytest.mark.usefixtures("at_root")
def test_the_report_names_the_run_spec_hash_its_journal_rows_carry(tmp_path):
    """QA round 14: the journal's run-level `spec_hash` was in no report and no doc; one could
    only rebuild it from engine/run/session.py. report.json has it, made as run-report.md says."""
    import dataclasses
    import hashlib

    from engine.run.config import load_config
    from engine.run.session import load_specset, spec_hash, spec_hashes

    specs, cfg = load_specset([str(ROOT / "specs")]), load_config()
    parts = spec_hashes(specs, cfg)
    report = read_report(write_run_dir(dataclasses.replace(result(tmp_path, []), spec_hashes=parts)))
    assert report["spec_hash"] == spec_hash(specs, cfg)  # what the run's ledger stamps on each journal row
    by_hand = hashlib.sha256("".join(f"{k}:{v};" for k, v in sorted(report["spec_hashes"].items())).encode())
    assert report["spec_hash"] == by_hand.hexdigest()[:16]  # the recipe docs/run-report.md gives


def test_kpi_table_lists_each_domain_and_the_kill_summary(tmp_path):
    out = io.StringIO()
    print_kpi_table(result(tmp_path, [trade(30, T0 + 1), trade(-3, T0 + 2, exploration=True)]),
                    Console(file=out, width=140))
    text = out.getvalue()
    for needle in ("crypto_spot (paper)", "exploration", "Sharpe", "profit factor", "1,027.00",
                   "kill mode: normal", "stage_1", "rejected signals: max_positions 3, min_notional 1",
                   "orders the venue refused: 2"):
        assert needle in text
    assert "rejected orders" not in text  # signals refused before any order was sent


def test_kpi_table_never_cuts_a_cell_short(tmp_path, monkeypatch):
    """Off a terminal (a pipe, a CI log) the console is wide enough for whole cells; on a
    narrow terminal a cell wraps onto a second line: no digit is replaced by an ellipsis."""
    from engine import console as console_mod

    run = result(tmp_path, [trade(30, T0 + 1), trade(-3, T0 + 2, exploration=True)])
    monkeypatch.setattr("sys.stdout", io.StringIO())  # not a terminal, as under `make run | tee`
    piped = console_mod.console()
    assert piped.width >= console_mod.TABLE_WIDTH
    print_kpi_table(run, piped)
    assert "1,027.00" in sys.stdout.getvalue() and "…" not in sys.stdout.getvalue()
    narrow = io.StringIO()
    print_kpi_table(run, Console(file=narrow, width=50))
    assert "…" not in narrow.getvalue()


def test_report_module_imports_no_plotting_or_rich():
    code = "import sys, engine.run.report; print(sorted(m for m in ('matplotlib', 'rich') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- progress ------------------------------------------------------------------

def ticking(*values: float):
    it = iter(values)
    return lambda: next(it)


def test_progress_disabled_prints_nothing():
    out = io.StringIO()
    with RunProgress(10, enabled=False, console=Console(file=out, force_terminal=True)) as p:
        p.advance(10)
    assert out.getvalue() == "" and p.bars == 10


def test_progress_off_a_terminal_prints_only_the_final_line():
    out = io.StringIO()
    with RunProgress(10, console=Console(file=out, force_terminal=False), clock=ticking(0.0, 2.0)) as p:
        for _ in range(10):
            p.advance()
    assert out.getvalue() == "bars: 10/10 replayed in 2.00s (5 bars/s, replay loop only)\n"
    assert p.rate == 5.0


def test_progress_on_a_terminal_draws_a_bar_and_the_final_line():
    out = io.StringIO()
    with RunProgress(4, console=Console(file=out, force_terminal=True, width=120),
                     clock=ticking(0.0, 1.0)) as p:
        p.advance(4)
    text = out.getvalue()
    assert "4/4" in text and "bars: 4/4 replayed in 1.00s (4 bars/s, replay loop only)" in text


def test_a_resumed_progress_times_only_the_bars_it_replayed():
    out = io.StringIO()
    with RunProgress(10, console=Console(file=out, force_terminal=False), clock=ticking(0.0, 2.0), start=6) as p:
        p.advance(4)
    assert out.getvalue() == "bars: 10/10, 4 of them replayed in 2.00s (2 bars/s, replay loop only)\n"


def test_the_console_and_the_report_name_the_same_speeds(tmp_path):
    """The progress line times the replay loop; report.json's elapsed_s the whole run, start-up
    included. The report carries the progress line's figures as replay_s and
    replay_bars_per_second, and the console's closing line gives both, each named."""
    with RunProgress(500, enabled=False, clock=ticking(0.0, 0.5)) as progress:
        progress.advance(500)
    run = result(tmp_path, [])  # 500 bars in 2.0s of wall time, start-up included
    run.replay_s = progress.elapsed
    report = read_report(write_run_dir(run))
    assert (report["elapsed_s"], report["bars_per_second"]) == (2.0, 250)
    assert (report["replay_s"], report["replay_bars_per_second"]) == (0.5, progress.rate) == (0.5, 1000)
    out = io.StringIO()
    print_kpi_table(run, Console(file=out, width=200))
    assert ("run time: 2.00s with start-up, 250 bars/s (report.json elapsed_s); "
            "replay loop alone: 0.50s, 1,000 bars/s (replay_s)") in out.getvalue()


def test_equity_png_gives_each_domain_its_own_time_axis(tmp_path):
    """Bundled domains come from different years: each panel spans its own curve, not the union."""
    from matplotlib import dates as mdates

    year = 365 * 86400.0
    spot = [(T0 + 3600 * i, 1000.0 + i) for i in range(5)]
    perp = [(T0 + 4 * year + 3600 * i, 1000.0 - i) for i in range(5)]
    res = result(tmp_path, [trade(4, T0 + 7200)], {"crypto_spot": spot, "crypto_perp": perp})
    res.domains["crypto_perp"] = DomainResult("crypto_perp", "paper", 1000.0, 996.0, 0)
    fig = equity_figure(res)
    axes = [ax for ax in fig.axes if ax.get_title(loc="left")]
    assert [ax.get_title(loc="left").split(" ")[0] for ax in axes] == ["crypto_perp", "crypto_spot"]
    for ax, curve in zip(axes, (perp, spot)):
        lo, hi = (mdates.num2date(x).timestamp() for x in ax.get_xlim())
        assert hi - lo < 86400.0  # four hours of data, with margins: not four years
        assert lo <= curve[0][0] and curve[-1][0] <= hi
    assert "1,000.00 -> 1,004.00" in axes[1].get_title(loc="left")


def test_an_operators_reason_prints_as_written_on_one_line(tmp_path):
    """rev31: a reason with `[/]` was rich markup, a MarkupError traceback after the run had
    finished (every resume too); `[ticket 42]` vanished; a line break printed a fake record."""
    run = result(tmp_path, [])
    run.kill_events = [{"ts": T0 + 1, "from": "normal", "to": "close_only", "event": "close_only",
                        "reason": "desk call [/] per risk [ticket 42]\nto=normal"}]
    out = io.StringIO()
    print_kpi_table(run, Console(file=out, width=300))
    (line,) = [s for s in out.getvalue().splitlines() if s.startswith("  kill:")]
    assert line.endswith("reason=desk call [/] per risk [ticket 42] to=normal")
