"""The day-partitioned store replaces bars on timestamp, last write wins, idempotently."""
from __future__ import annotations

from engine.cli import main
from engine.data import bundled
from engine.data.store import ParquetStore


def snapshot(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*.parquet"))}


def test_reimport_is_idempotent_and_overlap_last_write_wins(tmp_path):
    df = bundled.load("crypto_spot/LTC_BTC-5m")
    store = ParquetStore(tmp_path)
    first = store.write(df.iloc[:3000], "LTC/BTC", "5m")
    assert (first.rows, first.replaced) == (3000, 0) and first.days_written == 11
    before = snapshot(tmp_path)
    again = store.write(df.iloc[:3000], "LTC/BTC", "5m")
    assert (again.replaced, again.differed, again.days_written) == (3000, 0, 0)
    assert snapshot(tmp_path) == before
    overlap = df.iloc[2500:].copy()
    for column in ("close", "high"):  # a bar the import would take: its close stays within its high
        overlap.loc[overlap.index[0], column] = overlap[column].iloc[0] * 1.01
    r = store.write(overlap, "LTC/BTC", "5m")
    assert (r.replaced, r.differed, r.first_differed) == (500, 1, overlap.index[0])
    back = store.read("LTC/BTC", "5m")
    assert len(back) == len(df) and back.index.is_unique and back.index.is_monotonic_increasing
    assert back.loc[overlap.index[0], "close"] == overlap["close"].iloc[0]
    paths = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert paths[0] == "symbol=LTC%2FBTC/tf=5m/date=2018-01-10/part.parquet"
    assert [(s.symbol, s.rows, s.days) for s in store.list()] == [("LTC/BTC", len(df), 21)]


def test_cli_import_twice(tmp_path, capsys):
    path = str(bundled.get("crypto_spot/XRP_ETH-5m").paths[0])
    args = ["data", "import", path, "--symbol", "XRP/ETH", "--tf", "5m", "--store", str(tmp_path)]
    assert main(args) == 0
    assert "706 rows imported, 0 stored bars replaced (0 with other values), 3 days written" in capsys.readouterr().out
    assert main(args) == 0
    out = capsys.readouterr()
    assert "706 rows imported, 706 stored bars replaced (0 with other values), 0 days written" in out.out
    assert "DATA_REPLACED" not in out.err
    assert main(["data", "list", "--store", str(tmp_path)]) == 0
    assert "XRP/ETH" in capsys.readouterr().out


def test_read_holds_bars_from_start_inclusive_to_end_exclusive_across_days(tmp_path):
    """ParquetStore.read: start <= ts < end, a start inside a day reads that day's later bars and an
    end at midnight leaves the next day out (mutation round 6)."""
    import pandas as pd

    idx = pd.date_range("2024-01-01", periods=48, freq="1h", tz="UTC", name="ts")
    df = pd.DataFrame({"open": [1, *range(1, 48)], "high": 50.0, "low": 0.5, "close": range(1, 49), "volume": 1.0},
                      index=idx, dtype=float)
    store = ParquetStore(tmp_path)
    store.write(df, "X", "1h")
    got = store.read("X", "1h", start="2024-01-01 05:00", end="2024-01-02")
    assert got.index[0] == pd.Timestamp("2024-01-01 05:00", tz="UTC")
    assert got.index[-1] == pd.Timestamp("2024-01-01 23:00", tz="UTC") and len(got) == 19
    inside = store.read("X", "1h", start="2024-01-01 05:00", end="2024-01-01 10:00")
    assert list(inside.index.hour) == [5, 6, 7, 8, 9]


def test_a_write_with_fewer_columns_than_the_series_is_refused(tmp_path):
    """A series keeps one set of columns (engine/data/store.py): a file without the stored volume
    (or bid/ask) merged in would leave NaN in the merged days, so it is refused, naming both sets
    (mutation round 6)."""
    import pandas as pd
    import pytest

    from engine.data.errors import DataError

    idx = pd.date_range("2024-01-01", periods=4, freq="1h", tz="UTC", name="ts")
    df = pd.DataFrame({"open": 1.0, "high": 2.0, "low": 0.5, "close": 1.0, "volume": 3.0}, index=idx)
    store = ParquetStore(tmp_path)
    store.write(df, "X", "1h")
    later = df.drop(columns="volume")
    later.index = later.index + pd.Timedelta(hours=4)
    with pytest.raises(DataError, match="differ from the stored X 1h series"):
        store.write(later, "X", "1h")
    assert len(store.read("X", "1h")) == 4 and not store.read("X", "1h").isna().any().any()
