"""The active set a run limits new entries to (docs/engine-run.md "The active set"), and what
the run config's ml section says at load: one rule for a missing or bad active set file, found
before the last run's files are archived; a start that fails later still puts them back; an
`ml.symbols` pin for a symbol the run does not trade, or with a bad timeframe, is refused at
its line:col."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import ONE_DATASET, cli
from engine.diagnostics import SpecError
from engine.run.config import load_config
from engine.run.signals import load_active_set
from engine.run.session import load_specset
from strategies.ml.config import SelectionConfig, load_model
from test_run_ml import spec_set

pytestmark = pytest.mark.usefixtures("at_root")
ROOT = Path(__file__).resolve().parents[1]
SPECS = load_specset([str(ROOT / "specs")])


def _config(tmp: Path, text: str) -> Path:
    path = tmp / "run.yaml"
    path.write_text(ONE_DATASET + text)
    return path


def _error(tmp: Path, ml: str, specs=SPECS) -> str:
    config = _config(tmp, ml)
    with pytest.raises(SpecError) as e:
        load_active_set(load_config(config), specs, str(config))
    (d,) = e.value.diagnostics
    return d.text()


# -- the rule ------------------------------------------------------------------------------
def test_no_file_where_the_selection_spec_points_is_no_selection(tmp_path: Path) -> None:
    """The default (no ml.active_set_file, `engine select` never run): every symbol may enter."""
    config = _config(tmp_path, "")
    assert load_active_set(load_config(config), spec_set(tmp_path), str(config)) is None


def test_a_named_file_that_is_missing_is_refused_at_the_key(tmp_path: Path) -> None:
    text = _error(tmp_path, "ml: {active_set_file: nope.json}\n")
    assert text.startswith(f"{tmp_path / 'run.yaml'}:7:23: error ACTIVE_SET ml.active_set_file names nope.json, "
                           "which does not exist"), text
    assert "engine select" in text and "remove the key" in text


@pytest.mark.parametrize("content, at, what", [
    ("{bad", "1:2", "is not valid JSON: Expecting property name"),
    ("", "1:1", "is empty"),
    ("  \n", "1:1", "is empty"),
    ("{}", "1:1", "is not an active set (`symbols`: field required; `generated_at`: field required)"),
    ('{"symbols": ["ETH/BTC"]}', "1:1", "is not an active set (`generated_at`: field required)"),
    ('{"symbols": "ETH/BTC", "generated_at": "2026-01-01"}', "1:1",
     "is not an active set (`symbols`: input should be a valid list)"),
    ('[\n  "ETH/BTC"\n]', "1:1", "is not an active set"),
    ('{"symbols": ["ETH/BTC"],\n "generated_at": 2026}', "1:1",
     "is not an active set (`generated_at`: input should be a valid string)"),
])
def test_a_file_that_is_no_active_set_is_refused_at_its_line(tmp_path: Path, content: str, at: str,
                                                            what: str) -> None:
    (tmp_path / "a.json").write_text(content)
    text = _error(tmp_path, f"ml: {{active_set_file: {tmp_path / 'a.json'}}}\n")
    assert text.startswith(f"{tmp_path / 'a.json'}:{at}: error ACTIVE_SET the active set file "
                           f"{tmp_path / 'a.json'} {what}"), text
    assert "hint: write it again with `engine select`" in text


def test_the_default_file_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "active.json").write_text("{}")
    assert "is not an active set" in _error(tmp_path, "", spec_set(tmp_path))


def test_a_folder_is_refused_at_the_setting_that_names_it(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    text = _error(tmp_path, f"ml: {{active_set_file: {tmp_path / 'dir'}}}\n")
    assert text.startswith(f"{tmp_path / 'run.yaml'}:7:23: error ACTIVE_SET the active set file {tmp_path / 'dir'} "
                           "is a directory, not a file"), text
    (tmp_path / "dir" / "active.json").mkdir()  # where spec_set points the selection spec's fallback_file
    text = _error(tmp_path, "", spec_set(tmp_path / "dir"))
    assert text.startswith(f"{SPECS.extra_pos['selection'].file}:13:16: error ACTIVE_SET the active set file "
                           f"{tmp_path / 'dir' / 'active.json'} is a directory, not a file"), text


# -- a run ------------------------------------------------------------------------------
def _files(folder: Path) -> dict[str, bytes]:
    """The files of `folder` with content, less SQLite's shared-memory index (a reader of the store
    rewrites it, and makes an empty write-ahead log) and the config the test rewrites."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.stat().st_size and not p.name.endswith("-shm") and p.name != "run.yaml"}


@pytest.fixture(scope="module")
def saved_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stage-1 run stopped after 60 bars: an unfinished run in its store, which a fresh run archives."""
    from engine.cli import main

    work = tmp_path_factory.mktemp("saved")
    (work / "run.yaml").write_text(ONE_DATASET)
    assert main(["run", "--stage", "1", "--no-progress", "--config", str(work / "run.yaml"), "--db",
                 str(work / "e.db"), "--run-dir", str(work / "run"), "--max-bars", "60"]) == 0
    return work


@pytest.fixture
def saved(saved_once: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(saved_once, tmp_path / "w"))


def _run(capsys: pytest.CaptureFixture, work: Path, ml: str) -> tuple[int, str]:
    (work / "run.yaml").write_text(ONE_DATASET + ml)
    rc, _, err = cli(capsys, "run", "--stage", "1", "--no-progress", "--config", str(work / "run.yaml"), "--db",
                     str(work / "e.db"), "--run-dir", str(work / "run"), "--max-bars", "60")
    return rc, err


@pytest.mark.parametrize("name, content, needle", [
    ("nope.json", None, "which does not exist"),
    ("bad.json", "{bad", "is not valid JSON"),
    ("nodate.json", '{"symbols": ["ETH/BTC"]}', "`generated_at`: field required"),
    ("empty.json", "{}", "is not an active set"),
])
def test_a_bad_active_set_refuses_the_run_before_the_last_run_moves(saved: Path, capsys: pytest.CaptureFixture,
                                                                   name: str, content: str | None,
                                                                   needle: str) -> None:
    if content is not None:
        (saved / name).write_text(content)
    before = _files(saved)
    rc, err = _run(capsys, saved, f"ml: {{active_set_file: {saved / name}}}\n")
    assert rc == 1 and "error ACTIVE_SET" in err and needle in err, err
    assert _files(saved) == before
    assert not (saved / "e.db-archive").exists()


def test_a_start_that_fails_after_archiving_puts_the_last_run_back(saved: Path, capsys: pytest.CaptureFixture,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Any error while starting (here one no handler expects), not only the ones _assemble words."""
    import engine.run.assemble as assemble

    def broken(*args, **kwargs):
        raise KeyError("generated_at")

    monkeypatch.setattr(assemble, "active_symbols", broken)
    before = _files(saved)
    with pytest.raises(KeyError):
        _run(capsys, saved, "")
    assert _files(saved) == before
    assert not (saved / "e.db-archive").exists()


def test_a_run_with_an_active_set_limits_entries_and_says_so(saved: Path, capsys: pytest.CaptureFixture) -> None:
    (saved / "a.json").write_text(json.dumps({"symbols": ["ETH/BTC", "LTC/BTC"], "generated_at": "2026-01-01"}))
    (saved / "run.yaml").write_text(ONE_DATASET + f"ml: {{active_set_file: {saved / 'a.json'}}}\n")
    rc, out, err = cli(capsys, "run", "--stage", "1", "--no-progress", "--config", str(saved / "run.yaml"), "--db",
                       str(saved / "e2.db"), "--run-dir", str(saved / "run2"), "--max-bars", "60")
    assert rc == 0, err
    assert "note: entries only on the active set: ETH/BTC, LTC/BTC" in out
    assert "the active set names LTC/BTC, which no series of the run trades (it trades ETH/BTC)" in out + err


@pytest.mark.parametrize("ranked_until, in_sample", [("2030-01-01T00:00:00+00:00", True), ("2000-01-01T00:00:00", False),
                                                     (None, False)])
def test_a_set_ranked_on_the_bars_the_run_trades_is_said_to_be_in_sample(
        saved: Path, capsys: pytest.CaptureFixture, ranked_until: str | None, in_sample: bool) -> None:
    """`engine select` ranked on the whole series: the run traded a set chosen on its own outcomes."""
    (saved / "a.json").write_text(json.dumps({"symbols": ["ETH/BTC"], "generated_at": "2026-01-01",
                                              "ranked_until": ranked_until}))
    (saved / "run.yaml").write_text(ONE_DATASET + f"ml: {{active_set_file: {saved / 'a.json'}}}\n")
    rc, out, err = cli(capsys, "run", "--stage", "1", "--no-progress", "--config", str(saved / "run.yaml"), "--db",
                       str(saved / "e2.db"), "--run-dir", str(saved / "run2"), "--max-bars", "60")
    assert rc == 0, err
    said = "note: the active set was ranked on outcomes up to 2030-01-01T00:00:00+00:00, after this run's first"
    assert (said in out) is in_sample, out
    if in_sample:
        assert "rank with `engine select --until 20" in out


def test_an_active_set_naming_no_symbol_the_run_trades_refuses_it(saved: Path, capsys: pytest.CaptureFixture) -> None:
    """It ran to the end with 0 trades and no word: every entry refused as off the active set."""
    (saved / "a.json").write_text(json.dumps({"symbols": ["LTC/BTC"], "generated_at": "2026-01-01"}))
    before = _files(saved)
    rc, err = _run(capsys, saved, f"ml: {{active_set_file: {saved / 'a.json'}}}\n")
    assert rc == 1 and "error ACTIVE_SET the active set names LTC/BTC, none of which the run trades" in err, err
    assert _files(saved) == before


# -- paths that name no file ---------------------------------------------------------------
@pytest.mark.parametrize("value, what", [('""', "names no file (it is empty)"),
                                         ("var/", "names a folder (var/), not a file"),
                                         (".", "names a folder (.), not a file")])
def test_a_path_that_names_no_file_is_refused_at_load(tmp_path: Path, value: str, what: str) -> None:
    config = _config(tmp_path, f"ml:\n  active_set_file: {value}\n")
    with pytest.raises(SpecError) as e:
        load_config(config)
    (d,) = e.value.diagnostics
    assert d.text().startswith(f"{config}:8:20: error SCHEMA_VALUE `ml.active_set_file`: {what}"), d.text()
    spec = tmp_path / "selection.yaml"
    spec.write_text(f"kind: selection\nfallback_file: {value}\n")
    with pytest.raises(SpecError) as e:
        load_model(spec, SelectionConfig)
    (d,) = e.value.diagnostics
    assert d.text().startswith(f"{spec}:2:16: error SCHEMA_VALUE `fallback_file`: {what}"), d.text()


# -- ml.symbols -----------------------------------------------------------------------------
def test_a_pin_for_a_symbol_the_run_does_not_trade_is_refused_at_its_key(tmp_path: Path) -> None:
    config = _config(tmp_path, "ml:\n  symbols:\n    ETH/BTX: [{tf: 5m, version: 3}]\n")
    with pytest.raises(SpecError) as e:
        load_config(config)
    (d,) = e.value.diagnostics
    assert d.text() == (f"{config}:9:5: error CONFIG_ML ml.symbols pins models for ETH/BTX, which no data set of "
                        "the run trades\n    hint: did you mean `ETH/BTC`? the run's data sets "
                        "(data.<domain>.datasets) trade BTC-PERP, ETH/BTC, GBP/USD")


def test_a_pin_s_timeframe_is_checked_at_load(tmp_path: Path) -> None:
    config = _config(tmp_path, "ml:\n  symbols:\n    ETH/BTC: [{tf: 5x, version: 3}]\n")
    with pytest.raises(SpecError) as e:
        load_config(config)
    (d,) = e.value.diagnostics
    assert d.text().startswith(f"{config}:9:20: error SCHEMA_VALUE `ml.symbols.ETH/BTC.0.tf`: bad timeframe '5x'")
    config = _config(tmp_path, "ml:\n  symbols:\n    ETH/BTC: [{tf: 60m, version: 3}]\n")
    assert load_config(config).ml.symbols["ETH/BTC"][0].tf == "1h"  # the registry's name of the timeframe


def test_an_active_set_file_with_a_key_twice_is_refused_at_the_second(tmp_path: Path) -> None:
    """json.loads keeps the last: `"symbols": []` below the real list ran to 0 trades, exit 0."""
    from strategies.selection import ActiveSetError, read_active_set_file

    f = tmp_path / "as.json"
    f.write_text('{"symbols": ["ETH/BTC"],\n "generated_at": "2024-01-01T00:00:00+00:00",\n "symbols": []}')
    with pytest.raises(ActiveSetError) as e:
        read_active_set_file(f)
    assert (e.value.pos.line, e.value.pos.col) == (3, 2) and "the key `symbols` twice" in e.value.what
    f.write_text('{"symbols": ["ETH/BTC"], "generated_at": "not a time"}')
    with pytest.raises(ActiveSetError, match="`generated_at`: value error, invalid isoformat string"):
        read_active_set_file(f)
