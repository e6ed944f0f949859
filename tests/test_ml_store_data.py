"""`engine train ml` and `engine select` on a series imported with `engine data import`
(`--data store:SYMBOL@TF`, `--store ROOT`), resolved as a run config's data sets are.

The store is filled by the real import command from a small bundled file (XRP-PERP 5m,
2k bars); training uses a 5-tree model on short walk-forward windows to stay fast.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.data.bundled import get
from strategies.ml.registry import ModelRegistry

SOURCE = get("crypto_perp/XRP-PERP-5m").paths[0]
SERIES = "store:XRP-PERP@5m"
FILTER = ("kind: ml\nmodel: {n_estimators: 5}\n"
          "walkforward: {train: 2d, test: 12h, min_folds: 3, min_train_samples: 100}\n")


def import_series(store: str | None = None) -> None:
    where = ["--store", store] if store else []  # None: the import command's default root
    assert main(["data", "import", str(SOURCE), "--symbol", "XRP-PERP", "--tf", "5m", *where]) == 0


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("store")
    import_series(str(root))
    return root


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "filter.yaml"
    path.write_text(FILTER)
    return path


def train(spec: Path, registry: Path, *args: str) -> int:
    regime = Path(__file__).resolve().parents[1] / "specs" / "ml" / "regime.yaml"  # a test may run elsewhere
    return main(["train", "ml", "--symbol", "XRP-PERP", "--registry", str(registry), "--spec", str(spec),
                 "--regime", str(regime), *args])


def test_train_on_a_stored_series(tmp_path, store, spec, capsys):
    assert train(spec, tmp_path / "reg", "--tf", "5m", "--data", SERIES, "--store", str(store)) == 0
    out = capsys.readouterr().out
    assert "XRP-PERP 5m: 1999 bars" in out and "registered XRP-PERP 5m v1" in out
    manifest = ModelRegistry(tmp_path / "reg").manifest("XRP-PERP", "5m", 1)
    assert manifest["data"]["rows"] == 1999 and manifest["data"]["source"].startswith(str(store))


def test_train_store_defaults_to_the_import_commands_root(tmp_path, spec, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    import_series()
    assert train(spec, tmp_path / "reg", "--tf", "5m", "--data", SERIES) == 0
    assert "registered XRP-PERP 5m v1" in capsys.readouterr().out


def test_select_on_a_stored_series(tmp_path, store, capsys):
    out = tmp_path / "active.json"
    assert main(["select", "--data", SERIES, "--store", str(store), "--registry", str(tmp_path / "reg"),
                 "--min-trades", "0", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["symbols"] == ["XRP-PERP"]
    assert f"{SERIES}: walk-forward over" in capsys.readouterr().out


@pytest.mark.parametrize("data, tf, message, hint", [
    ("store:XRP@5m", "5m", "the store {store} has no XRP 5m series", "it holds XRP-PERP@5m"),
    ("store:XRP-PERP@1h", "1h", "the store {store} has no XRP-PERP 1h series", "it holds XRP-PERP@5m"),
    (SERIES, "1h", "store:XRP-PERP@5m holds 5m bars, not 1h", "pass --tf 5m; it holds XRP-PERP@5m"),
    ("store:XRP-PERP", "5m", "bad stored data set 'store:XRP-PERP': write it as store:SYMBOL@TF", None),
])
def test_train_store_errors_are_diagnostics(tmp_path, store, spec, capsys, data, tf, message, hint):
    assert train(spec, tmp_path / "reg", "--tf", tf, "--data", data, "--store", str(store)) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{store}:1:1: error DATA_STORE {message.format(store=store)}")
    assert hint is None or f"hint: {hint}" in err
    assert "Traceback" not in err and not (tmp_path / "reg").exists()


def test_train_on_an_empty_store_says_how_to_fill_it(tmp_path, spec, capsys):
    empty = tmp_path / "empty"
    assert train(spec, tmp_path / "reg", "--tf", "5m", "--data", SERIES, "--store", str(empty)) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{empty}:1:1: error DATA_STORE the store {empty} has no XRP-PERP 5m series")
    assert f"hint: it holds no series: engine data import FILE --symbol S --tf T --store {empty}" in err


def test_select_unknown_stored_series_is_a_diagnostic(tmp_path, store, capsys):
    out = tmp_path / "active.json"
    assert main(["select", "--data", "store:ETH/BTC@5m", "--store", str(store), "--registry", str(tmp_path / "reg"),
                 "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{store}:1:1: error DATA_STORE the store {store} has no ETH/BTC 5m series")
    assert "hint: it holds XRP-PERP@5m" in err and not out.exists()


def test_train_refuses_another_symbols_stored_bars(tmp_path, store, spec, capsys):
    """A data set names its symbol: a model of XRP-PERP's bars registered as ETH/BTC's would
    filter ETH/BTC's entries in a run."""
    code = main(["train", "ml", "--symbol", "ETH/BTC", "--registry", str(tmp_path / "reg"), "--spec", str(spec),
                 "--data", "store:XRP-PERP@5m", "--tf", "5m", "--store", str(store)])
    assert code == 1
    assert "holds XRP-PERP bars, not ETH/BTC" in capsys.readouterr().err
    assert not (tmp_path / "reg").exists() or not any((tmp_path / "reg").rglob("*.json"))


@pytest.mark.parametrize("tf, said", [
    ("7m", "XRP-PERP is bundled at 1h, 5m, not 7m: give --tf 1h or 5m, or its bars at 7m as --data"),
    ("1m", "XRP-PERP is bundled at 1h, 5m, not 1m: give --tf 1h or 5m"),
])
def test_train_at_a_timeframe_the_symbol_is_not_bundled_at_blames_the_timeframe(tmp_path, spec, capsys, tf, said):
    """The symbol was right: the message used to call it no data set at all."""
    assert train(spec, tmp_path / "reg", "--tf", tf) == 1
    err = capsys.readouterr().err
    assert said in err and "no bundled data set" not in err and not (tmp_path / "reg").exists()
