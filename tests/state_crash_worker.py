"""A mini engine for tests/test_state_crash.py, killed with SIGKILL at random points.

It replays the same deterministic order flow on every start: for each order
journal the intent (committed), submit it to a file-backed venue unless the
venue already holds it, acknowledge, record the venue's two fills. It prints
one line after each durable step so the parent knows how far it got (a pipe
handshake, no sleeps). The venue appends every submit with fsync and does not
deduplicate, so a double submission would show in its log.

The test forks it (the child inherits the imports, so 20+ restarts stay
fast); it also runs on its own:
usage: state_crash_worker.py STORE_PATH VENUE_PATH N_ORDERS
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TextIO

from engine.domain import Fill, OrderRequest, OrderType, Role, Side, client_order_id
from state.store import Store

FILLS_PER_ORDER = 2


@dataclass
class Status:
    status: str
    fills: list[Fill] = field(default_factory=list)


class FileVenue:
    """Venue truth that survives the worker: one fsync'd line per submission."""

    def __init__(self, path: str) -> None:
        self.path = path

    def submitted(self) -> list[str]:
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            return [line.split()[0] for line in f if line.endswith("\n")]

    def submit(self, req: OrderRequest) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{req.client_order_id} {req.side.value} {req.ts}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def order_status(self, coid: str) -> Status:
        with open(self.path) if os.path.exists(self.path) else open(os.devnull) as f:
            for line in f:
                parts = line.split()
                if line.endswith("\n") and parts[0] == coid:
                    return Status("filled", venue_fills(coid, Side(parts[1]), float(parts[2])))
        return Status("unknown")


def venue_fills(coid: str, side: Side, ts: float) -> list[Fill]:
    price = 100.0 + ts
    return [Fill(coid, f"{coid}-{k}", "BTCUSDT", side, 0.5, price + k, 0.01, ts + k, "q")
            for k in range(FILLS_PER_ORDER)]


def request(i: int) -> OrderRequest:
    ts = float(i)
    return OrderRequest(client_order_id("crash", "BTCUSDT", ts, 0), "BTCUSDT",
                        Side.BUY if i % 2 == 0 else Side.SELL, 1.0, OrderType.MARKET,
                        Role.ENTRY, "q", ts, strategy="crash")


def execute(store: Store, venue: FileVenue, req: OrderRequest, out: TextIO) -> None:
    # Write-ahead: an intent stored before the last crash may or may not have reached the venue.
    # The venue's log is the truth, so it is sent only if the venue never saw it.
    if venue.order_status(req.client_order_id).status == "unknown":
        venue.submit(req)
    store.record_ack(req.client_order_id)
    for fill in venue.order_status(req.client_order_id).fills:
        store.record_fill(fill)  # once per fill_id: a replayed fill records nothing
        print("fill", fill.fill_id, file=out, flush=True)


def main(store_path: str, venue_path: str, n_orders: int, out: TextIO = sys.stdout) -> None:
    store = Store.open(path=store_path, durability="full")
    venue = FileVenue(venue_path)
    for i in range(n_orders):
        req = request(i)
        if store.record_intent(req, "crypto_spot").status == "filled":
            continue  # done before the last crash: the replayed intent is the stored one
        print("intent", req.client_order_id, file=out, flush=True)
        execute(store, venue, req, out)
    store.close()
    print("done", file=out, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
