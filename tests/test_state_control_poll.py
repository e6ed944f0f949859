"""The running engine's poll of the control channel (Store.commands_waiting): it asks without
claiming (the claim rides on a checkpoint), and releases the write lock `engine kill` waits on."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from state_support import open_store


def test_a_poll_commits_a_batch_left_open_and_claims_nothing(tmp_path: Path) -> None:
    engine, other = open_store(tmp_path, "batch"), open_store(tmp_path)
    engine.journal("tick", "", {})  # open, not committed (batch): it holds SQLite's write lock
    assert engine.commands_waiting() is False
    assert [e.kind for e in other.journal_entries()] == ["tick"]  # committed by the poll
    other.post_command("kill", {"mode": "flatten"})
    assert engine.commands_waiting() is True and engine.commands_waiting() is True  # asked, not taken
    assert [c.consumed_ts for c in other.commands()] == [None]
    with engine.atomic():
        engine.journal("tick", "", {})
        assert engine.commands_waiting() is True
        assert _journaled(tmp_path) == 1  # inside a unit the poll commits nothing under it
    assert [c.args for c in engine.take_commands()] == [{"mode": "flatten"}]
    assert engine.commands_waiting() is False
    for s in (engine, other):
        s.close()


def _journaled(tmp_path: Path) -> int:
    """Journal rows committed, read beside the store's own connections (they would wait on its lock)."""
    conn = sqlite3.connect(tmp_path / "engine.db")
    try:
        return conn.execute("SELECT count(*) FROM journal").fetchone()[0]
    finally:
        conn.close()
