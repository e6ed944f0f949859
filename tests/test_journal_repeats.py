"""A resumed run re-makes the rows its crashed run journaled after the last checkpoint; each
fact is written once (state.journal.Repeats). A fact is what happened (kind, key, payload), not
the prose around it: a reason embeds a suggested command whose first word depends on how the
engine was started, so a resume pasted from `engine status` must not write the fact again."""
from __future__ import annotations

from pathlib import Path

from engine.domain import Domain
from state.store import Store

NO_DATA = {"state": "stage_4", "stage": 4}


def crashed_store(path: Path) -> tuple[Store, int]:
    store = Store.open(path=str(path), durability="full")
    store.open_wallet(Domain.FOREX, "paper", 1000.0)
    checkpoint = store.journal("kv", "run/checkpoint", {"cursor": 1})
    store.commit()
    store.journal("no_data", "forex_options", NO_DATA,
                  reason="rollout opened forex_options: `engine run --stage 4` trades it")
    store.commit()
    return store, checkpoint


def test_a_fact_re_made_with_another_command_word_in_its_reason_is_not_written_again(tmp_path: Path) -> None:
    store, checkpoint = crashed_store(tmp_path / "s.db")
    store.replaying(checkpoint)
    store.journal("no_data", "forex_options", NO_DATA,
                  reason="rollout opened forex_options: `/abs/.venv/bin/engine run --stage 4` trades it")
    store.commit()
    rows = [e for e in store.journal_entries() if e.kind == "no_data"]
    store.close()
    assert len(rows) == 1


def test_another_fact_is_still_written(tmp_path: Path) -> None:
    store, checkpoint = crashed_store(tmp_path / "s.db")
    store.replaying(checkpoint)
    store.journal("no_data", "forex_options", {**NO_DATA, "stage": 5}, reason="x")
    store.commit()
    rows = [e for e in store.journal_entries() if e.kind == "no_data"]
    store.close()
    assert len(rows) == 2


def test_each_start_journals_its_resume_even_after_a_resume_that_crashed(tmp_path: Path) -> None:
    """Issue 3: a resume is an event of its own, never a repeat. A resumed run that crashed
    before its next checkpoint left a `resume` row after that checkpoint; the next resume from
    the same checkpoint makes the very same row and must still write it (mutant: Repeats counts
    resume rows among the facts to take)."""
    store, checkpoint = crashed_store(tmp_path / "s.db")
    store.journal("resume", "run", {"cursor": 1}, reason="resumed from checkpoint")  # the crashed resume's
    store.commit()
    store.replaying(checkpoint)
    store.journal("resume", "run", {"cursor": 1}, reason="resumed from checkpoint")
    store.commit()
    rows = store.journal_entries(kind="resume")
    store.close()
    assert len(rows) == 2


def test_a_fact_made_again_more_often_than_the_crashed_run_made_it_is_written_for_the_extra_times(
        tmp_path: Path) -> None:
    """Issue 3 (lose nothing): each stored row stands for one making of its fact. The crashed run
    made this fact once after its checkpoint; the resumed run, going further, makes it twice: the
    first is that stored row, the second is new and must be written (mutant: Repeats.take hands
    out a stored row without using it up)."""
    store, checkpoint = crashed_store(tmp_path / "s.db")
    store.replaying(checkpoint)
    stored = store.journal("no_data", "forex_options", NO_DATA, reason="x")
    again = store.journal("no_data", "forex_options", NO_DATA, reason="x")
    store.commit()
    rows = [e.seq for e in store.journal_entries() if e.kind == "no_data"]
    store.close()
    assert rows == [stored, again] and again > stored


def test_remaking_holds_until_the_crashed_runs_last_row_is_reached_or_made_again(tmp_path: Path) -> None:
    """Issue 3: a resumed run takes no operator command while it re-makes what the crashed run
    journaled after the checkpoint (engine/run/loop.py poll_commands), bounded by that row's time:
    remaking while the clock is before it and a row is not made again; done at its time, and
    done once every row is made again (mutants: the bound kept as the earliest time, or `<=`)."""
    now = [100.0]
    store = Store.open(path=str(tmp_path / "s.db"), durability="full", clock=lambda: now[0])
    checkpoint = store.journal("kv", "run/checkpoint", {"cursor": 1})
    now[0] = 110.0
    store.journal("no_data", "a", NO_DATA)
    now[0] = 120.0
    store.journal("no_data", "b", NO_DATA)
    store.commit()
    now[0] = 100.0  # the resumed run's clock starts at its checkpoint's
    store.replaying(checkpoint)
    seen = []
    for t in (100.0, 115.0, 119.999, 120.0, 125.0):
        now[0] = t
        seen.append(store.remaking())
    assert seen == [True, True, True, False, False]
    now[0] = 101.0
    store.journal("no_data", "a", NO_DATA)
    store.journal("no_data", "b", NO_DATA)
    assert not store.remaking()  # every row made again: done, whatever the clock says
    store.close()
