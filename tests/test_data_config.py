"""A run config's data section is checked at load (file:line:col), and can name series
imported into the parquet store (`store:SYMBOL@TF`), which a run then trades."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main
from engine.data import bundled
from engine.data.store import ParquetStore
from engine.diagnostics import SpecError
from engine.domain import Domain
from engine.run.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def config(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "run.yaml"
    p.write_text(text)
    return p


def diags(path: Path) -> list[str]:
    with pytest.raises(SpecError) as err:
        load_config(path)
    return [d.text() for d in err.value.diagnostics]


def test_unknown_dataset_and_bad_timeframes_are_positioned(tmp_path):
    path = config(tmp_path, "data:\n  crypto_spot:\n    datasets:\n      - nosuch\n      - crypto_spot/ETH_BTC-5m\n"
                            "    primary: 7x\n  crypto_perp:\n    confirm: 5min\n")
    out = diags(path)
    assert any(t.startswith(f"{path}:4:9: error SCHEMA_VALUE") and "unknown data set 'nosuch'" in t for t in out)
    assert any(t.startswith(f"{path}:6:14: error") and "bad timeframe '7x'" in t for t in out)
    assert any(t.startswith(f"{path}:8:14: error") and "did you mean `5m`" in t for t in out)


def test_cli_run_with_a_bad_data_section_exits_1_without_traceback(tmp_path, capsys):
    path = config(tmp_path, "data:\n  crypto_spot:\n    datasets: [nosuch]\n")
    assert main(["run", "--stage", "3", "--paper", "--no-progress", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:3:16: error SCHEMA_VALUE" in err and "Traceback" not in err


def test_dataset_in_the_wrong_domain_and_timeframe_it_cannot_make(tmp_path):
    path = config(tmp_path, "data:\n  crypto_spot:\n    datasets: [forex/EURUSD-1h]\n")
    out = diags(path)
    assert any(t.startswith(f"{path}:3:16: error CONFIG_DATA") and "EUR/USD trades in forex, not crypto_spot" in t
               for t in out)
    assert any("cannot make 15m bars from forex/EURUSD-1h's 1h bars" in t for t in out)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("store")
    ParquetStore(root).write(bundled.load("crypto_spot/ETH_BTC-5m"), "ETH/BTC", "5m")
    return root


def test_store_series_is_checked_against_the_store(tmp_path, store):
    path = config(tmp_path, f"data:\n  crypto_spot:\n    datasets:\n      - store:ETH/BTC@1h\n    store: {store}\n")
    (text,) = diags(path)
    assert text.startswith(f"{path}:4:9: error CONFIG_DATA the store {store} has no ETH/BTC 1h series")
    assert "hint: it holds ETH/BTC@5m" in text
    bad = config(tmp_path, "data:\n  crypto_spot:\n    datasets: ['store:ETH/BTC']\n")
    assert "write it as store:SYMBOL@TF" in diags(bad)[0]


def test_store_series_timeframe_is_canonical_and_loads(tmp_path, store):
    from engine.run.market import load_series

    path = config(tmp_path, f"data:\n  crypto_spot:\n    datasets: ['store:ETH/BTC@300s']\n    store: {store}\n")
    cfg = load_config(path)
    dd = cfg.data["crypto_spot"]
    assert dd.datasets == ["store:ETH/BTC@5m"]
    use = cfg.strategy.model_copy(update={"file": str(ROOT / "specs" / "strategies" / f"{cfg.strategy.spec}.yaml")})
    mine = load_series("store:ETH/BTC@5m", dd, use, 14)
    ref = load_series("crypto_spot/ETH_BTC-5m", dd, use, 14)
    assert (mine.symbol, mine.domain) == ("ETH/BTC", Domain.CRYPTO_SPOT)
    assert (mine.ts == ref.ts).all() and (mine.close == ref.close).all()


def test_bundled_close_labelled_bars_are_indexed_by_open():
    """6EH4 stamps bars at their close: CME halts 22:00-23:00 UTC, so the file has bars at 22:00
    and 23:01 but none at 23:00. Indexed by open, the last bar opens 21:59 and the first 23:00."""
    assert bundled.get("futures/6EH4-1m").label == "close"
    df = bundled.load("futures/6EH4-1m")
    hm = pd.Series(df.index.strftime("%H:%M")).value_counts()
    assert hm.get("22:00", 0) == 0 and hm.get("23:00", 0) > 0
    assert df.index[0] == pd.Timestamp("2024-01-01 23:00", tz="UTC")
    raw = pd.read_csv(bundled.get("futures/6EH4-1m").paths[0])
    assert df["open"].iloc[0] == raw["open"].iloc[0]
    assert bundled.load("crypto_perp/BTC-PERP-1m").index[0] == pd.Timestamp("2021-12-31 23:00", tz="UTC")
    assert bundled.get("forex/GBPUSD-1m").label == "open"


@pytest.mark.parametrize("name", ["store: ETH/BTC@5m", "store:ETH/BTC @ 5m", "store:  ETH/BTC@5m "])
def test_spaces_around_a_stored_names_parts_are_dropped(tmp_path, store, name):
    path = config(tmp_path, f"data:\n  crypto_spot:\n    datasets: ['{name}']\n    store: {store}\n")
    assert load_config(path).data["crypto_spot"].datasets == ["store:ETH/BTC@5m"]


def test_a_stored_symbol_without_a_contract_says_where_to_add_one(tmp_path):
    root = tmp_path / "store"
    ParquetStore(root).write(bundled.load("crypto_spot/ETH_BTC-5m"), "DOGE/BTC", "5m")
    path = config(tmp_path, f"data:\n  crypto_spot:\n    datasets: ['store:DOGE/BTC@5m']\n    store: {root}\n")
    (text,) = diags(path)
    assert text.startswith(f"{path}:3:16: error CONFIG_DATA store:DOGE/BTC@5m: DOGE/BTC is not in "
                           "adapters/paper/contracts.yaml")
    assert "hint: add its contract there (domain: crypto_spot, kind, tick, step, min_notional)" in text


def test_the_catalogue_names_its_file_for_an_unknown_symbol():
    from adapters.paper.catalogue import DEFAULT_PATH, Catalogue, UnknownSymbol

    with pytest.raises(UnknownSymbol, match=f"DOGE/BTC' is not in the contract catalogue \\({DEFAULT_PATH}: add"):
        Catalogue.load().get("DOGE/BTC")


def test_an_unquoted_store_name_with_a_space_gets_a_quoting_hint(tmp_path):
    path = config(tmp_path, "data:\n  crypto_spot:\n    datasets:\n      - store: ETH/BTC@5m\n")
    (text,) = diags(path)
    assert text.startswith(f"{path}:4:9: error SCHEMA_TYPE") and "must be a string, not a mapping" in text
    assert "hint: quote it to make it a string: 'store: ETH/BTC@5m'" in text


def test_a_contract_must_name_its_quote_currency(tmp_path):
    from adapters.paper.catalogue import Catalogue
    from engine.diagnostics import SpecError

    path = tmp_path / "contracts.yaml"
    path.write_text("DOGE/BTC: {domain: crypto_spot, kind: spot, tick: 0.00000001, step: 1, min_notional: 0.001}\n")
    with pytest.raises(SpecError, match=":1:11: error SCHEMA_MISSING missing required key `quote` in `DOGE/BTC`"):
        Catalogue.load(path)
    assert Catalogue.load().get("XRP-PERP").quote == "USDT"


def test_a_domain_trades_one_quote_currency(tmp_path):
    """One wallet per domain counts one currency: USD/JPY's JPY P&L must not land in the wallet
    GBP/USD's USD P&L does."""
    path = config(tmp_path, "data:\n  forex:\n    datasets: [forex/GBPUSD-1m, forex/USDJPY-1m]\n")
    (text,) = diags(path)
    assert text.startswith(f"{path}:3:33: error CONFIG_DATA forex/USDJPY-1m quotes in JPY, but forex/GBPUSD-1m "
                           "quotes in USD")
    load_config(config(tmp_path, "data:\n  forex:\n    datasets: [forex/USDJPY-1m]\n"))  # alone, it is a run


def test_a_future_is_refused_while_its_lifecycle_machine_is_not_driven(tmp_path):
    """A rule in a spec must be enforced: futures_roll's DTE gate, roll and settlement are not
    applied by engine run, so a run does not trade a future at all."""
    path = config(tmp_path, "data:\n  forex:\n    datasets: [futures/6EH4-1m]\n")
    (text,) = diags(path)
    assert text.startswith(f"{path}:3:16: error CONFIG_DATA futures/6EH4-1m: 6EH4 is a future: engine run does "
                           "not drive its lifecycle (specs/orders/futures_roll.yaml) yet")


def test_a_store_that_is_a_file_is_named_so(tmp_path):
    path = tmp_path / "run.yaml"
    config(tmp_path, f"data:\n  crypto_spot:\n    datasets: ['store:ETH/BTC@5m']\n    store: {path}\n")
    (text,) = diags(path)
    assert text.startswith(f"{path}:3:16: error CONFIG_DATA the store {path} is a file, not a store folder")
    assert "hint: point store: at the folder `engine data import --store` wrote (default var/store)" in text
