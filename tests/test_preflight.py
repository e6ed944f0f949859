"""A stage that activates a domain its opening wallet cannot trade says so at start: one warning
line per symbol, a journal row and report.json's `untradable` (the user found out only from the
min_size rejections). The run still goes on: the rules are right, this is information. The check
is a true best case short of profit (the cheapest order over every traded bar, not the first
one's), and says `never` only when no symbol of the domain can trade, so none can make a profit."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from adapters.paper.catalogue import Catalogue
from engine.domain import Domain
from engine.run.currency import WalletCurrency
from engine.risk.sizing import Sizer
from engine.run.preflight import cheapest_order, untradable
from engine.spec.loader import load_specs
from run_support import ENV, write_env_override

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """\
data:
  crypto_spot: {datasets: [crypto_spot/ETH_BTC-5m], primary: 15m, confirm: 5m}
  crypto_perp: {datasets: [crypto_perp/BTC-PERP-1m], primary: 15m, confirm: 5m}
  forex: {datasets: [forex/GBPUSD-1m], primary: 15m, confirm: 5m}
"""
USD = WalletCurrency("USD", 1.0, "quoted in USD")
BTC = WalletCurrency("BTC", 13853.0, "usd_rates")


@pytest.fixture(scope="module")
def sizing():
    specs, _ = load_specs([ROOT / "specs"])
    return specs.extra["risk"].sizing


def _series(symbol: str, domain: Domain, price: float) -> SimpleNamespace:
    return SimpleNamespace(symbol=symbol, domain=domain, close=[price * 0.9, price], start=1)


def _check(sizing, wallet_usd: float, *series: SimpleNamespace, sizer: type[Sizer] = Sizer) -> dict:
    """What the preflight finds, with a Sizer bound as the run's risk chain binds it (the wallets' USD rates)."""
    currencies = {d: USD for d in Domain} | {Domain.CRYPTO_SPOT: BTC}
    books = {s.domain: SimpleNamespace(start_balance=currencies[s.domain].from_usd(wallet_usd)) for s in series}
    bound = sizer(sizing, {d.value: c.usd_rate for d, c in currencies.items()})
    return {u.symbol: u for u in untradable(series, books, currencies, bound, Catalogue.load().get, "risk.yaml")}


def test_the_default_wallet_never_trades_perps_or_forex_but_trades_btc_pairs(sizing) -> None:
    found = _check(sizing, 1000, _series("ETH/BTC", Domain.CRYPTO_SPOT, 0.09), _series("BTC-PERP", Domain.CRYPTO_PERP,
                   43272.0), _series("GBP/USD", Domain.FOREX, 1.57036))
    assert sorted(found) == ["BTC-PERP", "GBP/USD"]
    perp = found["BTC-PERP"]
    # 2% canary of $1,000 at ladder 1 = $20 < one 0.001 lot at the first bar's 43,272; the base 5% ($50)
    # is out of reach: no symbol of the domain can trade in canary, so its canary never ends
    assert (perp.max_notional, perp.size_param, perp.canary_for_good) == (20.0, "sizing.canary.size_pct", True)
    assert perp.min_order == pytest.approx(43.272) and perp.needed_wallet_usd == pytest.approx(2163.6)
    assert "paper_wallet_usd to at least 2,163.60 USD" in perp.message and "BTC-PERP (crypto_perp)" in perp.message


def test_a_symbol_that_ends_the_canary_lets_the_base_size_count(sizing) -> None:
    """A forex symbol whose lot the canary size reaches (125 USD here) can end the canary: past it the
    base size (5%) is the most sizing gives GBP/USD."""
    cheap = SimpleNamespace(symbol="6EH4", domain=Domain.FOREX, close=[0.001, 0.001], start=1)  # 125 USD a contract
    found = _check(sizing, 10_000, cheap, _series("GBP/USD", Domain.FOREX, 1.57036))
    gbp = found["GBP/USD"]
    assert (gbp.size_param, gbp.canary_for_good, gbp.max_notional) == ("sizing.base_size_pct", False, 500.0)
    assert gbp.needed_wallet_usd == pytest.approx(1570.36 / 0.05)


def test_a_later_lower_price_is_the_best_case_not_the_first_bars(sizing) -> None:
    """QA: $1,860 warned BTC-PERP could never trade (37.20 < one lot at the first bar's 43,272), then
    the run traded it when BTC fell to ~36,500. Rows before `start` (the fit window) do not count."""
    falls = SimpleNamespace(symbol="BTC-PERP", domain=Domain.CRYPTO_PERP, close=[30000.0, 43272.0, 36500.0], start=1)
    assert _check(sizing, 1860, falls) == {}
    [u] = _check(sizing, 1000, falls).values()
    assert (u.price, u.min_order) == (36500.0, pytest.approx(36.5))


def test_the_cheapest_order_is_not_always_at_the_lowest_price(sizing) -> None:
    """Whole lots overshoot min_notional: at 90 JPY two 1,000 lots (180,000) are the least that reach
    100,000, more than one lot at 150."""
    usdjpy = Catalogue.load().get("USD/JPY")
    assert cheapest_order(usdjpy, np.array([150.0, 90.0])) == (150.0, pytest.approx(150_000.0))
    assert cheapest_order(usdjpy, np.array([])) is None
    bids = SimpleNamespace(symbol="BTC-PERP", domain=Domain.CRYPTO_PERP, close=[43272.0, 43272.0],
                           bid=[43272.0, 33000.0], start=1)
    [u] = _check(sizing, 1000, bids).values()
    assert u.price == 33000.0  # a sell enters at the bid


def test_never_only_when_no_symbol_of_the_domain_can_trade(sizing) -> None:
    """Profits of a domain's other symbols raise its equity and ladder, which can lift the cap: then the
    warning says `without profit` and how far they must rise, not `never`."""
    cheap = SimpleNamespace(symbol="6EH4", domain=Domain.FOREX, close=[0.001, 0.001], start=1)
    gbp = _check(sizing, 10_000, cheap, _series("GBP/USD", Domain.FOREX, 1.57036))["GBP/USD"]
    assert not gbp.never and "cannot trade at its opening wallet of 10,000.00 USD without profit" in gbp.message
    assert "never" not in gbp.message and "3.14-fold" in gbp.message
    alone = _check(sizing, 10_000, _series("GBP/USD", Domain.FOREX, 1.57036))["GBP/USD"]
    assert alone.never and "can never trade" in alone.message and "no symbol of its domain can trade" in alone.message


def test_the_needed_wallet_does_not_depend_on_the_current_one(sizing) -> None:
    """A zero wallet said `at least inf USD` and report.json `needed_wallet_usd: null`."""
    perp = _check(sizing, 0, _series("BTC-PERP", Domain.CRYPTO_PERP, 43272.0))["BTC-PERP"]
    assert perp.needed_wallet_usd == pytest.approx(2163.6) and "at least 2,163.60 USD" in perp.message
    assert isinstance(perp.wallet, float) and json.loads(json.dumps(perp.as_dict()))["needed_wallet_usd"] > 0


def test_the_smallest_order_is_whole_lots_reaching_the_minimum_notional() -> None:
    cat = Catalogue.load()
    # one 1,000 lot: 150,000 JPY >= 100,000
    assert cheapest_order(cat.get("USD/JPY"), np.array([150.0]))[1] == pytest.approx(150_000.0)
    # 12 lots of 0.001 reach 0.001 BTC
    assert cheapest_order(cat.get("ETH/BTC"), np.array([0.09]))[1] == pytest.approx(0.00108)


class _NoCanary(Sizer):
    """A sizer whose canary never applies: the preflight must follow the rule the run sizes by."""

    def in_canary(self, book) -> bool:
        return False


def test_the_best_size_follows_the_run_sizers_canary_rule(sizing) -> None:
    """The preflight judged the canary by a copy of Sizer.in_canary's rule, which could drift from it:
    it asks the run's sizer. Without a canary, BTC-PERP's best case at 60,000 is the base 5% of $1,000."""
    [perp] = _check(sizing, 1000, _series("BTC-PERP", Domain.CRYPTO_PERP, 60000.0), sizer=_NoCanary).values()
    assert (perp.size_param, perp.canary_for_good, perp.max_notional) == ("sizing.base_size_pct", False, 50.0)


def _engine(tmp: Path, overrides: Path | None = None) -> subprocess.CompletedProcess:
    """A 20-bar stage 3 run of CONFIG; `overrides`: a folder of env overrides, whose env the config selects."""
    tmp.mkdir()
    (tmp / "cfg.yaml").write_text(CONFIG + (f"env: {ENV}\n" if overrides else ""))
    specs = ["--specs", "specs", str(overrides)] if overrides else []
    base = {k: v for k, v in os.environ.items() if k != "ENGINE_DB_URL"}
    return subprocess.run([sys.executable, "-m", "engine.cli", "run", "--stage", "3", "--paper", "--config",
                           str(tmp / "cfg.yaml"), "--max-bars", "20", "--db", str(tmp / "e.db"), "--run-dir",
                           str(tmp / "run"), "--no-progress", *specs],
                          cwd=ROOT, capture_output=True, text=True, env=base, timeout=600)


def test_a_stage_3_run_warns_of_each_symbol_its_wallets_cannot_trade_and_a_larger_wallet_clears_it(tmp_path):
    done = _engine(tmp_path / "default")
    assert done.returncode == 0, done.stderr[-2000:]
    warned = re.findall(r"^warning: (\S+) \((\w+)\) can never trade at its opening wallet of 1,000.00 USD", done.stdout,
                        flags=re.M)
    assert warned == [("BTC-PERP", "crypto_perp"), ("GBP/USD", "forex")], done.stdout
    assert done.stdout.count("sizing.canary.size_pct in specs/risk/risk.yaml\n") == 2  # the risk file loaded
    report = json.loads((tmp_path / "default" / "run" / "report.json").read_text())
    assert [u["symbol"] for u in report["untradable"]] == ["BTC-PERP", "GBP/USD"]
    documented = set(re.findall(r"`([a-z_]+)`", (ROOT / "docs" / "run-report.md").read_text()))
    assert set(report["untradable"][0]) <= documented
    rows = [json.loads(line) for line in (tmp_path / "default" / "run" / "journal.jsonl").read_text().splitlines()]
    assert [(r["key"], r["payload"]["needed_wallet_usd"] > 1000) for r in rows if r["kind"] == "untradable"] == [
        ("BTC-PERP", True), ("GBP/USD", True)]

    done = _engine(tmp_path / "rich", write_env_override(tmp_path / "overrides", 100_000))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warning:" not in done.stdout
    assert json.loads((tmp_path / "rich" / "run" / "report.json").read_text())["untradable"] == []


def test_a_wallet_whose_symbol_trades_once_its_price_falls_is_not_warned_of(tmp_path):
    """QA's run: a $1,860 stage 3 wallet was told BTC-PERP could never trade (one lot at the first
    bar's 43,272 is above its 37.20), then traded it 4 times once BTC fell to ~36,500."""
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    (specs / "overrides" / "stage_3.yaml").write_text(
        'kind: overrides\nscope: stage\nkey: "3"\nvalues: {rollout: {paper_wallet_usd: 1860}}\n')
    base = {k: v for k, v in os.environ.items() if k != "ENGINE_DB_URL"}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--stage", "3", "--paper", "--specs", str(specs),
                           "--db", str(tmp_path / "e.db"), "--run-dir", str(tmp_path / "run"), "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, env=base, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    traded = {row["symbol"] for row in csv.DictReader((tmp_path / "run" / "trades.csv").open())}
    assert "BTC-PERP" in traded and not re.search(r"^warning: BTC-PERP", done.stdout, flags=re.M), done.stdout
