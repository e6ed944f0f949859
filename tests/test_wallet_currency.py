"""Each domain's wallet counts its instruments' quote currency: the specs' USD figures (the paper
wallet, the risk thresholds) are converted into it at a rate the run's data or the risk spec
gives, recorded in the journal; a currency with no rate refuses to start."""
from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.domain import Domain
from engine.risk.config import RiskConfig
from engine.risk.sizing import Sizer
from engine.spec.loader import load_specs
from run_support import ENV, base_config, full_series, specset, window, write_env_override
from test_risk_config import edited, line_of, spec_data

ROOT = Path(__file__).resolve().parents[1]
USD_WALLET = 1000.0  # the spec default, seed 001's $1,000


@pytest.fixture(scope="module")
def thousand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tests' run env with seed 001's $1,000 paper wallet."""
    return write_env_override(tmp_path_factory.mktemp("thousand"), wallet=USD_WALLET)


def assembled(work: Path, overrides: Path, stage: int, datasets: tuple[str, ...], risk=None):
    """A run of `stage` on 100 bars of each data set, assembled (its stage activated)."""
    from engine.run.assemble import assemble
    from engine.run.optin import route

    specs = specset(str(overrides))
    if risk is not None:
        specs = dataclasses.replace(specs, extra={**specs.extra, "risk": risk})  # keeps its kinds and places
    cfg = base_config().model_copy(update={"db": str(work / "engine.db"), "env": ENV})
    modes = dict(specs.machines["rollout"].states[f"stage_{stage}"].attrs["domains"])
    routing = route(stage, modes, config_enabled=False, live_flag=False, paper_flag=True)
    atr_window = specs.extra["risk"].brackets.atr_window
    series = [window(full_series(ds, atr_window), 0, 100) for ds in datasets]
    return assemble(cfg, specs, stage, routing, work / "run", series=series)


def opened(runner, domain: str) -> dict:
    [row] = runner.session.store.journal_entries(kind="wallet_open", key=f"{domain}/paper")
    return row.payload


def test_a_stage_1_spot_wallet_starts_at_the_usd_amount_in_btc(tmp_path, thousand) -> None:
    runner = assembled(tmp_path, thousand, 1, ("crypto_spot/ETH_BTC-5m",))
    rate = runner.risk.usd_rates["BTC"].usd
    assert 10_000 <= rate <= 20_000  # BTC in Jan 2018, the bundled data's month
    expected = USD_WALLET / rate  # ~0.072 BTC, not 1,000 BTC
    wallet = runner.session.store.wallet(Domain.CRYPTO_SPOT, "paper")
    assert math.isclose(wallet.start_balance, expected, rel_tol=1e-12)
    assert math.isclose(runner.session.books[Domain.CRYPTO_SPOT].balance, expected, rel_tol=1e-12)
    assert math.isclose(runner.session.venue.balances()[Domain.CRYPTO_SPOT], expected, rel_tol=1e-12)
    payload = opened(runner, "crypto_spot")
    assert payload["currency"] == "BTC" and payload["usd"] == USD_WALLET and payload["usd_rate"] == rate
    assert payload["rate_source"].startswith("usd_rates: Binance BTC/USDT")
    runner.run(limit=50)  # and it trades on it: its equity stays in BTC
    assert runner.equity["crypto_spot"][-1][1] < 1.0
    [stage] = runner.session.store.journal_entries(kind="stage")  # the ledger's batch is in the store now
    assert stage.payload["wallets"]["crypto_spot"]["usd_rate"] == rate
    runner.session.store.close()


def test_a_usd_quoted_wallet_is_the_usd_amount_as_written(tmp_path, thousand) -> None:
    runner = assembled(tmp_path, thousand, 3, ("forex/GBPUSD-1m",))
    assert runner.session.store.wallet(Domain.FOREX, "paper").start_balance == USD_WALLET
    payload = opened(runner, "forex")
    assert (payload["currency"], payload["usd_rate"], payload["rate_source"]) == ("USD", 1.0, "quoted in USD")
    runner.session.store.close()


def test_a_jpy_wallet_takes_its_rate_from_the_runs_usd_jpy_bars(tmp_path, thousand) -> None:
    runner = assembled(tmp_path, thousand, 3, ("forex/USDJPY-1m",))
    [s] = runner.series
    t0 = s.ts[s.start] - 1.0  # the run starts just before its first traded bar: the close before it
    close = float(s.close[s.start - 1])
    assert s.ts[s.start - 1] <= t0
    payload = opened(runner, "forex")
    assert payload["currency"] == "JPY" and math.isclose(payload["usd_rate"], 1.0 / close)
    assert payload["rate_source"].startswith("1 / the USD/JPY close of ")
    wallet = runner.session.store.wallet(Domain.FOREX, "paper").start_balance
    assert math.isclose(wallet, USD_WALLET * close, rel_tol=1e-12)  # ~$1,000 in yen, not 1,000 yen
    runner.session.store.close()


def test_a_currency_with_no_rate_refuses_to_start(tmp_path, thousand) -> None:
    from engine.run.session import RefusedToStart

    risk = specset(str(thousand)).extra["risk"]
    with pytest.raises(RefusedToStart) as err:
        assembled(tmp_path, thousand, 1, ("crypto_spot/ETH_BTC-5m",), risk.model_copy(update={"usd_rates": {}}))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("no USD rate for BTC, the currency of the crypto_spot wallet (ETH/BTC): add `BTC: ")
    assert f"the risk spec's `usd_rates` ({specset(str(thousand)).extra_pos['risk'].file})" in message
    assert not (tmp_path / "engine.db").exists()  # refused before the store was opened


def bars(symbol: str, domain: Domain, closes: list[float]):
    """A bar series as wallet_currencies reads one: symbol, domain, times and closes."""
    from types import SimpleNamespace

    return SimpleNamespace(symbol=symbol, domain=domain, ts=[1_700_000_000.0 + 60 * i for i in range(len(closes))],
                           close=closes)


def test_a_domain_whose_symbols_quote_in_two_currencies_is_refused() -> None:
    """One wallet per domain counts one currency (seed 001: segregated wallets): a forex run of
    GBP/USD (USD) and USD/JPY (JPY) has no single currency to open it in."""
    from engine.run.currency import NoRate, wallet_currencies

    series = [bars("GBP/USD", Domain.FOREX, [1.27]), bars("USD/JPY", Domain.FOREX, [110.0])]
    with pytest.raises(NoRate, match="forex trades symbols quoted in JPY, USD"):
        wallet_currencies(series, {}, 1_700_000_000.0)


@pytest.mark.parametrize("close", [0.0, float("nan")])
def test_a_usd_xxx_close_that_is_no_price_refuses_the_rate_naming_it(close) -> None:
    """A wallet funded at a rate made from a zero or NaN close would hold nothing or NaN: refused
    with the close and its time (docs/run-report.md: the rate comes from the domain's own bars)."""
    from engine.run.currency import NoRate, wallet_currencies

    with pytest.raises(NoRate, match="USD/JPY close of 2023-11-14 22:13 UTC is"):
        wallet_currencies([bars("USD/JPY", Domain.FOREX, [close, 110.0])], {}, 1_700_000_000.0)


def test_engine_run_refuses_a_currency_with_no_rate_in_one_line(tmp_path) -> None:
    specs = tmp_path / "specs"
    subprocess.run(["cp", "-r", str(ROOT / "specs"), str(specs)], check=True)
    risk = specs / "risk" / "risk.yaml"
    text = risk.read_text()
    risk.write_text(text[:text.index("  BTC:  #")] + text[text.index("  USDT:  #"):])
    env = {k: v for k, v in os.environ.items() if k not in ("ENGINE_DB_URL", "ENABLE_LIVE_TRADING")}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--stage", "1", "--specs", str(specs),
                           "--db", str(tmp_path / "engine.db"), "--run-dir", str(tmp_path / "run"), "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "no USD rate for BTC, the currency of the crypto_spot wallet" in done.stderr
    assert f"the risk spec's `usd_rates` ({risk})" in done.stderr  # the file the run loaded, not the default's


def test_the_ladder_and_the_threshold_are_converted_into_the_wallets_currency() -> None:
    sizing = RiskConfig.model_validate(spec_data()).sizing
    rates = {"crypto_spot": 13853.0, "crypto_perp": 1.0, "forex": 1 / 110.0, "forex_options": 1.0}
    sizer = Sizer(sizing, rates)
    first = sizing.ladder.steps[0]  # {profit_usd: 200, multiplier: 1.2}
    btc = first.profit_usd / 13853.0  # 200 USD is 0.0144 BTC
    assert sizer.ladder(btc * 1.01, "crypto_spot") == first.multiplier
    assert sizer.ladder(btc * 0.99, "crypto_spot") == 1.0
    assert sizer.ladder(first.profit_usd * 0.99, "forex") == 1.0  # 198 JPY is under $2
    assert sizer.ladder(first.profit_usd * 110 * 1.01, "forex") == first.multiplier
    assert sizer.ladder(first.profit_usd, "crypto_perp") == first.multiplier  # USD: as written
    # T ($1,000) caps the loss at the stop: 0.0722 BTC for a BTC wallet, 110,000 yen for a JPY one
    threshold = sizing.percent_sizing_threshold_usd
    big = 1e9
    assert sizer.risk_cap(big, "crypto_spot", 1.0) == big * sizing.percent_sizing_above_threshold["crypto_spot"]
    tiny = threshold / 13853.0 / sizing.per_trade_risk_pct["crypto_spot"]  # B x r = T in BTC
    assert math.isclose(sizer.risk_cap(tiny * 1.5, "crypto_spot", 1.0), threshold / 13853.0)
    assert Sizer(sizing).ladder(first.profit_usd, "crypto_spot") == first.multiplier  # no rates: USD wallets


def test_the_runs_chain_converts_at_the_sessions_rates(tmp_path, thousand) -> None:
    runner = assembled(tmp_path, thousand, 1, ("crypto_spot/ETH_BTC-5m",))
    assert runner.chain.size.usd_rates["crypto_spot"] == runner.risk.usd_rates["BTC"].usd
    assert runner.chain.size.usd_rates["forex"] == 1.0  # no instrument in this run: the USD amount as given
    runner.session.store.close()


@pytest.mark.parametrize("old,new,at,message", [
    ("    usd: 13853\n", "    usd: -1\n", "usd: -1", "`usd_rates.BTC.usd`: -1 is outside (0, 1e+09]"),
    ("    usd: 13853\n", "    usd: .nan\n", "usd: .nan", "`usd_rates.BTC.usd` is .nan, not a finite number"),
    ("    usd: 13853\n", "    usd: .inf\n", "usd: .inf", "`usd_rates.BTC.usd` is .inf, not a finite number"),
    ("    usd: 13853\n", "    usd: 0\n", "usd: 0", "`usd_rates.BTC.usd`: 0 is outside (0, 1e+09]"),
    ("  BTC:  #", "  btc:  #", "btc:", "key `btc`: `btc` is not a currency code"),
    ("  USDT:  #", "  USD:  #", "  USD:  #", "key `USD`: no rate is needed for USD"),
])
def test_a_bad_rate_is_an_error_at_its_line(tmp_path, old, new, at, message) -> None:
    path = edited(tmp_path, old, new)
    _, diags = load_specs([tmp_path / "specs"])
    errors = [d for d in diags if d.code == "SCHEMA_VALUE"]
    assert [d.message for d in errors] == [message]
    assert str(errors[0].pos).startswith(f"{path}:{line_of(path, at)}:") and errors[0].pos.col > 0
    assert errors[0].hint


def test_engine_validate_prints_a_bad_rate_at_file_line_col(tmp_path, capsys) -> None:
    path = edited(tmp_path, "    usd: 13853\n", "    usd: -5\n")
    assert main(["validate", str(tmp_path / "specs")]) == 1
    assert f"{path}:{line_of(path, 'usd: -5')}:10: error SCHEMA_VALUE `usd_rates.BTC.usd`" in capsys.readouterr().out


def test_engine_status_shows_the_currency_a_wallet_was_funded_in(tmp_path, thousand) -> None:
    """From the wallet_open row: also for a domain that has not traded yet (no position names a symbol)."""
    from engine.commands.status import collect

    runner = assembled(tmp_path, thousand, 1, ("crypto_spot/ETH_BTC-5m",))
    [wallet] = collect(runner.session.store, {})["wallets"]
    assert (wallet["quote"], wallet["usd_rate"]) == ("BTC", runner.risk.usd_rates["BTC"].usd)
    runner.session.store.close()


def test_a_btc_balance_keeps_its_digits_on_screen() -> None:
    from engine.run.report import money

    assert money(USD_WALLET / 13853) == "0.07219"  # two decimals made it 0.07, and its P&L -0.00
    assert money(-0.000119) == "-0.0001190"
    assert money(1_000_000.0) == "1,000,000.00" and money(0.0) == "0.00"
