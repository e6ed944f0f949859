"""Each side's own open, high and low (bid_open .. ask_low) go from the bid and ask files through
the loader, the store and resampling to the bars a run replays; a file carrying them is checked
per side (low <= open, close <= high), never across sides, with the loader's file:line."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.data import bundled
from engine.data.bars import iter_bars
from engine.data.errors import DataError
from engine.data.loader import load_bars, load_bid_ask
from engine.data.quoted import SIDE_OHLC, QuotedBar
from engine.data.resample import resample
from engine.data.store import ParquetStore
from engine.domain import Bar, Domain
from engine.run.market import Series

HEADER = "timestamp,open,high,low,close,volume\n"
BID = ["2024-01-01 00:00,1.0000,1.0010,0.9990,1.0005,1", "2024-01-01 00:01,1.0005,1.0030,0.9950,1.0020,1",
       "2024-01-01 00:02,1.0021,1.0025,1.0015,1.0019,1", "2024-01-01 00:03,1.0019,1.0022,1.0010,1.0012,1"]
# The second bar's ask low (0.9985) sits above the bid's (0.9950): a spread that blew out. The third
# opens crossed (ask 1.0018 below bid 1.0021), as separately sampled quotes do.
ASK = ["2024-01-01 00:00,1.0002,1.0012,0.9992,1.0007,1", "2024-01-01 00:01,1.0007,1.0032,0.9985,1.0022,1",
       "2024-01-01 00:02,1.0018,1.0027,1.0017,1.0021,1", "2024-01-01 00:03,1.0021,1.0024,1.0012,1.0014,1"]


def write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def quotes(tmp_path: Path) -> pd.DataFrame:
    return load_bid_ask(write(tmp_path / "bid.csv", HEADER, BID), write(tmp_path / "ask.csv", HEADER, ASK), "X", "1m")


def test_bid_and_ask_files_keep_each_side_s_own_range(quotes: pd.DataFrame):
    row = quotes.iloc[1]
    assert (row.bid_open, row.bid_high, row.bid_low) == (1.0005, 1.0030, 0.9950)
    assert (row.ask_open, row.ask_high, row.ask_low) == (1.0007, 1.0032, 0.9985)
    assert row.low == pytest.approx((0.9950 + 0.9985) / 2)  # the mids stay the mean of the sides
    crossed = quotes.iloc[2]  # the wider open is the ask's, as at the close; each side's range holds it
    assert (crossed.bid_open, crossed.ask_open) == (1.0018, 1.0021)
    assert crossed.bid_low == 1.0015 and crossed.ask_low == 1.0017


def test_resampling_takes_each_side_s_extremes(quotes: pd.DataFrame):
    bar = resample(quotes, "2m").iloc[0]
    assert (bar.bid_open, bar.bid_high, bar.bid_low, bar.bid) == (1.0000, 1.0030, 0.9950, 1.0020)
    assert (bar.ask_open, bar.ask_high, bar.ask_low, bar.ask) == (1.0002, 1.0032, 0.9985, 1.0022)


def test_the_store_keeps_them(quotes: pd.DataFrame, tmp_path: Path):
    store = ParquetStore(tmp_path / "store")
    store.write(quotes, "X", "1m")
    back = store.read("X", "1m")
    assert np.array_equal(back[list(SIDE_OHLC)].to_numpy(), quotes[list(SIDE_OHLC)].to_numpy())


def test_a_series_stored_with_closing_quotes_only_says_to_import_it_again(quotes: pd.DataFrame, tmp_path: Path):
    store = ParquetStore(tmp_path / "store")
    store.write(quotes.drop(columns=list(SIDE_OHLC)), "X", "1m")
    with pytest.raises(DataError, match="import its bid and ask files again") as e:
        store.write(quotes, "X", "1m")
    assert str(store.folder("X", "1m")) in e.value.hint


def test_bars_carry_them_only_when_the_data_has_them(quotes: pd.DataFrame):
    bars = list(iter_bars(quotes))
    assert type(bars[1]) is QuotedBar and bars[1].bid_low == 0.9950 and bars[1].ask_high == 1.0032
    assert type(next(iter_bars(quotes.drop(columns=list(SIDE_OHLC))))) is Bar


def test_the_run_s_series_makes_quoted_bars_only_from_its_side_rows(quotes: pd.DataFrame):
    n, px = len(quotes), quotes["close"].to_numpy()
    cols = [quotes[c].to_numpy() for c in ("open", "high", "low", "close", "volume", "bid", "ask")]
    s = Series("X", Domain.FOREX, np.arange(n, dtype=float), *cols, px, px, px, 0,
               sides=quotes[list(SIDE_OHLC)].to_numpy())
    assert s.bar(1) == QuotedBar("X", 1.0, *(c[1] for c in cols), bid_open=1.0005, bid_high=1.0030,
                                 bid_low=0.9950, ask_open=1.0007, ask_high=1.0032, ask_low=0.9985)
    assert type(Series("X", Domain.FOREX, np.arange(n, dtype=float), *cols, px, px, px, 0).bar(1)) is Bar


def test_the_bundled_forex_data_has_them():
    df = bundled.load("forex/GBPUSD-1m")
    assert set(SIDE_OHLC) <= set(df.columns)
    assert (df.bid_low <= df.bid).all() and (df.ask_high >= df.ask).all()
    assert (df.bid_low < df.low - (df.ask - df.bid) / 2).any()  # the closing spread misses the bid's real low


def test_a_file_whose_side_is_not_a_bar_is_refused_at_its_line(tmp_path: Path):
    header = "timestamp,open,high,low,close,bid,ask,bid_open,bid_high,bid_low,ask_open,ask_high,ask_low\n"
    rows = ["2024-01-01 00:00,1.0,1.1,0.9,1.0,0.99,1.01,0.99,1.09,0.89,1.01,1.11,0.91",
            "2024-01-01 00:01,1.0,1.1,0.9,1.0,0.99,1.01,0.99,1.09,0.995,1.01,1.11,0.91"]  # bid low > bid open
    with pytest.raises(DataError) as e:
        load_bars(write(tmp_path / "q.csv", header, rows))
    assert (e.value.line, e.value.file) == (3, str(tmp_path / "q.csv"))
    assert "bid_low <= bid_open" in e.value.message and "bid_low=0.995" in e.value.message


def test_crossed_sides_are_not_refused(tmp_path: Path):
    header = "timestamp,open,high,low,close,bid,ask,bid_open,bid_high,bid_low,ask_open,ask_high,ask_low\n"
    rows = ["2024-01-01 00:00,1.0,1.1,0.9,1.0,0.99,1.01,0.99,1.12,0.95,1.01,1.11,0.91"]  # bid high > ask high
    assert load_bars(write(tmp_path / "q.csv", header, rows))["bid_high"].iloc[0] == 1.12


def test_some_side_columns_without_the_rest_are_refused(tmp_path: Path):
    rows = ["2024-01-01 00:00,1.0,1.1,0.9,1.0,0.89"]
    with pytest.raises(DataError, match="bid_low without bid_open, bid_high") as e:
        load_bars(write(tmp_path / "q.csv", "timestamp,open,high,low,close,bid_low\n", rows))
    assert e.value.line == 1
