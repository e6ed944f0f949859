"""Bid and ask files are two markets' sides: the bid file given again as its own --ask, or a copy
of it, would be quotes with no spread at any bar (every fill at the bid), and is refused."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.cli import main
from engine.data import bundled
from engine.data.errors import DataError
from engine.data.loader import load_bid_ask

HEADER = "timestamp,open,high,low,close,volume\n"


def minutes_csv(tmp_path: Path, name: str, bars: int, spread: float = 0.0) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(
        f"2024-01-02 {m // 60:02d}:{m % 60:02d},{1 + spread},{1.2 + spread},{0.9 + spread},{1.1 + spread},10\n"
        for m in range(bars)))
    return path


def test_the_bid_file_as_its_own_ask_is_refused(tmp_path, capsys):
    bid = minutes_csv(tmp_path, "bid.csv", 30)
    (tmp_path / "link.csv").symlink_to(bid)
    for ask in (bid, tmp_path / "link.csv"):
        with pytest.raises(DataError, match="the ask file is the bid file bid.csv itself") as err:
            load_bid_ask(bid, ask)
        assert err.value.line == 1 and "--ask" in err.value.hint
    store = tmp_path / "s"
    assert main(["data", "import", str(bid), "--ask", str(bid), "--symbol", "GBP/USD", "--tf", "1m",
                 "--store", str(store)]) == 1
    assert f"{bid}:1:1: error DATA the ask file is the bid file" in capsys.readouterr().err
    assert not store.exists()


def test_a_copy_of_the_real_bid_file_as_the_ask_is_refused(tmp_path):
    """The reviewer's case by another path: 30117 GBP/USD bars, ask == bid at every one."""
    bid = bundled.get("forex/GBPUSD-1m").paths[0]
    copy = tmp_path / "ask.csv.gz"
    shutil.copyfile(bid, copy)
    with pytest.raises(DataError, match="no bar of 30117 closes with ask above bid") as err:
        load_bid_ask(bid, copy)
    assert err.value.line == 1 and "copy of the bid file" in err.value.hint


def test_zero_spread_everywhere_is_refused_and_one_spread_bar_is_enough(tmp_path):
    bars = 6
    bid = minutes_csv(tmp_path, "bid.csv", bars)
    with pytest.raises(DataError, match="the quotes would have no spread anywhere"):
        load_bid_ask(bid, minutes_csv(tmp_path, "ask.csv", bars))
    lines = minutes_csv(tmp_path, "one.csv", bars).read_text().splitlines()
    lines[4] = lines[4].replace(",1.1,10", ",1.15,10")  # one bar closes with a spread
    one = tmp_path / "one.csv"
    one.write_text("\n".join(lines) + "\n")
    df = load_bid_ask(bid, one)
    assert (df["ask"] > df["bid"]).sum() == 1


def test_a_real_bid_and_ask_pair_still_merges():
    df = bundled.load("forex/GBPUSD-1m")
    assert (df["ask"] > df["bid"]).any() and not any("no spread" in w.message for w in df.attrs["warnings"])


def test_a_one_tick_quote_at_a_price_of_one_tick_imports(tmp_path):
    """rev32: a 1.5x bound on ask over bid refused a coin at 1 satoshi quoted 1-2 (and an option's
    wide quote); only a half spread no fill can be priced from is refused."""
    from engine.data.loader import load_bars

    bars = "".join(f"2024-01-02 {h:02d}:00,1e-08,2e-08,1e-08,1e-08,5,1e-08,2e-08\n" for h in range(6))
    path = tmp_path / "sat.csv"
    path.write_text("timestamp,open,high,low,close,volume,bid,ask\n" + bars)
    df = load_bars(path)
    assert (df["ask"] / df["bid"]).eq(2.0).all()
