"""The engine's books against the venue's positions (engine/exec/agreement.py): a fill one side
has and the other has not is a fault at the next checkpoint, raised once while it lasts, and
the run stops opening risk."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.domain import Domain, Fill, Position, Side
from engine.exec.agreement import disagreements
from resume_support import funded_run
from run_support import write_env_override


def _lots(step: float):
    return lambda symbol, qty: round(qty / step) * step


# -- the comparison ------------------------------------------------------------------------
def test_float_dust_of_lot_sized_fills_is_no_disagreement() -> None:
    books = {Domain.CRYPTO_PERP: {"XRP-PERP": 10839.7 + 3722.2 - 14561.9}}  # 1.8e-12
    assert disagreements(books, [], _lots(0.1)) == {}
    held = [Position("XRP-PERP", Domain.CRYPTO_PERP, 14561.9)]
    assert disagreements({Domain.CRYPTO_PERP: {"XRP-PERP": 10839.7 + 3722.2}}, held, _lots(0.1)) == {}


@pytest.mark.parametrize("ours, theirs", [(5.0, 0.0), (0.0, 5.0), (5.0, -5.0), (5.0, 5.1)])
def test_a_lot_apart_either_way_is_one(ours: float, theirs: float) -> None:
    held = [Position("XRP-PERP", Domain.CRYPTO_PERP, theirs)] if theirs else []
    found = disagreements({Domain.CRYPTO_PERP: {"XRP-PERP": ours}}, held, _lots(0.1))
    [(key, text)] = found.items()
    assert key == ("crypto_perp", "XRP-PERP")
    assert f"the venue holds {round(theirs / 0.1) * 0.1:g} XRP-PERP in crypto_perp" in text
    assert f"the engine's book holds {ours:g}" in text


def test_a_symbol_is_compared_within_its_domain() -> None:
    """The same symbol held in two domains is two positions (wallets are segregated)."""
    books = {Domain.CRYPTO_PERP: {"X": 1.0}, Domain.CRYPTO_SPOT: {}}
    held = [Position("X", Domain.CRYPTO_SPOT, 1.0)]
    assert set(disagreements(books, held, _lots(1.0))) == {("crypto_perp", "X"), ("crypto_spot", "X")}


# -- in a run ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def overrides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_env_override(tmp_path_factory.mktemp("specs"), wallet=1_000_000.0)


def _open_position(tmp_path: Path, overrides: Path):
    runner = funded_run(tmp_path, overrides, "batch")
    for _ in range(300):
        runner.run(limit=runner.bars + 1)
        if any(p.qty for b in runner.session.books.values() for p in b.positions.values()):
            return runner
    raise AssertionError("the flips open no position")


def _unheard_fill(runner, qty: float) -> None:
    """A fill the venue made and the engine never heard of: the venue's own books move."""
    venue = runner.session.venue
    inst = venue.catalogue.get("XRP-PERP")
    venue.ledger.apply_fill(Fill("lost", "lost-1", "XRP-PERP", Side.BUY, qty, 1.0, 0.0, 0.0, "q"), inst)


def _faults(runner) -> list:
    ses = runner.session
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    return [f for f in ses.store.journal_entries("fault") if f.key.startswith("positions:")]


def test_a_fill_the_engine_never_heard_of_goes_close_only_and_says_where(tmp_path: Path, overrides: Path) -> None:
    runner = _open_position(tmp_path, overrides)
    ses = runner.session
    runner.checkpoint()
    assert ses.kill.state == "normal" and _faults(runner) == []  # the books agree: nothing raised
    _unheard_fill(runner, 100.0)
    runner.checkpoint()
    assert ses.kill.state == "close_only"
    [fault] = _faults(runner)
    assert fault.key == "positions:crypto_perp:XRP-PERP"
    assert "the venue holds" in fault.reason and "the engine's book holds" in fault.reason
    assert ses.kill_events[-1]["reason"] == f"fault: {fault.reason}"


def test_a_lasting_disagreement_is_raised_once_and_a_new_one_again(tmp_path: Path, overrides: Path) -> None:
    runner = _open_position(tmp_path, overrides)
    _unheard_fill(runner, 100.0)
    runner.checkpoint()
    runner.checkpoint()
    assert len(_faults(runner)) == 1
    _unheard_fill(runner, 100.0)  # another 100: the venue's figure moved
    runner.checkpoint()
    assert len(_faults(runner)) == 2


def test_the_disagreements_raised_are_checkpointed(tmp_path: Path, overrides: Path) -> None:
    runner = _open_position(tmp_path, overrides)
    _unheard_fill(runner, 100.0)
    runner.checkpoint()
    raised = dict(runner.disagreed)
    assert list(raised) == [("crypto_perp", "XRP-PERP")]
    runner.session.store.close()
    runner.session.venue.close()
    resumed = funded_run(tmp_path, overrides, "batch", resume=True)
    assert resumed.disagreed == raised


def test_a_flatten_is_not_done_while_the_venue_holds_units_no_bracket_has(tmp_path: Path, overrides: Path) -> None:
    """`flattened` is the venue reporting flat (kill_modes.yaml): with units outside every bracket
    the flatten stays under way, re-sent and overdue, instead of halting as if flat."""
    runner = _open_position(tmp_path, overrides)
    ses = runner.session
    _unheard_fill(runner, 100.0)
    ses.store.post_command("flatten")
    runner.poll_commands()
    runner.run(limit=runner.bars + 30)
    assert not ses.execution.brackets and not ses.execution.closing, "the bracket's own units closed"
    assert ses.venue.positions() and ses.kill.state == "flatten_all"
    assert {f.key for f in _faults(runner)} == {"positions:crypto_perp:XRP-PERP"}  # said at each checkpoint it moved


def test_a_resumed_run_compares_nothing_while_its_venue_catches_up(tmp_path: Path, overrides: Path) -> None:
    """The venue's file holds what the crashed run did after its checkpoint: while the resumed run
    re-makes it, the venue's positions are ahead of the books, and comparing them would raise a
    fault the uninterrupted run never raised (and the re-made calls would diverge)."""
    from resume_support import stop_when

    runner = _open_position(tmp_path, overrides)
    runner.checkpoint()
    mark = runner.bars
    stop_when(runner, lambda: runner.bars >= mark + 20)  # a crash once the position has moved on
    resumed = funded_run(tmp_path, overrides, "batch", resume=True)
    ses = resumed.session
    assert ses.venue.catching_up
    resumed._check_positions()
    assert ses.kill.state == "normal" and not ses.execution.faults
