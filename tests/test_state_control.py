"""The operator channel: a command posted from another process is taken once."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from state_support import open_store

ROOT = Path(__file__).resolve().parent.parent


def test_commands_are_taken_once_in_order(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        ids = [s.post_command("kill", {"mode": m}) for m in ("close_only", "flatten")]
        taken = s.take_commands()
        assert [(c.id, c.command, c.args) for c in taken] == [
            (ids[0], "kill", {"mode": "close_only"}), (ids[1], "kill", {"mode": "flatten"})]
        assert s.take_commands() == []
        assert all(r.consumed_ts is not None for r in s.commands())
        assert [e.payload["args"]["mode"] for e in s.journal_entries(kind="command")] == [
            "close_only", "flatten"]


def test_two_takers_never_share_a_command(tmp_path: Path) -> None:
    a, b, poster = open_store(tmp_path), open_store(tmp_path), open_store(tmp_path, "batch")
    got_a, got_b = [], []
    for i in range(30):
        poster.post_command("kill", {"i": i})  # posting commits at once even in batch mode
        (got_a if i % 3 else got_b).extend((a if i % 2 else b).take_commands())
    got_a += a.take_commands()
    got_b += b.take_commands()
    ids_a, ids_b = {c.id for c in got_a}, {c.id for c in got_b}
    assert not ids_a & ids_b and len(ids_a | ids_b) == 30
    for s in (a, b, poster):
        s.close()


def test_a_command_posted_by_another_process_reaches_a_running_store(tmp_path: Path) -> None:
    db = tmp_path / "engine.db"
    engine = open_store(tmp_path, "batch")
    engine.journal("tick", "", {})  # the engine holds an open batch...
    engine.commit()  # ...and commits it on its tick, as `take_commands` does
    script = ("import sys; from state.store import Store; "
              "s = Store.open(path=sys.argv[1]); print(s.post_command('kill', {'mode': 'flatten'})); s.close()")
    out = subprocess.run([sys.executable, "-c", script, str(db)], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    [cmd] = engine.take_commands()
    assert (cmd.id, cmd.command, cmd.args) == (int(out.stdout), "kill", {"mode": "flatten"})
    assert engine.take_commands() == []
    engine.close()



def test_a_poll_commits_a_batch_left_open_and_skips_the_claim_when_nothing_waits(tmp_path: Path) -> None:
    """An open batch holds SQLite's write lock, which `engine kill` waits on: the poll commits
    it. With nothing open and no command waiting, the poll writes nothing at all."""
    engine, other = open_store(tmp_path, "batch"), open_store(tmp_path)
    engine.journal("tick", "", {})  # open, not committed (batch)
    assert engine.take_commands() == []
    assert [e.kind for e in other.journal_entries()] == ["tick"]  # committed by the poll
    before = other.journal_entries()
    assert engine.take_commands() == [] and other.journal_entries() == before and other.commands() == []
    other.post_command("kill", {"mode": "flatten"})
    assert [c.args for c in engine.take_commands()] == [{"mode": "flatten"}]
    for s in (engine, other):
        s.close()


def test_a_command_without_a_name_is_refused_and_not_posted(tmp_path: Path) -> None:
    """Rule (control.post): the loop applies a command by its name; a nameless one could only be
    journaled as not applied, so it is refused where it is posted, and nothing waits."""
    with open_store(tmp_path) as s:
        with pytest.raises(ValueError, match="a command needs a name"):
            s.post_command("", {"mode": "flatten"})
        assert s.commands() == [] and s.take_commands() == []
