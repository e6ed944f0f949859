"""Interpreter vs pytransitions (HierarchicalMachine), same machine shape, one run.

    .venv/bin/python tools/bench_interpreter.py [--max-instances 100000]

Times are CPU time of this process (time.process_time), best of a few runs, so
that other work on a shared machine does not skew them. Prints transitions/s on one instance, and per-instance creation time (µs) and
memory (bytes, tracemalloc) at growing counts, side by side with ratios. The
shape is the kill switch: normal, cooldown, restricted{close_only, flatten_all},
halted; the cycle of five events crosses the hierarchy and one is guarded.
"""
from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.threads import pin_threads

pin_threads()  # before anything native is imported

from engine.diagnostics import Pos
from engine.runtime import BoundMachine, Interpreter, JsonlSink, NullSink, Registry, ReplayClock
from engine.runtime.audit import AuditSink
from engine.runtime.instance import Instance
from engine.spec.ir import ContextVar, Event, Expr, Machine, State, Transition

CYCLE = ["loss", "elapsed", "trip", "flatten", "resume"]
P = Pos("bench", 1, 1)


# --- the same machine, twice ---------------------------------------------------------

def ir_machine() -> Machine:
    def st(name: str, parent: str | None = None, children: tuple[str, ...] = (), initial: bool = False,
           final: bool = False) -> State:
        return State(name, P, parent=parent, children=children, initial=initial, final=final)
    states = [st("normal", initial=True), st("cooldown"), st("restricted", children=("closeonly", "flattenall")),
              st("closeonly", "restricted", initial=True), st("flattenall", "restricted"), st("halted", final=True)]
    ts = [Transition(0, "loss", ("normal",), "cooldown", P, Expr("ctx.losses >= 0", P)),
          Transition(1, "elapsed", ("cooldown",), "normal", P),
          Transition(2, "trip", ("*",), "restricted", P),
          Transition(3, "flatten", ("closeonly",), "flattenall", P),
          Transition(4, "resume", ("restricted",), "normal", P)]
    return Machine("kill", "bench", 1, "", "bench.yaml", "benchhash", P,
                   context={"losses": ContextVar("losses", "int", 0, P)},
                   events={e: Event(e, P) for e in CYCLE}, states={s.name: s for s in states},
                   transitions=tuple(ts))


def pt_machine() -> Any:
    from transitions.extensions import HierarchicalMachine
    states = ["normal", "cooldown", {"name": "restricted", "initial": "closeonly",
                                     "children": ["closeonly", "flattenall"]}, {"name": "halted", "final": True}]
    trans = [{"trigger": "loss", "source": "normal", "dest": "cooldown", "conditions": "no_losses_yet"},
             ["elapsed", "cooldown", "normal"], ["trip", "*", "restricted"],
             ["flatten", "restricted_closeonly", "restricted_flattenall"], ["resume", "restricted", "normal"]]
    return HierarchicalMachine(model=None, states=states, transitions=trans, initial="normal",
                               auto_transitions=False)


class Model:
    losses = 0

    def no_losses_yet(self) -> bool:
        return self.losses >= 0


# --- measurements ----------------------------------------------------------------------

def best_rate(fn: Callable[[int], object], n: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        t = time.process_time()
        fn(n)
        best = min(best, time.process_time() - t)
    return n * len(CYCLE) / best


def ours_tps(sink: AuditSink) -> float:
    it = Interpreter(ReplayClock(0.0), sink)
    inst = it.create(BoundMachine.build(ir_machine(), Registry()), "one")
    send = it.send

    def run(n: int) -> None:
        for _ in range(n):
            for e in CYCLE:
                send(inst, e)
    return best_rate(run, 20_000)


def pt_tps() -> float:
    m, model = pt_machine(), Model()
    m.add_model(model)
    triggers = [getattr(model, e) for e in CYCLE]

    def run(n: int) -> None:
        for _ in range(n):
            for trig in triggers:
                trig()
    return best_rate(run, 5_000)


def per_instance(make: Callable[[int], object], n: int, repeats: int) -> tuple[float, float]:
    """(µs per instance, bytes per instance) for creating n instances kept alive."""
    us = float("inf")
    for _ in range(repeats):
        gc.collect()
        t = time.process_time()
        keep = make(n)
        us = min(us, (time.process_time() - t) / n * 1e6)
        del keep
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    keep = make(n)
    size = (tracemalloc.get_traced_memory()[0] - base) / n
    tracemalloc.stop()
    del keep
    return us, size


def ours_make(bound: BoundMachine) -> Callable[[int], object]:
    def make(n: int) -> tuple[Interpreter, list[Instance]]:
        it = Interpreter(ReplayClock(0.0), NullSink())
        return it, [it.create(bound, f"o{i}") for i in range(n)]
    return make


def pt_make(n: int) -> tuple[Any, list[Model]]:
    m = pt_machine()
    models = [Model() for _ in range(n)]
    for x in models:
        m.add_model(x)
    return m, models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-instances", type=int, default=100_000)
    ap.add_argument("--pt-max", type=int, default=20_000, help="largest pytransitions model count")
    args = ap.parse_args()
    import transitions
    print(f"python {sys.version.split()[0]}, transitions {transitions.__version__}, threads pinned to 1\n")

    ours, ours_jsonl, theirs = ours_tps(NullSink()), None, pt_tps()
    with tempfile.TemporaryDirectory() as d:
        with JsonlSink(Path(d) / "audit.jsonl") as sink:
            ours_jsonl = ours_tps(sink)
    print("transitions/s on one instance (5-event cycle across the hierarchy, one guard)")
    print(f"  stagecraft (NullSink)   {ours:>12,.0f}   x{ours / theirs:.1f} vs pytransitions")
    print(f"  stagecraft (JsonlSink)  {ours_jsonl:>12,.0f}   x{ours_jsonl / theirs:.1f}")
    print(f"  pytransitions HSM       {theirs:>12,.0f}\n")

    bound = BoundMachine.build(ir_machine(), Registry())
    counts = sorted({1_000, 10_000, args.pt_max, args.max_instances})
    print("per instance: creation µs | memory bytes   (stagecraft create vs pytransitions add_model)")
    print(f"  {'n':>7}  {'ours µs':>8} {'ours B':>7}   {'pt µs':>8} {'pt B':>7}   {'µs ratio':>8}")
    first = None
    for n in counts:
        us, size = per_instance(ours_make(bound), n, 3)
        first = first or us
        if n <= args.pt_max:
            pus, psize = per_instance(pt_make, n, 3 if n <= 1_000 else 1)
            print(f"  {n:>7,}  {us:>8.2f} {size:>7.0f}   {pus:>8.1f} {psize:>7.0f}   x{pus / us:>7.1f}")
        else:
            print(f"  {n:>7,}  {us:>8.2f} {size:>7.0f}   {'(not run: quadratic)':>17}")
    print(f"\nstagecraft µs/instance at {counts[-1]:,} / at {counts[0]:,}: {us / first:.2f} (1.0 = linear)")


if __name__ == "__main__":
    main()
