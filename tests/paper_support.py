"""A PaperConfig for a test that sets a few domains' figures: the run config gives every domain
one (adapters/paper/config.py refuses a partial map), a test names only those it looks at."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.paper import PaperConfig
from engine.domain import Domain

PER_DOMAIN = ("spread_bps", "taker_fee_bps", "slippage_bps", "leverage", "starting_balance")


def paper_config(**data: Any) -> PaperConfig:
    """PaperConfig(**data) with each per-domain map merged over the defaults."""
    base = PaperConfig()
    for key in PER_DOMAIN:
        if isinstance(data.get(key), Mapping):
            data[key] = {**getattr(base, key), **{Domain(k): v for k, v in data[key].items()}}
    return PaperConfig(**data)
