"""What tests/test_run_crash.py adds to an engine process: a SIGKILL placed at one of the windows a
crash must survive, and a tap on the paper venue that records, in the venue's own file, every order
submission it hears.

usage: python tests/crash_points.py POINT N -- ARGS...   (POINT `none`: only the tap; N unused)
Run from the repository root; tests/run_zygote.py installs the same in the processes it forks.

POINT: (a real SIGKILL, as tests/kill_at.py places one: nothing of the engine's runs after it)
  after-intent      after the Nth order's intent is journaled (durability full: committed), before
                    the venue hears of it (Execution.journal_intent)
  after-submit      after the venue took the Nth order (its file committed), before the engine
                    reads the answer (PaperVenue.submit)
  before-book       the venue has reported the Nth fill, before the engine books any of it
                    (Execution.book_fill, Execution._late_fill)
  after-record-fill after Store.record_fill wrote the Nth fill's row, inside StoreLedger.fill: before
                    its wallet credit (durability full; batch never calls it)
  after-write-batch after the bulk write of the Nth checkpoint that has fills to write
                    (Store.write_batch: the fills, orders, positions and wallets since the last
                    one), before its commit (durability batch)
  before-venue-ack  after the Nth checkpoint's commit, before the venue is told it may forget the
                    calls up to it (PaperVenue.ack)

The tap: each submission the venue answers live (PaperVenue._submit: not one a resumed run's
catch-up answers from its log) is a row of the table `tap_submits` in the venue's SQLite file,
written in the venue's next commit, the one that also makes its answer durable. A submission the
venue forgot (killed before its commit) is forgotten there too, so the table counts what the venue
durably heard: each client_order_id once, unless the engine sent an order twice (the paper venue
answers a repeat as a duplicate, where a real venue might trade it again).
"""
from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

TAP_TABLE = "tap_submits"
POINTS = ("after-intent", "after-submit", "before-book", "after-record-fill", "after-write-batch",
          "before-venue-ack")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _wrap(owner: object, name: str, n: int, seen: list[int], before: bool = False,
          counts: Callable[..., bool] = lambda *a: True) -> None:
    """SIGKILL at the `n`th call of owner.name that `counts` (its arguments), counted in `seen`
    (shared by the methods of one point): after the call returns, or `before` it starts."""
    original = getattr(owner, name)

    def wrapped(*args, **kwargs):
        counted = counts(*args)
        if before and counted:
            seen[0] += 1
            if seen[0] == n:
                _die()
        result = original(*args, **kwargs)
        if not before and counted:
            seen[0] += 1
            if seen[0] == n:
                _die()
        return result

    setattr(owner, name, wrapped)


def install(point: str, n: int) -> None:
    seen = [0]
    if point == "after-intent":
        from engine.exec.execution import Execution
        _wrap(Execution, "journal_intent", n, seen)
    elif point == "after-submit":
        from adapters.paper.venue import PaperVenue
        _wrap(PaperVenue, "submit", n, seen)
    elif point == "before-book":
        from engine.exec.execution import Execution
        _wrap(Execution, "book_fill", n, seen, before=True)
        _wrap(Execution, "_late_fill", n, seen, before=True)
    elif point == "after-record-fill":
        from state.store import Store
        _wrap(Store, "record_fill", n, seen)
    elif point == "after-write-batch":
        from state.store import Store
        _wrap(Store, "write_batch", n, seen, counts=lambda store, batch: bool(batch.fills))
    elif point == "before-venue-ack":
        from adapters.paper.venue import PaperVenue
        _wrap(PaperVenue, "ack", n, seen, before=True)
    elif point != "none":
        raise SystemExit(f"unknown point {point}: one of {', '.join(POINTS)} or none")


def install_tap() -> None:
    from adapters.paper.persist import StateFile
    from adapters.paper.venue import PaperVenue

    if getattr(StateFile, "_tapped", False):
        return
    init, flush, submit = StateFile.__init__, StateFile.flush, PaperVenue._submit

    def tapped_init(self, path) -> None:
        init(self, path)
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {TAP_TABLE} "
                        "(seq INTEGER PRIMARY KEY AUTOINCREMENT, client_order_id TEXT NOT NULL)")
        self.db.commit()
        self.tap_pending = []

    def tapped_flush(self, ch, cash, log=(), acked=None) -> None:
        pending, self.tap_pending = self.tap_pending, []
        with self.db:  # the flush's own `with self.db` commits these rows with its change set
            self.db.executemany(f"INSERT INTO {TAP_TABLE} (client_order_id) VALUES (?)", [(c,) for c in pending])
            flush(self, ch, cash, log, acked)

    def tapped_submit(self, req):
        if self._state is not None:
            self._state.tap_pending.append(req.client_order_id)
        return submit(self, req)

    StateFile.__init__, StateFile.flush, PaperVenue._submit = tapped_init, tapped_flush, tapped_submit
    StateFile._tapped = True


def main(argv: list[str]) -> int:
    point, n, args = argv[0], int(argv[1]), argv[argv.index("--") + 1:]
    install_tap()
    install(point, n)
    from engine.cli import main as engine
    return engine(args)


if __name__ == "__main__":
    sys.path[0] = str(Path(__file__).resolve().parents[1])  # the root, as for `python -m engine.cli` run there
    sys.exit(main(sys.argv[1:]))
