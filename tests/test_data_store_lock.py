"""One import of a series at a time, and no read of it meanwhile.

Two imports of one series at once each merged their bars into the days as they had read them, and
the later swap dropped the other's bars: both reported success and a half-day was gone. A read
between two swaps returned old days and new with no error. Both now hold the series' lock; one
that cannot have it within LOCK_WAIT_S is refused (DATA_BUSY) and writes nothing."""
from __future__ import annotations

import threading
from collections.abc import Iterator

import pandas as pd
import pytest

from engine.data import bundled, store as store_mod
from engine.data.errors import DataError
from engine.data.store import ParquetStore

SYMBOL, TF = "LTC/BTC", "5m"


@pytest.fixture(scope="module")
def day() -> pd.DataFrame:
    df = bundled.load("crypto_spot/LTC_BTC-5m")
    return df[(df.index >= pd.Timestamp("2018-01-11", tz="UTC")) & (df.index < pd.Timestamp("2018-01-12", tz="UTC"))]


@pytest.fixture
def paused(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[threading.Event, threading.Event]]:
    """A commit in a background thread stops before it swaps anything in until `go` is set; `inside`
    says it has stopped."""
    inside, go, swap = threading.Event(), threading.Event(), store_mod._swap

    def held(*args: object) -> None:
        if threading.current_thread() is not threading.main_thread():
            inside.set()
            assert go.wait(60)
        swap(*args)

    monkeypatch.setattr(store_mod, "_swap", held)
    monkeypatch.setattr(store_mod, "LOCK_WAIT_S", 0.2)
    yield inside, go
    go.set()


def _in_background(store: ParquetStore, df: pd.DataFrame, inside: threading.Event) -> threading.Thread:
    t = threading.Thread(target=store.write, args=(df, SYMBOL, TF))
    t.start()
    assert inside.wait(60)
    return t


def test_a_second_import_of_a_series_waits_for_the_first_and_loses_no_bar(tmp_path, day, paused) -> None:
    inside, go = paused
    store = ParquetStore(tmp_path)
    morning, afternoon = day.iloc[:144], day.iloc[144:]
    first = _in_background(store, morning, inside)  # merged its day, about to swap it in
    with pytest.raises(DataError) as e:
        store.write(afternoon, SYMBOL, TF)  # without the lock: merged into the day before the morning lands
    assert e.value.diagnostics[0].code == "DATA_BUSY" and "nothing was written" in e.value.message
    go.set()
    first.join()
    store.write(afternoon, SYMBOL, TF)
    assert store.read(SYMBOL, TF).index.equals(day.index)


def test_a_read_while_an_import_swaps_days_in_is_refused(tmp_path, day, paused) -> None:
    inside, go = paused
    store = ParquetStore(tmp_path)
    store.write(day, SYMBOL, TF)
    first = _in_background(store, day * 1.01, inside)
    with pytest.raises(DataError) as e:
        store.read(SYMBOL, TF)
    assert e.value.diagnostics[0].code == "DATA_BUSY"
    go.set()
    first.join()
    assert store.read(SYMBOL, TF).equals(day * 1.01)


def test_a_read_makes_no_lock_file_where_nothing_is_stored(tmp_path) -> None:
    with pytest.raises(DataError):
        ParquetStore(tmp_path / "s").read(SYMBOL, TF)
    assert not (tmp_path / "s").exists()
