"""One place that pins native thread pools to one thread.

Machines here have 2 shared cores: OpenMP/BLAS pools spinning on them made
xgboost and PPO 8-38x slower. Call before importing numpy-heavy libraries;
values already set in the environment win.
"""
import os

POOLS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def pin_threads(n: int = 1) -> None:
    for var in POOLS:
        os.environ.setdefault(var, str(n))
