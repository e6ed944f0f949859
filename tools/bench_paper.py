"""Throughput of the paper venue on the bundled BTC-PERP 1m bars (45k bars).

Prints bars/s in memory and with the SQLite state file (WAL, synchronous=FULL),
and the ratio between them: the price of durability. An order is placed every
N bars, so about 2 x 45k / N state changes are committed. Every C bars the
engine's checkpoint protocol runs (n = venue.sync(); venue.ack(n)): two more
commits, and the catch-up log of those C bars written and cleared.

Best of --repeat runs; CPU seconds beside wall seconds, as the wall time of
fsync-bound commits swings with other load on the disk.

    .venv/bin/python tools/bench_paper.py [--every 60] [--checkpoint 200] [--repeat 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from adapters.paper import PaperVenue
from engine.data import bundled
from engine.data.bars import iter_bars
from engine.domain import Bar, OrderRequest, OrderType, Role, Side


def drive(venue: PaperVenue, bars: list[Bar], every: int, checkpoint: int) -> tuple[float, float, int]:
    t0, c0, n_fills = time.perf_counter(), time.process_time(), 0
    for i, bar in enumerate(bars):
        if i and i % checkpoint == 0:
            venue.ack(venue.sync())
        if venue.works_at_open(bar.symbol):  # the engine's path (engine/run/loop.py step)
            n_fills += sum(len(r.fills) for r in venue.open_bar(bar))
        n_fills += sum(len(r.fills) for r in venue.on_bar(bar))
        if i % every == 0:
            q = venue.quote(bar.symbol)
            side = Side.BUY if (i // every) % 2 == 0 else Side.SELL
            venue.submit(OrderRequest(f"b{i}", bar.symbol, side, 0.01, OrderType.MARKET, Role.ENTRY,
                                      q.snapshot_id, q.ts))
    return time.perf_counter() - t0, time.process_time() - c0, n_fills


def durable(bars: list[Bar], every: int, checkpoint: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as d:
        venue = PaperVenue.open(Path(d) / "paper.sqlite")
        result = drive(venue, bars, every, checkpoint)
        venue.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=60, help="place an order every N bars")
    ap.add_argument("--checkpoint", type=int, default=200, help="engine checkpoint (sync + ack) every C bars")
    ap.add_argument("--repeat", type=int, default=3, help="report the best of R runs")
    args = ap.parse_args()
    bars = list(iter_bars(bundled.load("crypto_perp/BTC-PERP-1m")))
    mem = min(drive(PaperVenue(), bars, args.every, args.checkpoint) for _ in range(args.repeat))
    disk = min(durable(bars, args.every, args.checkpoint) for _ in range(args.repeat))
    print(f"bars: {len(bars)}  orders: {len(bars) // args.every + 1}  fills: {mem[2]}")
    print(f"in memory : {len(bars) / mem[0]:10.0f} bars/s  ({mem[0]:.2f} s wall, {mem[1]:.2f} s cpu)")
    print(f"sqlite    : {len(bars) / disk[0]:10.0f} bars/s  ({disk[0]:.2f} s wall, {disk[1]:.2f} s cpu)")
    print(f"durability costs x{disk[0] / mem[0]:.1f}")


if __name__ == "__main__":
    main()
