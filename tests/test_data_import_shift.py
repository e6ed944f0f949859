"""A series in the store keeps one stamp convention: importing the same bars under the other
`--label`, or a file stamped one bar off the stored series, is refused and writes nothing (it
used to store the bars again one bar apart, which re-importing could not undo)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.cli import main
from engine.data import bundled
from engine.data.bundled import to_open
from engine.data.errors import DataError
from engine.data.store import ParquetStore

BARS = 300


def _csv(tmp: Path, name: str, bars: pd.DataFrame) -> Path:
    path = tmp / name
    bars.rename_axis("timestamp_utc").to_csv(path, date_format="%Y-%m-%d %H:%M:%S")
    return path


def _opens() -> pd.DataFrame:
    return bundled.load("crypto_spot/XRP_ETH-5m").iloc[:BARS]


def _import(store: Path, path: Path, label: str) -> int:
    return main(["data", "import", str(path), "--symbol", "XRP/ETH", "--tf", "5m", "--store", str(store),
                 "--label", label])


def _snapshot(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_same_file_under_the_other_label_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, path = tmp_path / "store", _csv(tmp_path, "opens.csv", _opens())
    assert _import(store, path, "open") == 0
    before = _snapshot(store)
    capsys.readouterr()
    assert _import(store, path, "close") == 1
    err = capsys.readouterr().err
    assert "error DATA_LABEL" in err and "--label open" in err and "Traceback" not in err
    assert "symbol=XRP%2FETH/tf=5m" in err  # the hint names the folder to remove to start over
    assert _snapshot(store) == before


def test_a_file_stamped_one_bar_off_the_stored_series_is_refused(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Both imports say --label open, but the second file stamps each bar at its close."""
    opens = _opens()
    closes = opens.copy()
    closes.index = closes.index + pd.Timedelta("5min")
    store = tmp_path / "store"
    assert _import(store, _csv(tmp_path, "opens.csv", opens), "open") == 0
    before = _snapshot(store)
    capsys.readouterr()
    assert _import(store, _csv(tmp_path, "closes.csv", closes.iloc[100:]), "open") == 1
    err = capsys.readouterr().err
    assert "error DATA_SHIFTED" in err and "one bar earlier" in err and "--label close" in err
    assert _snapshot(store) == before
    assert len(ParquetStore(store).read("XRP/ETH", "5m")) == BARS


def test_flat_bars_reimported_at_their_own_stamps_are_not_a_shift(tmp_path: Path) -> None:
    """Bars equal to their neighbours (a quiet market) also equal the stored bar one bar away."""
    idx = pd.date_range("2024-01-01", periods=50, freq="5min", tz="UTC")
    flat = pd.DataFrame({c: 1.0 for c in ("open", "high", "low", "close")} | {"volume": 0.0}, index=idx)
    store = ParquetStore(tmp_path)
    store.write(flat, "X", "5m")
    assert store.write(flat.iloc[10:], "X", "5m").replaced == 40


def test_a_store_write_with_another_label_is_refused(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path)
    opens = _opens()
    store.write(opens.iloc[:100], "XRP/ETH", "5m", label="close")
    with pytest.raises(DataError, match="--label close"):
        store.write(opens.iloc[200:], "XRP/ETH", "5m", label="open")


def test_the_replaced_hint_does_not_promise_an_undo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    opens = _opens()
    store = tmp_path / "store"
    assert _import(store, _csv(tmp_path, "a.csv", opens), "open") == 0
    assert _import(store, _csv(tmp_path, "b.csv", opens * [1.01, 1.01, 1.01, 1.01, 1.0]), "open") == 0
    err = capsys.readouterr().err
    assert "DATA_REPLACED" in err and "to undo" not in err and "symbol=XRP%2FETH/tf=5m" in err


def _shifted(tmp: Path, minutes: int, label: str = "open") -> tuple[int, str, dict, Path]:
    """The stored series, then its copy stamped `minutes` off, under --label `label`: (code, stderr, the store
    before, store)."""
    import contextlib
    import io

    opens = _opens()
    moved = opens.copy()
    moved.index = moved.index + pd.Timedelta(minutes=minutes)
    store = tmp / "store"
    assert _import(store, _csv(tmp, "opens.csv", opens), label) == 0
    before = _snapshot(store)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = _import(store, _csv(tmp, "moved.csv", moved.iloc[100:]), label)
    return code, err.getvalue(), before, store


def test_a_file_one_bar_late_is_told_it_labels_by_the_close_with_a_way_out_that_is_not_refused(
        tmp_path: Path) -> None:
    code, err, before, store = _shifted(tmp_path, 5)
    assert code == 1 and "error DATA_SHIFTED" in err
    assert "stamps are one bar later than the stored bars'" in err and "labels its bars by their close" in err
    assert "re-stamp the file one bar earlier" in err
    # the old hint: `import it with --label close`, which _check_label refuses on this open-labelled series
    assert "import it with --label close" not in err
    assert _snapshot(store) == before


def test_a_file_one_bar_early_is_not_told_to_shift_it_further(tmp_path: Path) -> None:
    code, err, before, store = _shifted(tmp_path, -5)
    assert code == 1 and "error DATA_SHIFTED" in err
    assert "stamps are one bar earlier than the stored bars'" in err and "re-stamp the file one bar later" in err
    assert "--label close" not in err  # that would move its bars one more bar away
    assert _snapshot(store) == before


def test_a_close_labelled_series_is_told_a_file_stamped_at_the_opens(tmp_path: Path) -> None:
    code, err, _, _ = _shifted(tmp_path, -5, label="close")
    assert code == 1 and "labels its bars by their open; the series holds close-labelled bars" in err


def test_a_series_stored_before_labels_may_take_the_hinted_label(tmp_path: Path) -> None:
    """With no label recorded, `--label close` is let through, and it is the right one."""
    opens = _opens()
    closes = opens.copy()
    closes.index = closes.index + pd.Timedelta("5min")
    store = ParquetStore(tmp_path)
    store.write(opens, "XRP/ETH", "5m")
    (store.folder("XRP/ETH", "5m") / "label").unlink()  # as a series stored before labels were
    with pytest.raises(DataError) as e:
        store.write(closes.iloc[100:], "XRP/ETH", "5m", label="open")
    assert e.value.hint == "import it with --label close"
    assert store.write(to_open(closes.iloc[100:], "5m", "close"), "XRP/ETH", "5m", label="close").differed == 0
