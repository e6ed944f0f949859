"""The paper venue's fill randomness: one seeded stream per symbol.

Each symbol draws from its own numpy Generator, keyed by the run seed and the
symbol's name, so a symbol's partial fills depend only on its own fill
attempts: adding, removing or reordering another market (a forex series
replayed before a crypto one) moves none of them. The key is a stable digest
of the name (Python's hash() is salted per process), spawned from the seed
with numpy's SeedSequence, whose spawn keys give independent streams."""
from __future__ import annotations

import hashlib

import numpy as np


def fill_stream(seed: int, symbol: str) -> np.random.Generator:
    key = int.from_bytes(hashlib.blake2b(symbol.encode("utf-8"), digest_size=16).digest(), "big")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(key,))))
