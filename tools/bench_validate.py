"""Cold-start timing of `engine validate`: N fresh interpreters, each validating the specs.

Prints mean and min wall time, the time spent inside the process in import,
load and lint, and how many modules were imported (heavy ones listed, if any).
Usage: python tools/bench_validate.py [-n 10] [PATH...]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = {"pandas", "sqlmodel", "sqlalchemy", "torch", "xgboost", "stable_baselines3", "matplotlib"}
PROBE = """
import json, sys, time
t0 = time.perf_counter()
from engine.spec.loader import load_specs
from engine.spec.lint import lint
t1 = time.perf_counter()
specset, diags = load_specs(sys.argv[2:])
t2 = time.perf_counter()
diags += lint(specset)
t3 = time.perf_counter()
mods = {m.split('.')[0] for m in sys.modules}
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "lint": t3 - t2, "modules": len(sys.modules),
                  "heavy": sorted(mods & set(sys.argv[1].split(","))), "diagnostics": len(diags)}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=10, help="runs (default 10)")
    ap.add_argument("paths", nargs="*", default=["specs"])
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "engine.cli", "validate", *args.paths]
    misses = [_time(cmd + ["--no-cache"]) for _ in range(args.n)]  # every spec parsed and linted
    _time(cmd)  # fill the cache
    hits = [_time(cmd) for _ in range(args.n)]  # nothing changed since: the edit-validate loop
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    probes = [json.loads(subprocess.run([sys.executable, "-c", PROBE, ",".join(HEAVY), *args.paths], cwd=REPO,
                                        capture_output=True, text=True, check=True).stdout)
              for _ in range(min(args.n, 5))]
    bare = min(_time([sys.executable, "-c", "pass"]) for _ in range(5))
    print(f"engine validate {' '.join(args.paths)}: {args.n} cold runs, exit {proc.returncode}")
    for label, walls in (("no cache", misses), ("cached", hits)):
        print(f"  wall, {label:8} mean {statistics.mean(walls) * 1000:7.1f} ms   min {min(walls) * 1000:7.1f} ms"
              f"   (bare python: {bare * 1000:.1f} ms)")
    for phase in ("import", "load", "lint"):
        vals = [p[phase] for p in probes]
        print(f"  {phase:6} mean {statistics.mean(vals) * 1000:7.1f} ms   min {min(vals) * 1000:7.1f} ms")
    print(f"  modules imported: {probes[0]['modules']}   heavy: {probes[0]['heavy'] or 'none'}"
          f"   diagnostics: {probes[0]['diagnostics']}")
    return 0


def _time(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, capture_output=True)
    return time.perf_counter() - t


if __name__ == "__main__":
    sys.exit(main())
