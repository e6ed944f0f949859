"""Time fit and predict of every seed 003 strategy (seed003.yaml windows) on bundled bars.

    .venv/bin/python tools/bench_strategies.py

Prints milliseconds per call and the cost of one replay step (one_step_predict on the
full history) relative to EmaVolStrategy's, the family's cheapest trend model.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.threads import pin_threads

pin_threads()  # before anything native is imported

from engine.data.loader import load_bars
from strategies.config import load_strategy_file
from strategies.registry import build


def _ms(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def main() -> None:
    bars = load_bars(ROOT / "engine" / "data" / "bundled" / "forex" / "EURUSD-1h.csv")
    doc = load_strategy_file(ROOT / "specs" / "strategies" / "seed003.yaml")
    fit_rows = 4000
    print(f"EURUSD-1h, {len(bars)} bars, fit on {fit_rows}; best of 3")
    print(f"{'entry':26s} {'fit ms':>8s} {'predict ms':>11s} {'x EmaVol':>9s}")
    rows = []
    for entry in doc.strategies:
        if entry.class_ == "BuySellVolStrategy":
            continue  # needs taker_buy_base_vol: no bundled data has it
        s = build(entry)
        fit = _ms(partial(s.fit, bars.iloc[:fit_rows]))
        pred = _ms(partial(s.one_step_predict, bars))
        rows.append((entry.id, fit, pred))
    ref = next(p for i, _, p in rows if i.startswith("emavol"))
    for name, fit, pred in rows:
        print(f"{name:26s} {fit:8.1f} {pred:11.1f} {pred / ref:9.1f}")


if __name__ == "__main__":
    main()
