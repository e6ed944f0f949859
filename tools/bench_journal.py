"""Journal throughput on SQLite in a temp dir: full durability (fsync per
commit) against batch mode (a commit every --batch entries, synchronous=NORMAL),
and, as the peer that shows what the disk allows, bare sqlite3 with one fsync'd
commit per row.

usage: python tools/bench_journal.py [--events N] [--batch N]
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from state.store import Store

PAYLOAD = {"event": "bar_closed", "symbol": "BTCUSDT", "close": 43_210.5, "state": "normal"}


def rate(path: Path, durability: str, events: int, batch: int) -> float:
    store = Store.open(path=str(path), durability=durability, batch_size=batch)
    start = time.perf_counter()
    for i in range(events):
        store.journal("transition", f"kill_modes/{i}", PAYLOAD, spec_hash="bench", reason="bench")
    store.commit()
    elapsed = time.perf_counter() - start
    store.close()
    return events / elapsed


def raw_rate(path: Path, events: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE j (seq INTEGER PRIMARY KEY, ts REAL, kind TEXT, key TEXT, payload TEXT)")
    start = time.perf_counter()
    for i in range(events):
        conn.execute("INSERT INTO j (ts, kind, key, payload) VALUES (?, ?, ?, ?)",
                     (time.time(), "transition", f"kill_modes/{i}", json.dumps(PAYLOAD)))
    elapsed = time.perf_counter() - start
    conn.close()
    return events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        full = rate(Path(tmp) / "full.db", "full", args.events, args.batch)
        batch = rate(Path(tmp) / "batch.db", "batch", args.events * 10, args.batch)
        raw = raw_rate(Path(tmp) / "raw.db", args.events)
    print(f"Store.journal, full durability (fsync per commit): {full:10,.0f} events/s")
    print(f"Store.journal, batch ({args.batch} per commit):            {batch:10,.0f} events/s")
    print(f"bare sqlite3, fsync per commit (peer):             {raw:10,.0f} events/s")
    print(f"batch / full: {batch / full:.1f}x    full / bare sqlite3: {full / raw:.2f}x")


if __name__ == "__main__":
    main()
