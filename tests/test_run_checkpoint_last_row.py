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
