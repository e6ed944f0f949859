"""A run says at its start what its data lacks: every hole in a series' traded bars longer than the
run config's data.<domain>.note_gaps_over (a console `note:`, a journal row, report.json data_gaps),
never a regular forex closure; and how many bars were made from partial bins (partial_bars)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli_support import ROOT
from engine.cli import main
from engine.data import bundled
from engine.data.bars import epoch_seconds
from engine.data.resample import multi_timeframe
from engine.data.store import ParquetStore
from engine.run.config import DomainData
from engine.run.market import data_gaps

pytestmark = pytest.mark.usefixtures("at_root")
DAY = 86400.0
DEFAULT_OVER = pd.Timedelta(DomainData(primary="1h", confirm="15m").note_gaps_over).total_seconds()


def test_a_hole_is_measured_from_the_close_before_it_to_the_open_after_it():
    ts = np.array([900.0, 1800.0, 1800.0 + 5 * DAY, 1800.0 + 5 * DAY + 900.0])  # 15m bars, by their close
    (gap,) = data_gaps("X", ts, 1, 900.0, 4 * DAY)
    assert (gap.start, gap.end, gap.missing) == (1800.0, 1800.0 + 5 * DAY - 900.0, 479)
    assert gap.as_dict() == {"symbol": "X", "from": "1970-01-01T00:30:00+00:00", "to": "1970-01-06T00:15:00+00:00",
                             "length_s": 5 * DAY - 900.0, "bars_missing": 479}
    assert data_gaps("X", ts, 3, 900.0, 4 * DAY) == ()  # before the bar ahead of the first traded one: fit only


@pytest.mark.parametrize("name,primary,confirm", [("forex/EURUSD-1h", "1h", "1h"), ("forex/GBPUSD-1m", "1h", "15m"),
                                                  ("forex/USDJPY-1m", "15m", "5m")])
def test_forex_weekends_and_holidays_are_no_holes_by_default(name: str, primary: str, confirm: str) -> None:
    df = multi_timeframe(bundled.load(name), primary, confirm)
    step = pd.Timedelta(primary).total_seconds()
    ts = epoch_seconds(df.index) + step
    assert np.diff(ts).max() > 2 * DAY  # the data has its weekends
    assert data_gaps("X", ts, 0, step, DEFAULT_OVER) == ()


@pytest.fixture(scope="module")
def holed_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ETH/BTC 5m whose last quarter comes 400 days later: a hole inside its traded bars."""
    df = bundled.load("crypto_spot/ETH_BTC-5m")
    cut = len(df) * 3 // 4
    df.index = df.index.where(np.arange(len(df)) < cut, df.index + pd.Timedelta(days=400))
    root = tmp_path_factory.mktemp("holed")
    ParquetStore(root).write(df, "ETH/BTC", "5m")
    return root


def test_a_run_notes_the_hole_in_console_journal_and_report(tmp_path: Path, holed_store: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"data:\n  crypto_spot:\n    datasets: ['store:ETH/BTC@5m']\n    store: {holed_store}\n"
                   "    primary: 15m\n    confirm: 5m\n")
    run = tmp_path / "run"
    assert main(["run", "--stage", "1", "--no-progress", "--config", str(cfg), "--db", str(tmp_path / "e.db"),
                 "--run-dir", str(run), "--max-bars", "60"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"note: ETH/BTC's traded bars have 1 hole\(s\) longer than 4d \(data\.crypto_spot\."
                     r"note_gaps_over\): 2018-01-25T\S+ to 2019-03-01T\S+ \(399 days 23:45:00, "
                     r"38,399 15m bars\); its indicators carry across them", " ".join(out.split()))
    report = json.loads((run / "report.json").read_text())
    (gap,) = report["data_gaps"]
    assert gap["symbol"] == "ETH/BTC" and gap["length_s"] > 399 * DAY and gap["bars_missing"] > 38000
    rows = [json.loads(line) for line in (run / "journal.jsonl").read_text().splitlines()]
    assert [r["payload"] for r in rows if r["kind"] == "data_gap"] == [gap]
    documented = set(re.findall(r"`([a-z_]+)`", (ROOT / "docs" / "run-report.md").read_text()))
    assert set(gap) | {k for p in report["partial_bars"] for k in p} <= documented


def test_a_series_stored_without_volume_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """rev27: a file with no volume column imported cleanly and the run then stopped on a KeyError
    traceback (engine/run/market.py): a source without volume trades with volume 0."""
    df = bundled.load("crypto_spot/ETH_BTC-5m").drop(columns=["volume"])
    ParquetStore(tmp_path / "s").write(df, "ETH/BTC", "5m")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"data:\n  crypto_spot:\n    datasets: ['store:ETH/BTC@5m']\n    store: {tmp_path / 's'}\n"
                   "    primary: 15m\n    confirm: 5m\n")
    assert main(["run", "--stage", "1", "--no-progress", "--config", str(cfg), "--db", str(tmp_path / "e.db"),
                 "--run-dir", str(tmp_path / "run"), "--max-bars", "60"]) == 0, capsys.readouterr().err
