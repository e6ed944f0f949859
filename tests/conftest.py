"""Test-wide settings: pin native threads (2 shared cores; spinning threads made
xgboost and PPO 8-38x slower here) and keep hypothesis deterministic."""
from engine.threads import pin_threads

pin_threads()

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=60, database=None)
settings.load_profile("ci")
