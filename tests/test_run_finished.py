"""engine/run/finished.py complete: a finished run's directory brought level with its store."""
from __future__ import annotations

import json
from pathlib import Path

from engine.run.finished import complete
from engine.run.keys import DIR_KEY, FINISHED_KEY, RUN_ID_KEY
from engine.run.owner import Owner, read_owner, write_owner
from engine.run.report import JOURNAL, append_journal
from state.store import Store


def test_rows_journaled_after_a_finished_runs_export_are_appended_though_its_owner_says_finished(
        tmp_path: Path) -> None:
    """Issue 3: the run directory of a finished run is repaired from its store whenever the
    export lacks rows, even when the owner file already says finished (an operator command on
    the finished run journaled after the export was written). Mutant: an owner file marked
    finished taken as proof that nothing is missing."""
    db, run_dir = tmp_path / "engine.db", tmp_path / "run"
    run_dir.mkdir()
    store = Store.open(path=str(db))
    try:
        store.put_json(RUN_ID_KEY, "r1")
        store.put_json(DIR_KEY, str(run_dir))
        store.put_json(FINISHED_KEY, {"run_dir": str(run_dir)})
        store.journal("kv", "run/finished", {"finished": True})
        store.commit()
        append_journal(store.journal_entries(), run_dir / JOURNAL)
        write_owner(run_dir, Owner("engine.db", str(db), None, 1, "t", finished=True, run_id="r1"))
        later = store.journal("command", "kill", {"args": {}}, reason="not applied: the run finished")
        store.commit()
        said = complete(store, db)
    finally:
        store.close()
    assert said is not None and "appended the 1 journal row" in said
    last = (run_dir / JOURNAL).read_text(encoding="utf-8").splitlines()[-1]
    assert json.loads(last)["seq"] == later
    assert read_owner(run_dir).finished
