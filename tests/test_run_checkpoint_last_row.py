"""A run whose last row is a checkpoint's (a `--max-bars` that is a multiple of checkpoint_every,
or data of such a length) ended with a second checkpoint of that row: nothing had happened since,
so it journaled an empty equity row and anchored the saved run on it (rev29). A run, and its
resume, now end with one checkpoint of their last row."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from engine.cli import main

SPECS = str(Path(__file__).resolve().parents[1] / "specs")


def _run(tmp: Path, bars: int, *more: str) -> None:
    assert main(["run", "--stage", "1", "--no-progress", "--specs", SPECS, "--db", str(tmp / "e.db"),
                 "--max-bars", str(bars), *more]) == 0


def _journal(tmp: Path) -> tuple[list[tuple[int, list]], list[dict]]:
    with sqlite3.connect(tmp / "e.db") as db:
        rows = db.execute("select seq, kind, key, payload from journal where kind in ('equity', 'kv') order by seq")
        rows = rows.fetchall()
    equity = [(seq, json.loads(p)["points"]) for seq, kind, _, p in rows if kind == "equity"]
    checkpoints = [json.loads(p)["value"] for _, kind, key, p in rows if kind == "kv" and key == "run/checkpoint"]
    return equity, checkpoints


def test_a_run_and_its_resume_end_with_one_checkpoint_of_their_last_row(tmp_path: Path) -> None:
    _run(tmp_path, 400, "--run-dir", str(tmp_path / "run"))
    _run(tmp_path, 600, "--resume")
    equity, checkpoints = _journal(tmp_path)
    assert [seq for seq, points in equity if not points] == []
    assert [c["cursor"] for c in checkpoints] == [200, 400, 600]
    assert checkpoints[-1]["journal_seq"] == equity[-1][0]


def test_a_checkpoint_after_a_store_write_of_the_same_row_is_saved(tmp_path: Path) -> None:
    """rev32: the skip compared the row, clock, venue calls and audit length only, so the checkpoint
    after an applied `engine select` (no machine moved, its effect already in the store) was
    skipped: the one claiming the command stayed last, and a resume after a crash applied it again."""
    from engine.run.checkpoint import save
    from run_support import Checker, Scenario, build, write_env_override

    sc = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=50, seed=1, partial_fill_prob=0.0,
                  slippage_bps=0.0, max_hold_s=36000.0, flip_every=10)
    runner = build(sc, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    runner.run(limit=20)
    store = runner.session.store
    runner.session.interp.sink.mark = lambda: 123  # a file trail whose length says no machine moved

    def saved() -> int:
        return len(store.journal_entries("kv", "run/checkpoint"))

    save(runner)
    before = saved()
    save(runner)
    assert saved() == before  # nothing since: not saved again
    store.put_json("ml/active_set", {"symbols": ["ETH/BTC"]})  # an applied command's effect
    save(runner)
    assert saved() == before + 1
