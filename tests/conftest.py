"""Test-wide settings: pin native threads (2 shared cores; spinning threads made
xgboost and PPO 8-38x slower here) and keep hypothesis deterministic."""
import os
import tempfile

from engine.threads import pin_threads

pin_threads()
# engine validate's result cache: never the developer's var/cache from inside the suite.
os.environ.setdefault("ENGINE_CACHE_DIR", tempfile.mkdtemp(prefix="engine-cache-"))

from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=60, database=None)
settings.load_profile("ci")
