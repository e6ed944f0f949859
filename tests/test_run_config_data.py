"""The run config's data section refuses at load (file:line:col) what a run would trip over later:
a symbol listed twice (refused before the last run's files move aside), a confirmation timeframe
coarser than the primary; and its note_gaps_over is a timeframe with a default."""
from __future__ import annotations

from pathlib import Path

import pytest

from cli_support import ONE_DATASET
from engine.cli import main
from engine.data import bundled
from engine.data.store import ParquetStore
from engine.diagnostics import SpecError
from engine.run.config import load_config

pytestmark = pytest.mark.usefixtures("at_root")


def _config(tmp_path: Path, text: str, name: str = "run.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _diags(path: Path) -> list[str]:
    with pytest.raises(SpecError) as err:
        load_config(path)
    return [d.text() for d in err.value.diagnostics]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store")
    ParquetStore(root).write(bundled.load("crypto_spot/ETH_BTC-5m"), "ETH/BTC", "5m")
    return root


@pytest.mark.parametrize("second", ["crypto_spot/ETH_BTC-5m", "'store:ETH/BTC@5m'"])
def test_a_symbol_listed_twice_is_refused_at_its_second_entry(tmp_path: Path, store: Path, second: str) -> None:
    path = _config(tmp_path, f"data:\n  crypto_spot:\n    datasets: ['store:ETH/BTC@5m', {second}]\n"
                             f"    store: {store}\n")
    (text,) = _diags(path)
    assert text.startswith(f"{path}:3:36: error CONFIG_DATA ETH/BTC is listed twice: {second.strip(chr(39))} "
                           "here, and datasets[0] (store:ETH/BTC@5m) loads it already")
    assert "hint: keep one data set of ETH/BTC" in text


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_duplicate_refuses_the_run_before_the_last_run_s_files_move(tmp_path: Path, store: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    """QA: the run archived the previous run, then died on the paper venue's file."""
    work = tmp_path / "work"
    argv = ["run", "--stage", "1", "--no-progress", "--db", str(work / "e.db"), "--run-dir", str(work / "run"),
            "--max-bars", "60", "--config"]
    assert main([*argv, str(_config(tmp_path, ONE_DATASET))]) == 0
    before = _files(work)
    capsys.readouterr()
    dup = _config(tmp_path, f"data:\n  crypto_spot:\n    datasets: ['store:ETH/BTC@5m', crypto_spot/ETH_BTC-5m]\n"
                            f"    store: {store}\n", "dup.yaml")
    assert main([*argv, str(dup)]) == 1
    err = capsys.readouterr().err
    assert f"{dup}:3:36: error CONFIG_DATA ETH/BTC is listed twice" in err and "Traceback" not in err
    assert _files(work) == before  # the store, its venue file and the run directory: none moved to an archive


def test_a_confirmation_coarser_than_the_primary_is_refused_with_the_swap(tmp_path: Path) -> None:
    path = _config(tmp_path, "data:\n  crypto_spot:\n    primary: 15m\n    confirm: 1h\n")
    (text,) = _diags(path)
    assert text.startswith(f"{path}:4:14: error CONFIG_DATA confirm: 1h is coarser than primary: 15m")
    assert "hint: the confirmation timeframe is the finer one: swap them (primary: 1h, confirm: 15m)" in text
    same = load_config(_config(tmp_path, "data:\n  crypto_spot:\n    primary: 15m\n    confirm: 15m\n"))
    assert same.data["crypto_spot"].confirm == "15m"  # equal is no swap


def test_note_gaps_over_is_a_timeframe_with_a_default(tmp_path: Path) -> None:
    assert {dd.note_gaps_over for dd in load_config().data.values()} == {"4d"}
    cfg = load_config(_config(tmp_path, "data:\n  crypto_spot:\n    note_gaps_over: 72h\n"))
    assert cfg.data["crypto_spot"].note_gaps_over == "3d"
    path = _config(tmp_path, "data:\n  crypto_spot:\n    note_gaps_over: 4 days\n")
    (text,) = _diags(path)
    assert text.startswith(f"{path}:3:21: error") and "did you mean `4d`?" in text


def test_note_gaps_over_is_no_setting_a_resume_compares(tmp_path: Path) -> None:
    """It changes what the start notes, not what the run decides: a saved run resumes under
    another value, and one saved before the key existed resumes too."""
    from engine.run.checkpoint import config_digest

    cfg = load_config(_config(tmp_path, "data:\n  crypto_spot:\n    note_gaps_over: 1h\n"))
    assert config_digest(cfg) == config_digest(load_config())
