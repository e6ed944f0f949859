"""Block cross-validation for choosing strategy parameters (seed 003 strat_cv / strat_scorer).

Bars are cut into contiguous blocks so that serial dependence survives inside a block.
- BlockBootstrap: each split fits on blocks drawn with replacement and scores on the
  blocks never drawn (out of bag).
- BlockPermutation: the blocks are put in a seeded random order and dealt into k folds;
  each fold is scored once with the strategy fitted on the others (shuffled blocked k-fold).
Features are always computed causally on the full, contiguous bar history (EWMs need
it); only the fitted in-sample statistics (vol-tilt scale, decay defactor, target-vol
scaler) see the training rows, and the score sees only the test rows.
Every split is reproducible from `seed`.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from strategies import blocks
from strategies.base import Strategy

if TYPE_CHECKING:
    from strategies.config import Tuning

Split = tuple[np.ndarray, np.ndarray]
Scorer = Callable[[pd.Series, pd.Series], float]


def _blocks(n: int, block_size: int) -> list[np.ndarray]:
    if block_size < 2 or n < 2 * block_size:
        raise ValueError(f"need block_size >= 2 and at least two blocks: n={n}, block_size={block_size}")
    return [np.arange(i, min(i + block_size, n)) for i in range(0, n, block_size)]


def too_short(n: int, cv: "BlockBootstrap | BlockPermutation") -> str | None:
    """Why `n` rows cannot be split by `cv` (None: they can), for the caller to say and skip."""
    needed = max(2, cv.n_splits) if isinstance(cv, BlockPermutation) else 2
    if n >= 2 * cv.block_size and -(-n // cv.block_size) >= needed:  # blocks: the last one may be short
        return None
    return f"fewer than the {needed} blocks of {cv.block_size} bars its splits need"


def from_spec(tuning: "Tuning") -> "BlockBootstrap | BlockPermutation":
    """The splitter a strategy spec's `tuning:` section names."""
    kind = BlockBootstrap if tuning.method == "bootstrap" else BlockPermutation
    return kind(n_splits=tuning.splits, block_size=tuning.block_size, seed=tuning.seed)


@dataclass(frozen=True)
class BlockBootstrap:
    n_splits: int = 10
    block_size: int = 24 * 7
    seed: int = 0

    def split(self, n: int) -> Iterator[Split]:
        rng = np.random.default_rng(self.seed)
        chunks = _blocks(n, self.block_size)
        for _ in range(self.n_splits):
            drawn = rng.integers(0, len(chunks), size=len(chunks))
            out_of_bag = np.setdiff1d(np.arange(len(chunks)), drawn)
            if len(out_of_bag) == 0:
                continue  # every block drawn (rare): nothing to score on
            yield (np.concatenate([chunks[i] for i in drawn]),
                   np.concatenate([chunks[i] for i in out_of_bag]))


@dataclass(frozen=True)
class BlockPermutation:
    n_splits: int = 5
    block_size: int = 24 * 7
    seed: int = 0

    def split(self, n: int) -> Iterator[Split]:
        rng = np.random.default_rng(self.seed)
        chunks = _blocks(n, self.block_size)
        if len(chunks) < self.n_splits:
            raise ValueError(f"{len(chunks)} blocks cannot make {self.n_splits} folds")
        order = rng.permutation(len(chunks))
        for fold in np.array_split(order, self.n_splits):
            test = np.sort(np.concatenate([chunks[i] for i in fold]))
            train = np.setdiff1d(np.arange(n), test)
            yield train, test


def pearson_score(position: pd.Series, ret: pd.Series) -> float:
    """Correlation of the position held over a bar with that bar's return (scale-free)."""
    ok = position.notna() & ret.notna()
    if ok.sum() < 3 or position[ok].std() == 0:
        return float("nan")
    return float(np.corrcoef(position[ok], ret[ok])[0, 1])


def sharpe_score(position: pd.Series, ret: pd.Series) -> float:
    """Per-bar Sharpe of the strategy PnL (not annualised: splits are compared like for like)."""
    pnl = (position * ret).dropna()
    sd = pnl.std()
    return float(pnl.mean() / sd) if len(pnl) > 2 and sd > 0 else float("nan")


SCORERS: dict[str, Scorer] = {"pearson": pearson_score, "sharpe": sharpe_score}


def cv_scores(strategy: Strategy, bars: pd.DataFrame, cv: BlockBootstrap | BlockPermutation,
              scorer: str | Scorer = "pearson") -> list[float]:
    """One score per split: fit on the train rows, score the next-bar PnL on the test rows. A
    split the strategy cannot be fitted on (too few rows for its windows, a draw of a short
    last block alone) scores NaN: the other splits still count."""
    score = SCORERS[scorer] if isinstance(scorer, str) else scorer
    ret = blocks.returns(bars["close"])
    out = []
    for train, test in cv.split(len(bars)):
        try:
            held = strategy.fit(bars, sample=train).predict(bars).shift(1)  # held over bar t: decided at t-1
        except ValueError:  # StrategyError, and the blocks' own "no two consecutive bars"
            out.append(math.nan)
            continue
        out.append(score(held.iloc[test], ret.iloc[test]))
    return out


def parameter_grid(grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """{'a': [1, 2], 'b': [3]} -> [{'a': 1, 'b': 3}, {'a': 2, 'b': 3}]; a list of dicts passes through."""
    if isinstance(grid, Mapping):
        keys = list(grid)
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[k] for k in keys))]
    return [dict(g) for g in grid]


def choose_params(cls: type[Strategy], grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
                  frames: Mapping[str, pd.DataFrame], cv: BlockBootstrap | BlockPermutation,
                  scorer: str | Scorer = "pearson", base_params: Mapping[str, Any] | None = None,
                  on_point: Callable[[], None] | None = None) -> tuple[dict[str, Any], pd.DataFrame]:
    """The grid point with the best mean CV score over the frames (the parameters are shared by
    every symbol they trade): the mean of its mean per frame, so each frame weighs the same
    however many of its splits a point could be scored on. The table has each point's mean,
    the std and count (`n`) of its split scores, the frames it scored on (`sets`) and its mean
    per frame (`mean NAME`).

    Only a point scored on every frame that any point scored on can win: one whose windows
    outgrow a short frame would otherwise be judged on the longer frames alone, against points
    judged on all. A frame no point scored on tells nothing and binds no one. Points with no
    finite score rank last. Points within a relative 1e-9 of the best tie with it (a scale-free
    scorer gives a scale parameter's candidates one score, give or take rounding): the current
    parameters (`base_params`) win a tie they are in, else grid order decides, so a parameter the
    scorer cannot judge is left as it is. `on_point` is called after each grid point."""
    points = parameter_grid(grid)
    rows = []
    for point in points:
        params = {**(base_params or {}), **point}
        per_frame = {name: np.asarray(cv_scores(cls(params), bars, cv, scorer), dtype=float)
                     for name, bars in frames.items()}
        means = {f"mean {name}": _summary(s)["mean"] for name, s in per_frame.items()}
        finite = [m for m in means.values() if m == m]  # m == m: not NaN
        pooled = _summary(np.concatenate(list(per_frame.values())))  # its std and n; the mean is per frame
        rows.append({**point, "mean": float(np.mean(finite)) if finite else math.nan, "std": pooled["std"],
                     "n": pooled["n"], "sets": len(finite), **means})
        if on_point is not None:
            on_point()
    table = pd.DataFrame(rows)
    informative = sum(table[f"mean {name}"].notna().any() for name in frames)  # frames any point scored on
    ranked = table["mean"].where(table["sets"] == informative)
    if ranked.isna().all():
        raise ValueError(f"{cls.__name__}: no grid point produced a finite score")
    scores = ranked.fillna(-np.inf).to_numpy()
    tied = [points[i] for i in np.flatnonzero(np.isclose(scores, scores.max(), rtol=1e-9, atol=0.0))]
    current = {k: base_params[k] for k in tied[0] if base_params and k in base_params}
    return next((p for p in tied if p == current), tied[0]), table


def _summary(scores: np.ndarray) -> dict[str, float | int]:
    finite = scores[np.isfinite(scores)]
    return {"mean": float(finite.mean()) if len(finite) else math.nan,
            "std": float(finite.std(ddof=1)) if len(finite) > 1 else math.nan,
            "n": int(len(finite))}
