"""`engine data import --label close`: close-stamped bars are stored at their opens, shifted
as the bundled close-stamped data sets are (one implementation: bundled.to_open)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main
from engine.data import bundled
from engine.data.store import ParquetStore

BARS = 40


def _close_stamped_csv(tmp: Path) -> tuple[Path, pd.DataFrame]:
    """The first bundled XRP/ETH 5m bars (open-stamped), written stamped at their closes."""
    opens = bundled.load("crypto_spot/XRP_ETH-5m").iloc[:BARS]
    closes = opens.copy()
    closes.index = closes.index + pd.Timedelta("5min")
    path = tmp / "xrp_eth_close.csv"
    closes.rename_axis("timestamp_utc").to_csv(path, date_format="%Y-%m-%d %H:%M:%S")
    return path, opens


def _imported(tmp: Path, path: Path, *label: str) -> pd.DataFrame:
    store = tmp / "store"
    assert main(["data", "import", str(path), "--symbol", "XRP/ETH", "--tf", "5m", "--store", str(store),
                 *label]) == 0
    return ParquetStore(store).read("XRP/ETH", "5m")


def test_label_close_stores_the_bars_at_their_opens(tmp_path: Path) -> None:
    path, opens = _close_stamped_csv(tmp_path)
    back = _imported(tmp_path, path, "--label", "close")
    assert list(back.index) == list(opens.index)
    assert back[["open", "close"]].to_numpy().tolist() == opens[["open", "close"]].to_numpy().tolist()


def test_label_open_is_the_default_and_keeps_the_stamps(tmp_path: Path) -> None:
    path, opens = _close_stamped_csv(tmp_path)
    back = _imported(tmp_path, path)
    assert back.index[0] == opens.index[0] + pd.Timedelta("5min")


def test_an_unknown_label_is_an_argument_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bars = tmp_path / "x.csv"
    bars.write_text("ts,open,high,low,close\n")
    with pytest.raises(SystemExit) as e:
        main(["data", "import", str(bars), "--symbol", "XRP/ETH", "--tf", "5m", "--label", "middle"])
    assert e.value.code == 2 and "invalid choice: 'middle'" in capsys.readouterr().err
