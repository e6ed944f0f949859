"""Model decay tracking: live hit rate and Brier score against the validation figures.

A model's manifest keeps its validation metrics (hit rate = precision at the
threshold, Brier score). As live/recent predictions resolve, `DecayTracker`
keeps the last `window` of them; once `min_samples` are in, a hit rate more
than `max_hit_rate_drop` below validation, or a Brier score more than
`max_brier_rise` above it, flags the model for retraining (with the reason).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from strategies.ml.config import DecayConfig


@dataclass(frozen=True)
class DecayStatus:
    retrain: bool
    reason: str
    samples: int
    hit_rate: float | None
    brier: float | None


class DecayTracker:
    def __init__(self, baseline_hit_rate: float, baseline_brier: float, cfg: DecayConfig | None = None):
        self.cfg = cfg or DecayConfig()
        self.baseline_hit_rate = baseline_hit_rate
        self.baseline_brier = baseline_brier
        self._hits: deque[bool] = deque(maxlen=self.cfg.window)  # traded predictions only
        self._sq_err: deque[float] = deque(maxlen=self.cfg.window)

    @classmethod
    def from_manifest(cls, manifest: dict, cfg: DecayConfig | None = None) -> "DecayTracker":
        m = manifest["metrics"]["overall"]
        return cls(m["precision"], m["brier"], cfg)

    def record(self, prob: float, went_up: bool, traded_side: int = 0) -> None:
        """One resolved prediction; `traded_side` (+1/-1) when it led to a trade."""
        self._sq_err.append((prob - float(went_up)) ** 2)
        if traded_side:
            self._hits.append((traded_side > 0) == went_up)

    def status(self) -> DecayStatus:
        n = len(self._sq_err)
        hit = sum(self._hits) / len(self._hits) if self._hits else None
        brier = sum(self._sq_err) / n if n else None
        if n < self.cfg.min_samples:
            return DecayStatus(False, f"warming up ({n}/{self.cfg.min_samples} samples)", n, hit, brier)
        reasons = []
        if hit is not None and len(self._hits) >= self.cfg.min_samples \
                and self.baseline_hit_rate - hit > self.cfg.max_hit_rate_drop:
            reasons.append(f"hit rate {hit:.3f} < validation {self.baseline_hit_rate:.3f}"
                           f" - {self.cfg.max_hit_rate_drop}")
        if brier is not None and brier - self.baseline_brier > self.cfg.max_brier_rise:
            reasons.append(f"Brier {brier:.4f} > validation {self.baseline_brier:.4f} + {self.cfg.max_brier_rise}")
        return DecayStatus(bool(reasons), "; ".join(reasons) or "within tolerance", n, hit, brier)
