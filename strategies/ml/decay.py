"""Model decay tracking: live hit rate and Brier score against the validation figures.

A model's manifest keeps its validation metrics (hit rate = precision at the
threshold, Brier score). As live/recent predictions resolve, `DecayTracker`
keeps the last `window` of them; once `min_samples` are in, a hit rate more
than `max_hit_rate_drop` below validation, or a Brier score more than
`max_brier_rise` above it, flags the model for retraining (with the reason).

`resolved` picks what a run may count: predictions made after the model's
training data (earlier ones are in-sample) whose label is known by then.
"""
from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from strategies.ml.config import DecayConfig

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class DecayStatus:
    retrain: bool
    reason: str
    samples: int
    hit_rate: float | None
    brier: float | None

    def as_dict(self) -> dict:
        return asdict(self)


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


def resolved(prob: "pd.Series", labels: "pd.DataFrame", step: "pd.Timedelta", after: "pd.Timestamp",
             until: "pd.Timestamp") -> "pd.DataFrame":
    """Rows (prob, y) of the predictions made after `after` (the model's last training bar) whose
    label's exit bar (`t1`, a bar open) had closed by `until`, in time order; rows without a
    prediction or a label (warm-up, the data's end) are left out."""
    known = (prob.index > after) & (labels["t1"] + step <= until).to_numpy() \
        & np.isfinite(prob.to_numpy()) & labels["y"].notna().to_numpy()
    return labels.loc[known, ["y"]].assign(prob=prob[known])


def decay_status(rows: "pd.DataFrame", threshold: float, manifest: dict, cfg: DecayConfig) -> DecayStatus:
    """The tracker's status after `rows` (from `resolved`), each traded as the model's threshold says."""
    from strategies.ml.model import sides

    tracker = DecayTracker.from_manifest(manifest, cfg)
    prob = rows["prob"].to_numpy()
    for p, y, side in zip(prob, rows["y"].to_numpy(), sides(prob, threshold), strict=True):
        tracker.record(float(p), bool(y > 0.5), int(side))
    return tracker.status()
