"""Crash safety of the store's primitives: SIGKILL a worker process at random
points, restart it each time, and check that nothing committed is lost and
nothing is duplicated, neither in the store nor at the venue.

The worker is a forked child (it inherits the parent's imports, so restarts
cost milliseconds); its progress comes back over a pipe, one line per durable
step, so the parent knows how far it got without sleeping.
"""
from __future__ import annotations

import multiprocessing
import os
import random
from collections import Counter
from pathlib import Path
from typing import TextIO

from state.store import Store
from state_crash_worker import FILLS_PER_ORDER, FileVenue, main, request

N_ORDERS = 80
KILLS = 24
FORK = multiprocessing.get_context("fork")


def _child(fd: int, store_path: str, venue_path: str) -> None:
    with os.fdopen(fd, "w") as out:
        main(store_path, venue_path, N_ORDERS, out)


def _start(store_path: Path, venue_path: Path) -> tuple[multiprocessing.Process, TextIO]:
    read_fd, write_fd = os.pipe()
    proc = FORK.Process(target=_child, args=(write_fd, str(store_path), str(venue_path)))
    proc.start()
    os.close(write_fd)  # the child holds the only writer: EOF when it dies
    return proc, os.fdopen(read_fd)


def _read(progress: TextIO, lines: int | None, fills: set[str]) -> bool:
    """Read up to `lines` progress lines (all when None); True once the worker said done."""
    seen = 0
    while lines is None or seen < lines:
        line = progress.readline()
        if not line:
            return False
        seen += 1
        parts = line.split()
        if parts[0] == "fill":
            fills.add(parts[1])  # printed only after its commit returned
        if parts[0] == "done":
            return True
    return False


def test_sigkill_loses_no_committed_fill_and_duplicates_nothing(tmp_path: Path) -> None:
    rng = random.Random(20240501)
    store_path, venue_path = tmp_path / "engine.db", tmp_path / "venue.log"
    committed: set[str] = set()
    kills = 0
    while kills < KILLS:
        proc, progress = _start(store_path, venue_path)
        done = _read(progress, rng.randint(1, 8), committed)
        proc.kill()  # SIGKILL: no handler, no flush, no close
        proc.join()
        progress.close()
        assert not done, f"worker finished after {kills} kills; raise N_ORDERS"
        kills += 1
    proc, progress = _start(store_path, venue_path)
    done = _read(progress, None, committed)
    proc.join()
    progress.close()
    assert proc.exitcode == 0 and done

    store = Store.open(path=str(store_path))
    fills = {f.fill_id for f in store.fills()}
    orders = store.orders()
    submits = Counter(FileVenue(str(venue_path)).submitted())
    intents = Counter(e.key for e in store.journal_entries(kind="intent"))
    expected = {request(i).client_order_id for i in range(N_ORDERS)}

    assert kills >= 20
    assert committed <= fills, f"committed fills lost: {sorted(committed - fills)[:5]}"
    assert len(fills) == len(store.fills()) == FILLS_PER_ORDER * N_ORDERS
    assert len(orders) == len({o.client_order_id for o in orders}) == N_ORDERS
    assert {o.client_order_id for o in orders} == expected
    assert set(submits) == expected and max(submits.values()) == 1, "an order was sent twice"
    assert set(intents) == expected and max(intents.values()) == 1
    assert {o.status for o in orders} == {"filled"} and store.pending_intents() == []
    assert all(o.filled_qty == o.qty for o in orders)
    assert store.position("BTCUSDT", "crypto_spot").qty == 0.0  # 40 buys and 40 sells of 1.0
    store.close()
