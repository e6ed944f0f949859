"""Seed 002's BUY/SELL symmetry rule: BUY at p >= threshold, SELL at p <= 1 - threshold.

1 - threshold is not exact in binary (1 - 0.55 is 0.44999999999999996), so a probability of
exactly 1 - threshold missed SELL while one of exactly threshold made BUY. The sell line takes a
slack far below a float32 probability's resolution (6e-8): it decides that boundary only.
"""
from __future__ import annotations

SLACK = 1e-12


def sell_line(threshold: float) -> float:
    """The highest probability of up that is a SELL at `threshold`."""
    return 1.0 - threshold + SLACK
