"""A digest of everything a bench replay decides, to prove a speed change moved nothing.

Runs tools/bench_replay.py's pipeline (ours only) on N tiled EURUSD bars and hashes
what an operator or auditor can observe: the audit journal, the store's event
journal, orders, fills, positions and wallets, the closed trades and the equity
curve. Run it before and after a change; the digests must be equal.

    python tools/replay_digest.py [--bars 30000] [--venue-history N]

--venue-history sets how many final orders, quotes and events the paper venue keeps as
objects (adapters/paper/venue.py HISTORY): a small N retires them all run long, and the
digests must not move.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import bench_replay

if TYPE_CHECKING:
    from sqlmodel import SQLModel

# The checkpoint interval every digest so far was taken at: checkpoints add journal rows.
CHECKPOINT_EVERY = 100_000
# Row columns that carry no decision: surrogate keys.
_SKIP = {"id"}


def _rows(rows: Iterable[SQLModel]) -> list:
    return [{k: v for k, v in r.model_dump().items() if k not in _SKIP} for r in rows]


def digests(bars: int, venue_history: int | None = None) -> dict[str, str]:
    df = bench_replay.tiled_eurusd(bars)
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        runner = bench_replay.build_ours(df, work, CHECKPOINT_EVERY)
        if venue_history is not None:
            runner.session.venue.history = venue_history
        runner.run()
        store = runner.session.store
        parts = {
            "audit": (work / "run" / "audit.jsonl").read_bytes(),  # complete: the final checkpoint marks it
            "journal": _rows(store.journal_entries()),
            "orders": _rows(store.orders()),
            "fills": _rows(store.fills()),
            "positions": _rows(store.positions()),
            "wallets": _rows(store.wallets()),
            "trades": [t.as_dict() for t in runner.trades],
            # As floats: a curve keeps C doubles, where the wallet's opening balance may be an int.
            "equity": {d: [(float(t), float(e)) for t, e in curve] for d, curve in runner.equity.items()},
        }
    out = {}
    for name, value in parts.items():
        raw = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True, default=str).encode()
        out[name] = hashlib.sha256(raw).hexdigest()[:16]
    out["all"] = hashlib.sha256("".join(out.values()).encode()).hexdigest()[:16]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=30_000)
    ap.add_argument("--venue-history", type=int, default=None)
    args = ap.parse_args()
    for name, h in digests(args.bars, args.venue_history).items():
        print(f"{name:10} {h}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
