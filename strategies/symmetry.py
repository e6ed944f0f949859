"""Seed 002's BUY/SELL symmetry rule: BUY at p >= threshold, SELL at p <= 1 - threshold.

1 - threshold is not exact in binary (1 - 0.55 is 0.44999999999999996), so a probability of
exactly 1 - threshold missed SELL while one of exactly threshold made BUY; and a score computed
from probabilities (an ensemble's weighted mean of three 0.7s is 0.6999999999999998) misses the
BUY line by rounding where its mirror (three 0.3s) makes SELL. Both lines take one slack, far
below a float32 probability's resolution (6e-8): it decides those boundaries only, alike.
"""
from __future__ import annotations

SLACK = 1e-12


def buy_line(threshold: float) -> float:
    """The lowest probability of up that is a BUY at `threshold`."""
    return threshold - SLACK


def sell_line(threshold: float) -> float:
    """The highest probability of up that is a SELL at `threshold`."""
    return 1.0 - threshold + SLACK
