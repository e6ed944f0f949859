"""Test-wide settings: pin native threads (2 shared cores; spinning threads made
xgboost and PPO 8-38x slower here) and keep hypothesis deterministic."""
import os

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=60, database=None)
settings.load_profile("ci")
