"""`engine select --state DB` hands its top-K set to the run in that store through the control
channel (engine/commands/select.py, engine/run/signals.py change_active_set): a running or
stopped run takes it, journals the old and new set and keeps it; a store no run would take it
from is refused with the `--out FILE` hint. It used to write the store's kv key, which a fresh
run archives and a resume ignores: the set was silently never used."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.run.signals import SET_ACTIVE
from run_support import write_env_override
from state.store import Store


def _metrics(tmp_path: Path, symbols: list[str]) -> str:
    rows = [{"symbol": s, "tf": "5m", "trades": 40, "sharpe": 2.0, "profit_factor": 1.5, "max_drawdown": 0.1,
             "winrate": 0.5} for s in symbols]
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(rows))
    return str(path)


def _select(tmp_path: Path, db: Path, *symbols: str, extra: tuple[str, ...] = ()) -> int:
    return main(["select", "--metrics", _metrics(tmp_path, list(symbols)), "--state", str(db), *extra])


def _changes(db: Path) -> list:
    with Store.open(path=str(db)) as s:
        return [e for e in s.journal_entries("ml", "active_set") if "from" in e.payload]


def _rejected(runner) -> list:
    ses = runner.session
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    return [e for e in ses.store.journal_entries("signal_rejected") if e.payload["rule"] == "active_symbol"]


def test_a_stopped_run_takes_the_set_at_its_resume_and_keeps_it(tmp_path: Path, capsys) -> None:
    from resume_support import finish_run, funded_run

    overrides = write_env_override(tmp_path / "ovr", wallet=1_000_000.0)
    work = tmp_path / "w"
    runner = funded_run(work, overrides, "full")
    runner.run(limit=100)  # checkpointed at row 100, then stopped
    assert runner.active_symbols is None and not _rejected(runner)  # no selection: XRP-PERP entries pass
    runner.session.store.close()
    runner.session.venue.close()
    db = work / "engine.db"
    assert _select(tmp_path, db, "BTC-PERP", extra=("--reason", "weekly reselection")) == 0
    out = capsys.readouterr().out
    assert "posted #" in out and "--resume" in out and "its active set until then: none" in out, out
    with Store.open(path=str(db)) as s:
        assert s.get_json("active_symbols") is None  # the engine's to write, once it takes the set

    resumed = funded_run(work, overrides, "full", resume=True)
    finish_run(resumed)
    assert resumed.active_symbols == frozenset({"BTC-PERP"})
    [change] = _changes(db)
    assert change.payload["from"] is None and change.payload["symbols"] == ["BTC-PERP"]
    assert change.payload["added"] == ["BTC-PERP"] and change.payload["posted_ts"] > 0
    assert change.reason.startswith("active set: (no selection: every symbol) -> BTC-PERP (selected ")
    assert change.reason.endswith(": weekly reselection")
    with Store.open(path=str(db)) as s:
        assert s.get_json("active_symbols")["symbols"] == ["BTC-PERP"]  # what a later resume keeps
        [row] = [e for e in s.journal_entries("command") if e.reason]
        assert row.key == SET_ACTIVE and row.payload["moved"] == [change.reason.rsplit(": ", 1)[0]]
        rejected = [e for e in s.journal_entries("signal_rejected") if e.payload["rule"] == "active_symbol"]
    assert rejected and all(e.key == "XRP-PERP" and e.payload["numbers"]["active"] == ["BTC-PERP"] for e in rejected)


def test_a_running_engine_takes_the_set_at_its_next_poll(tmp_path: Path) -> None:
    from resume_support import funded_run

    overrides = write_env_override(tmp_path / "ovr", wallet=1_000_000.0)
    runner = funded_run(tmp_path / "w", overrides, "full")
    runner.run(limit=50)
    assert _select(tmp_path, tmp_path / "w" / "engine.db", "XRP-PERP", "BTC-PERP") == 0
    assert runner.poll_commands()
    assert runner.active_symbols == frozenset({"XRP-PERP", "BTC-PERP"})
    assert _select(tmp_path, tmp_path / "w" / "engine.db", "BTC-PERP") == 0
    assert runner.poll_commands()
    assert runner.active_symbols == frozenset({"BTC-PERP"})
    runner.session.ledger.flush(runner.session.books.values(), runner.session.execution.orders.values())
    second = _changes(tmp_path / "w" / "engine.db")[-1].payload
    assert (second["from"], second["removed"], second["added"]) == (["BTC-PERP", "XRP-PERP"], ["XRP-PERP"], [])
    runner.run(limit=150)
    assert _rejected(runner)
    runner.session.store.close()
    runner.session.venue.close()


def test_a_command_that_is_no_active_set_changes_nothing(tmp_path: Path) -> None:
    from resume_support import funded_run

    runner = funded_run(tmp_path / "w", write_env_override(tmp_path / "ovr", wallet=1_000_000.0), "full")
    runner.active_symbols = frozenset({"XRP-PERP"})
    runner.session.store.post_command(SET_ACTIVE, {"active": {"symbols": "BTC-PERP"}, "reason": "hand-made"})
    assert runner.poll_commands()
    assert runner.active_symbols == frozenset({"XRP-PERP"})  # fail closed: the set it had stays
    [row] = [e for e in runner.session.store.journal_entries("command") if e.reason]
    assert row.reason.startswith("not applied: the command's active set is not an active set"), row.reason
    runner.session.store.close()
    runner.session.venue.close()


def _finished(db: Path) -> None:
    from engine.run.keys import CHECKPOINT_KEY, FINISHED_KEY

    with Store.open(path=str(db)) as s:
        s.put_json(CHECKPOINT_KEY, {"cursor": 1200, "clock": 1516515300.0, "stage": 1})
        s.put_json(FINISHED_KEY, {"run_dir": "runs/stage1-x"})


def _unsaved(db: Path) -> None:
    Store.open(path=str(db)).close()


@pytest.mark.parametrize("make, said", [
    (None, "no run yet"), (_unsaved, "no run has checkpointed there"),
    (_finished, "the run on this store finished (its report is in runs/stage1-x)")])
def test_a_store_no_run_would_take_the_set_from_is_refused_with_the_out_hint(tmp_path, capsys, make, said) -> None:
    db = tmp_path / "engine.db"
    if make is not None:
        make(db)
    assert _select(tmp_path, db, "BTC-PERP") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"engine select: --state {db}: ") and said in err, err
    assert "nothing was posted" in err and "`engine select ... --out FILE`" in err and "ml.active_set_file" in err
    assert "Traceback" not in err
    if make is None:
        assert not db.exists()  # no store made to hold a set no run reads
    else:
        with Store.open(path=str(db)) as s:
            assert s.take_commands() == [] and s.get_json("active_symbols") is None


def test_state_and_out_together_write_the_file_and_post(tmp_path: Path) -> None:
    db = tmp_path / "engine.db"
    from engine.run.keys import CHECKPOINT_KEY

    with Store.open(path=str(db)) as s:
        s.put_json(CHECKPOINT_KEY, {"cursor": 1200, "clock": 1516515300.0, "stage": 1})
    out = tmp_path / "active.json"
    assert _select(tmp_path, db, "BTC-PERP", extra=("--out", str(out))) == 0
    assert json.loads(out.read_text())["symbols"] == ["BTC-PERP"]
    with Store.open(path=str(db)) as s:
        [cmd] = s.take_commands()
    assert cmd.command == SET_ACTIVE and cmd.args["active"]["symbols"] == ["BTC-PERP"]


def test_status_shows_a_pending_set(tmp_path: Path, capsys) -> None:
    from engine.run.keys import CHECKPOINT_KEY

    db = tmp_path / "engine.db"
    with Store.open(path=str(db)) as s:
        s.put_json(CHECKPOINT_KEY, {"cursor": 1200, "clock": 1516515300.0, "stage": 1})
    assert _select(tmp_path, db, "BTC-PERP", "ETH-PERP") == 0
    capsys.readouterr()
    assert main(["status", "--db", str(db)]) == 0
    assert "active set -> BTC-PERP, ETH-PERP" in capsys.readouterr().out


class _Notes:
    """The progress display's lines above the bar (engine/run/progress.py note)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(self, text: str) -> None:
        self.lines.append(text)


def test_a_set_naming_a_symbol_no_series_trades_is_warned_of_by_select_and_by_the_run(tmp_path: Path,
                                                                                       capsys) -> None:
    """A typo'd or foreign symbol in the set is never entered: the run's set silently narrows. `engine
    select` says so before it posts (the store keeps the run's symbols), and the run when it applies it."""
    from resume_support import funded_run

    runner = funded_run(tmp_path / "w", write_env_override(tmp_path / "ovr", wallet=1_000_000.0), "full")
    runner.run(limit=50)
    [traded] = {s.symbol for s in runner.series}
    db = tmp_path / "w" / "engine.db"
    assert _select(tmp_path, db, traded, "NOPE-PERP") == 0
    said = (f"the active set names NOPE-PERP, which no series of the run trades (it trades {traded}): never "
            "entered")
    err = capsys.readouterr().err
    assert f"engine select: warning: {said}" in err, err
    runner._progress = notes = _Notes()
    assert runner.poll_commands()
    assert runner.active_symbols == frozenset({traded, "NOPE-PERP"})
    assert [line for line in notes.lines if line.startswith("warning: ")] == [
        f"warning: {said}; check the symbols, or select from the run's data"]
    runner.session.ledger.flush(runner.session.books.values(), runner.session.execution.orders.values())
    assert _changes(db)[-1].payload["not_traded"] == ["NOPE-PERP"]

    assert _select(tmp_path, db, traded) == 0  # only what the run trades: nothing to warn of
    assert "warning" not in capsys.readouterr().err
    notes.lines.clear()
    assert runner.poll_commands()
    assert not [line for line in notes.lines if line.startswith("warning: ")]
    assert _changes(db)[-1].payload["not_traded"] == []
    runner.session.store.close()
    runner.session.venue.close()
