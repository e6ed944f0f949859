"""A resume is refused when any part of what the saved run's decisions are made from changed:
the risk spec, the overrides, the strategy file, a machine's spec, an ML spec the run's
entries are filtered by (session.spec_hashes; review 8: the regime and allowlists were not). The
check compared only the hosted machines' snapshots, so an edited `usd_rates` rate resumed
silently under the new rate, and an added stage override died as a "diverged" venue file;
and it read a fixed list of machines, so an edited `gate:` machine of a stage resumed too."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """data:
  crypto_spot:
    datasets: [crypto_spot/ETH_BTC-5m]
    primary: 15m
    confirm: 5m
strategy:
  file: {strategy}
"""
STAGE_3 = """kind: overrides
scope: stage
key: "3"
values:
  kill_modes:
    daily_loss_limit: 0.02
"""


def _run(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ENGINE_DB_URL"}
    return subprocess.run([sys.executable, "-m", "engine.cli", "run", "--stage", "1", "--no-progress",
                           "--config", str(work / "run.yaml"), "--db", str(work / "engine.db"),
                           "--specs", str(work / "specs"), *args],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped at --max-bars: a saved run to resume."""
    work = tmp_path_factory.mktemp("resume-specs")
    shutil.copytree(ROOT / "specs", work / "specs")
    strategy = Path(shutil.copy(ROOT / "specs" / "strategies" / "seed003.yaml", work / "strategy.yaml"))
    (work / "run.yaml").write_text(CONFIG.format(strategy=strategy))
    first = _run(work, "--max-bars", "120", "--run-dir", str(work / "run"))
    assert first.returncode == 0, first.stderr[-2000:]
    return work


def _edit_risk(work: Path) -> None:
    _replace(work / "specs" / "risk" / "risk.yaml", "usd: 13853\n", "usd: 20000\n")


def _add_stage_override(work: Path) -> None:
    (work / "specs" / "overrides" / "stage_3.yaml").write_text(STAGE_3)


def _edit_strategy(work: Path) -> None:
    _replace(work / "strategy.yaml", "    weight: 0.05\n    params: {fast_ema_window: 24,",
             "    weight: 0.06\n    params: {fast_ema_window: 24,")


def _edit_gate(work: Path) -> None:
    _replace(work / "specs" / "gates" / "model_promotion.yaml", "    default: 100\n", "    default: 50\n")


def _edit_regime(work: Path) -> None:
    _replace(work / "specs" / "ml" / "regime.yaml", "trend_adx_min: 20 ", "trend_adx_min: 25 ")


@pytest.mark.parametrize(("edit", "named"), [
    (_edit_risk, "the risk spec (risk/risk.yaml)"),
    (_edit_regime, "the regime spec (ml/regime.yaml)"),
    (_add_stage_override, "the overrides (overrides/"),
    (_edit_strategy, "the strategy (the strategy spec the config's strategy section names)"),
    (_edit_gate, "the spec of `model_promotion`"),
])
def test_a_changed_part_refuses_the_resume_by_name(saved: Path, tmp_path: Path, edit, named: str) -> None:
    kept = [Path(shutil.copytree(saved / "specs", tmp_path / "specs")),
            Path(shutil.copy(saved / "strategy.yaml", tmp_path / "strategy.yaml"))]
    try:
        edit(saved)
        done = _run(saved, "--resume")
    finally:  # the next case resumes the same saved run (a refused resume writes nothing)
        shutil.rmtree(saved / "specs")
        for path in kept:
            shutil.move(path, saved / path.name)
    assert done.returncode == 1, done.stderr[-2000:]
    assert named in done.stderr and "changed since the saved run's last checkpoint" in done.stderr
    assert "put the spec back and resume, or start afresh without --resume" in done.stderr
    assert "Traceback" not in done.stderr and "another build" not in done.stderr  # the same engine: the user's edit


def test_a_part_another_build_started_the_run_with_says_the_engine_changed(saved: Path) -> None:
    """The same risk file read by an upgraded engine can hash otherwise (a key its schema gained):
    the refusal blamed an edit nobody made."""
    with sqlite3.connect(saved / "engine.db") as db:
        (built,) = db.execute("SELECT value FROM kv WHERE key = 'run/engine'").fetchone()
        db.execute("UPDATE kv SET value = '\"0123456789abcdef\"' WHERE key = 'run/engine'")
    risk = saved / "specs" / "risk" / "risk.yaml"
    text = risk.read_text()
    try:
        _edit_risk(saved)  # what another engine's reading of the file looks like to this one
        done = _run(saved, "--resume")
        _replace(risk, "fill_price_band: 0.1", "fill_price_band: 1.5")  # out of bounds: the schema refuses it
        invalid = _run(saved, "--resume")
    finally:
        risk.write_text(text)
        with sqlite3.connect(saved / "engine.db") as db:
            db.execute("UPDATE kv SET value = ? WHERE key = 'run/engine'", (built,))
    assert done.returncode == 1, done.stderr[-2000:]
    assert ("the risk spec (risk/risk.yaml) changed since the saved run's last checkpoint as this engine reads them, "
            "and the run was last started or resumed by another build of the engine") in done.stderr
    assert "if you changed nothing, resume the run with that engine; else put the spec back" in done.stderr
    assert invalid.returncode == 1 and "fill_price_band" in invalid.stderr, invalid.stderr[-2000:]
    assert invalid.stderr.rstrip().splitlines()[-1] == (
        "engine run: note: the run was last started or resumed by another build of the engine, which may read the same files "
        "otherwise (its defaults and schemas): if the config and specs are the ones it started with, resume the run "
        "with that engine")


def test_a_resume_by_this_build_records_it_and_a_config_it_refuses_gets_the_note(tmp_path: Path) -> None:
    """The note is about the build that last ran the run: once this one resumed it, it read the
    run's files alike, and a later refusal is the user's edit. A config this build refuses (a key
    another build wrote) gets the note too: the store is found from the config's `db` as written."""
    from engine.run.build import code_digest

    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    strategy = Path(shutil.copy(ROOT / "specs" / "strategies" / "seed003.yaml", tmp_path / "strategy.yaml"))
    (tmp_path / "run.yaml").write_text(CONFIG.format(strategy=strategy))
    assert _run(tmp_path, "--max-bars", "60", "--run-dir", str(tmp_path / "run")).returncode == 0
    db = tmp_path / "engine.db"

    def built() -> str:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT value FROM kv WHERE key = 'run/engine'").fetchone()[0]

    assert built() == f'"{code_digest()}"'
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE kv SET value = '\"0123456789abcdef\"' WHERE key = 'run/engine'")
    (tmp_path / "run.yaml").write_text(CONFIG.format(strategy=strategy) + "old_key: 1\n")
    refused = _run(tmp_path, "--resume")
    assert refused.returncode == 1 and "unknown key `old_key`" in refused.stderr, refused.stderr[-2000:]
    assert refused.stderr.rstrip().splitlines()[-1].startswith("engine run: note: the run was last started or "
                                                              "resumed by another build of the engine")
    (tmp_path / "run.yaml").write_text(CONFIG.format(strategy=strategy))
    done = _run(tmp_path, "--resume", "--max-bars", "120")
    assert done.returncode == 0, done.stderr[-2000:]
    assert built() == f'"{code_digest()}"'


def test_unchanged_specs_resume_and_an_older_store_is_compared_as_before(saved: Path) -> None:
    more = _run(saved, "--resume", "--max-bars", "200")
    assert more.returncode == 0, more.stderr[-2000:]
    with sqlite3.connect(saved / "engine.db") as db:  # a store saved before the parts were kept
        kept = db.execute("SELECT key, value, updated_ts FROM kv WHERE key = 'run/specs'").fetchone()
        assert db.execute("DELETE FROM kv WHERE key = 'run/specs'").rowcount == 1
    try:
        gate = saved / "specs" / "gates" / "model_promotion.yaml"
        text = gate.read_text()
        _edit_gate(saved)  # the machines' snapshots still tell this one
        assert "the spec of `model_promotion`" in _run(saved, "--resume").stderr
        gate.write_text(text)
        done = _run(saved, "--resume", "--max-bars", "260")
        assert done.returncode == 0, done.stderr[-2000:]
    finally:  # the other cases share the saved run, in whatever order pytest-xdist hands them out
        with sqlite3.connect(saved / "engine.db") as db:
            db.execute("INSERT INTO kv (key, value, updated_ts) VALUES (?, ?, ?)", kept)


def test_an_edited_gate_machine_of_a_stage_refuses_the_resume(tmp_path: Path) -> None:
    specs = Path(shutil.copytree(ROOT / "specs", tmp_path / "specs"))
    gate = specs / "gates" / "crypto_gate.yaml"
    gate.write_text((specs / "gates" / "model_promotion.yaml").read_text()
                    .replace("name: model_promotion", "name: crypto_gate", 1))
    stage_1 = 'domains: &stage_1_domains {crypto_spot: paper, crypto_perp: "off", forex: "off", forex_options: "off"}\n'
    _replace(specs / "rollout" / "rollout.yaml", stage_1 + "    gate: model_promotion", stage_1 + "    gate: crypto_gate")
    (tmp_path / "run.yaml").write_text(CONFIG.format(strategy=ROOT / "specs" / "strategies" / "seed003.yaml"))
    first = _run(tmp_path, "--max-bars", "120", "--run-dir", str(tmp_path / "run"))
    assert first.returncode == 0, first.stderr[-2000:]

    _replace(gate, "    default: 100\n", "    default: 50\n")  # fewer trades before the gate may pass
    done = _run(tmp_path, "--resume")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "crypto_gate" in done.stderr and "changed since the saved run's last checkpoint" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_resume_on_other_bars_is_refused(tmp_path: Path) -> None:
    """A store series a daily import lengthened after the run stopped: the strategy was fitted on a
    share of the bars and the checkpoint counts rows of their timeline, so a resume on the longer
    series went on silently from a state it never made (review 8: fills matched neither run)."""
    import pandas as pd

    bars = pd.read_feather(ROOT / "engine/data/bundled/crypto_spot/ETH_BTC-5m.feather")
    bars.iloc[:4000].to_csv(tmp_path / "first.csv", index=False)
    bars.iloc[4000:].to_csv(tmp_path / "rest.csv", index=False)

    def data_import(name: str) -> None:
        done = subprocess.run([sys.executable, "-m", "engine.cli", "data", "import", str(tmp_path / name),
                               "--symbol", "ETH/BTC", "--tf", "5m", "--store", str(tmp_path / "bars")],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]

    data_import("first.csv")
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    config = CONFIG.format(strategy=ROOT / "specs" / "strategies" / "seed003.yaml")
    config = config.replace("[crypto_spot/ETH_BTC-5m]", '["store:ETH/BTC@5m"]')
    config = config.replace("    confirm: 5m\n", f"    confirm: 5m\n    store: {tmp_path / 'bars'}\n")
    (tmp_path / "run.yaml").write_text(config)
    first = _run(tmp_path, "--max-bars", "120", "--run-dir", str(tmp_path / "run"))
    assert first.returncode == 0, first.stderr[-2000:]
    data_import("rest.csv")
    done = _run(tmp_path, "--resume")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "the run's data changed since it started (crypto_spot/ETH/BTC: 1333 bars" in done.stderr
    assert "Traceback" not in done.stderr
