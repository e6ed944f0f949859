"""A kill transition a timer fires happens at the timer's deadline, inside a bar: the audit trail
and report.json said so, the store's journal (kind `kill`) said the bar's close (rev31). One
transition has one time in all three."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from engine.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_a_timer_fired_kill_transition_has_its_deadline_in_the_journal_too(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    kill = specs / "kill" / "kill_modes.yaml"
    text = kill.read_text()
    old = "  cooldown:\n    type: duration\n    default: 15m\n"
    assert text.count(old) == 1
    kill.write_text(text.replace(old, old.replace("15m", "20m")))  # a deadline off the 15m bars' closes
    assert main(["run", "--stage", "1", "--no-progress", "--specs", str(specs), "--db", str(tmp_path / "s.db"),
                 "--run-dir", str(tmp_path / "run")]) == 0
    audit = [r["time"] for r in map(json.loads, (tmp_path / "run" / "audit.jsonl").open())
             if r["instance_id"] == "kill" and r["kind"] == "transition" and r["event"] == "cooldown_elapsed"]
    with sqlite3.connect(tmp_path / "s.db") as db:
        journal = [ts for (ts,) in db.execute("select ts from journal where kind = 'kill' and "
                                              "json_extract(payload, '$.event') = 'cooldown_elapsed' order by seq")]
    assert audit and journal == audit
    assert any(t % 900 for t in audit)  # a deadline inside a bar: the case that differed
