"""Crash safety of the store's primitives: SIGKILL a worker at random points,
restart it each time, and check that nothing committed is lost and nothing is
duplicated, neither in the store nor at the venue."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from state.store import Store
from state_crash_worker import FILLS_PER_ORDER, FileVenue, request

WORKER = Path(__file__).with_name("state_crash_worker.py")
ROOT = WORKER.parent.parent
N_ORDERS = 80
KILLS = 24


def _start(store_path: Path, venue_path: Path, stderr) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(WORKER), str(store_path), str(venue_path),
                             str(N_ORDERS)], stdout=subprocess.PIPE, stderr=stderr, text=True,
                            cwd=ROOT, env=env)


def _read(proc: subprocess.Popen, lines: int | None, fills: set[str]) -> bool:
    """Read up to `lines` progress lines (all when None); True once the worker said done."""
    seen = 0
    while lines is None or seen < lines:
        line = proc.stdout.readline()
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
    with open(tmp_path / "worker.err", "w+") as err:
        while kills < KILLS:
            proc = _start(store_path, venue_path, err)
            done = _read(proc, rng.randint(1, 8), committed)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
            assert not done, f"worker finished after {kills} kills; raise N_ORDERS"
            kills += 1
        proc = _start(store_path, venue_path, err)
        done = _read(proc, None, committed)
        assert proc.wait() == 0 and done, err.seek(0) or err.read()

    store = Store.open(path=str(store_path))
    fills = {f.fill_id for f in store.fills()}
    orders = store.orders()
    submits = Counter(FileVenue(str(venue_path)).submitted())
    intents = Counter(e.key for e in store.journal_entries(kind="intent"))
    expected = {request(i).client_order_id for i in range(N_ORDERS)}

    assert kills >= 20
    assert committed <= fills, f"committed fills lost: {sorted(committed - fills)[:5]}"
    assert len(fills) == len(store.fills()) == FILLS_PER_ORDER * N_ORDERS
    assert [o.client_order_id for o in orders if o.client_order_id not in expected] == []
    assert len(orders) == len({o.client_order_id for o in orders}) == N_ORDERS
    assert set(submits) == expected and max(submits.values()) == 1, "an order was sent twice"
    assert set(intents) == expected and max(intents.values()) == 1
    assert {o.status for o in orders} == {"filled"} and store.pending_intents() == []
    assert all(o.filled_qty == o.qty for o in orders)
    assert store.position("BTCUSDT", "crypto_spot").qty == 0.0  # 40 buys and 40 sells of 1.0
    store.close()
