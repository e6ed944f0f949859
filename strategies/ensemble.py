"""Ensemble voting over model probabilities (seed 002), one auditable record per vote.

Both methods share the symmetric rule: BUY when the score is >= threshold, SELL
when it is <= 1 - threshold, HOLD otherwise.
  majority: each model votes BUY (p >= thr), SELL (p <= 1 - thr) or abstains; a
            side needs more than half of the usable models.
  weighted: the score is the weight-averaged probability (weights from
            specs/ml/ensemble.yaml, missing names weigh 1.0).
Fewer than `min_models` usable probabilities (NaN and missing ones are not
usable) -> HOLD with the reason: fail closed.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from strategies.ml.config import EnsembleConfig, load_spec
from strategies.symmetry import buy_line, sell_line

BUY, SELL, HOLD = "BUY", "SELL", "HOLD"


@dataclass(frozen=True)
class VoteRecord:
    decision: str
    method: str
    threshold: float
    score: float | None  # weighted mean, or the winning vote share for majority
    probabilities: dict[str, float]
    weights: dict[str, float] = field(default_factory=dict)
    votes: dict[str, str] = field(default_factory=dict)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_ensemble_config() -> EnsembleConfig:
    return load_spec("ensemble", EnsembleConfig)


def _side(p: float, thr: float) -> str:
    # At threshold 0.5 a score of exactly 0.5 meets both sides: undecided, so neither.
    return BUY if p >= buy_line(thr) and p > 0.5 else SELL if p <= sell_line(thr) and p < 0.5 else HOLD


def vote(probabilities: Mapping[str, float], cfg: EnsembleConfig | None = None) -> VoteRecord:
    cfg = cfg or load_ensemble_config()
    usable = {k: float(p) for k, p in probabilities.items() if p is not None and not math.isnan(float(p))}
    rec = dict(method=cfg.method, threshold=cfg.threshold,
               probabilities={k: (None if p is None else float(p)) for k, p in probabilities.items()})
    if len(usable) < cfg.min_models:
        return VoteRecord(HOLD, score=None, reason=f"{len(usable)} usable model(s) < min_models {cfg.min_models}",
                          **rec)
    if bad := [k for k, p in usable.items() if not 0.0 <= p <= 1.0]:
        return VoteRecord(HOLD, score=None, reason=f"probability outside [0, 1] from {bad}", **rec)
    if cfg.method == "majority":
        return _majority(usable, cfg, rec)
    return _weighted(usable, cfg, rec)


def _majority(usable: dict[str, float], cfg: EnsembleConfig, rec: dict) -> VoteRecord:
    votes = {k: _side(p, cfg.threshold) for k, p in usable.items()}
    n = len(votes)
    for side in (BUY, SELL):
        count = sum(v == side for v in votes.values())
        if count * 2 > n:
            return VoteRecord(side, score=count / n, votes=votes, reason=f"{count}/{n} models vote {side}", **rec)
    buys, sells = (sum(v == s for v in votes.values()) for s in (BUY, SELL))
    return VoteRecord(HOLD, score=max(buys, sells) / n, votes=votes,
                      reason=f"no majority ({buys} BUY, {sells} SELL of {n})", **rec)


def _weighted(usable: dict[str, float], cfg: EnsembleConfig, rec: dict) -> VoteRecord:
    weights = {k: cfg.weights.get(k, 1.0) for k in usable}
    total = sum(weights.values())
    if total <= 0:
        return VoteRecord(HOLD, score=None, weights=weights, reason="all usable models weigh 0", **rec)
    score = sum(usable[k] * w for k, w in weights.items()) / total
    decision = _side(score, cfg.threshold)
    return VoteRecord(decision, score=score, weights=weights,
                      reason=f"weighted mean {score:.4f} vs threshold {cfg.threshold}", **rec)
