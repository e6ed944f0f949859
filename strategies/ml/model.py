"""XGBoost probabilities of "price goes up", walk-forward evaluation and per-symbol thresholds.

xgboost is imported lazily and always runs with nthread=1 (OMP pinned too): on
the 2 shared cores, spinning threads made it many times slower, and one thread
makes training bit-for-bit reproducible.

Decision rule per row (the symmetric rule of seed 002): BUY when p >= thr,
SELL when p <= 1 - thr, no trade otherwise. A trade's outcome is side x the
label's return (`ret`); "precision" is the share of trades on the right side.
The model's threshold is chosen on the out-of-fold validation predictions (the
`search_grid` value with the largest summed trade return among those with at
least `min_trades` trades); when none qualifies, the symbol's table value
from specs/ml/filter.yaml stands. The validation figures themselves (the
overall metrics, the validation trades `engine select` ranks by) trade each
fold at the threshold chosen the same way on the folds before it (the first
at the table value): a threshold tuned on a fold's own outcomes, or on later
weeks', would make them look better than any live trading could.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from strategies.ml.config import MLConfig, ModelParams
from strategies.ml.walkforward import Fold, walk_forward
from strategies.symmetry import buy_line, sell_line


def _xgb() -> Any:
    from engine.threads import pin_threads

    pin_threads()
    import xgboost

    return xgboost


def booster_params(p: ModelParams) -> dict[str, Any]:
    return {"objective": "binary:logistic", "eval_metric": "logloss", "tree_method": "hist",
            "nthread": 1, "max_depth": p.max_depth, "eta": p.learning_rate, "subsample": p.subsample,
            "colsample_bytree": p.colsample_bytree, "min_child_weight": p.min_child_weight, "seed": p.seed}


def fit(X: pd.DataFrame, y: np.ndarray, p: ModelParams) -> Any:
    xgb = _xgb()
    dtrain = xgb.DMatrix(X.to_numpy(dtype=np.float32), label=np.asarray(y, dtype=np.float32),
                         feature_names=list(X.columns), nthread=1)
    return xgb.train(booster_params(p), dtrain, num_boost_round=p.n_estimators)


class MissingFeatures(ValueError):
    """Features the model was trained on that the data cannot give (a spread-trained model on bars without bid/ask)."""

    def __init__(self, names: list[str]):
        self.names = names
        super().__init__(f"features missing for this model: {names[:5]}")


def predict(booster: Any, X: pd.DataFrame) -> np.ndarray:
    """P(up) per row; columns are matched by name to the booster's feature list."""
    xgb = _xgb()
    names = booster.feature_names or list(X.columns)
    missing = [c for c in names if c not in X.columns]
    if missing:
        raise MissingFeatures(missing)
    dm = xgb.DMatrix(X[names].to_numpy(dtype=np.float32), feature_names=names, nthread=1)
    return booster.predict(dm)


def sides(prob: np.ndarray, thr: float) -> np.ndarray:
    """+1 BUY, -1 SELL, 0 no trade (the symmetric rule)."""
    prob = np.asarray(prob, dtype=float)
    return np.where(prob >= buy_line(thr), 1, np.where(prob <= sell_line(thr), -1, 0))


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney rank sum (ties averaged); NaN if one class is absent."""
    y = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(np.asarray(score, dtype=float)).rank().to_numpy()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(prob: np.ndarray, y: np.ndarray, ret: np.ndarray, thr: float) -> dict[str, float]:
    return _scores(prob, y, ret, thr, sides(prob, thr))


def _scores(prob: np.ndarray, y: np.ndarray, ret: np.ndarray, thr: float, side: np.ndarray) -> dict[str, float]:
    """The metrics of trading `side` per row; `thr` is the threshold they are reported under."""
    prob, y, ret = (np.asarray(a, dtype=float) for a in (prob, y, ret))
    traded = side != 0
    pnl = side[traded] * ret[traded]
    right = (side[traded] > 0) == (y[traded] > 0.5)
    return {
        "samples": int(len(y)),
        "auc": auc(y, prob),
        "accuracy": float(((prob >= 0.5) == (y > 0.5)).mean()) if len(y) else float("nan"),
        "brier": float(np.mean((prob - y) ** 2)) if len(y) else float("nan"),
        "threshold": float(thr),
        "trades": int(traded.sum()),
        "precision": float(right.mean()) if traded.any() else float("nan"),
        "avg_trade_ret": float(pnl.mean()) if traded.any() else float("nan"),
        "total_ret": float(pnl.sum()),
    }


def choose_threshold(prob: np.ndarray, y: np.ndarray, ret: np.ndarray, grid: list[float],
                     min_trades: int, fallback: float) -> tuple[float, str]:
    best: tuple[float, float] | None = None
    for thr in grid:
        m = evaluate(prob, y, ret, thr)
        if m["trades"] >= min_trades and (best is None or m["total_ret"] > best[1]):
            best = (thr, m["total_ret"])
    if best is None:
        return fallback, f"table value (no grid threshold reached {min_trades} validation trades)"
    return best[0], "chosen on validation folds"


@dataclass
class FoldResult:
    fold: Fold
    metrics: dict[str, float]


@dataclass
class WalkForwardResult:
    folds: list[FoldResult]
    oos: pd.DataFrame  # t0-indexed: prob, y, ret, fold
    threshold: float
    threshold_source: str
    overall: dict[str, float] = field(default_factory=dict)


def run_walk_forward(X: pd.DataFrame, labels: pd.DataFrame, cfg: MLConfig, symbol: str,
                     on_fold: Callable[[FoldResult, int], None] | None = None) -> WalkForwardResult:
    """Train/test over purged walk-forward folds; metrics per fold use the table threshold, the
    overall metrics each fold's walk-forward threshold (column `thr` of `oos`), and the result's
    threshold, for the model's use after its data, is chosen on every fold."""
    folds = walk_forward(X.index, pd.DatetimeIndex(labels["t1"]), cfg.walkforward)
    if not folds:
        raise ValueError(f"not enough data for a walk-forward fold ({len(X)} samples; "
                         f"min_train_samples={cfg.walkforward.min_train_samples})")
    table_thr = cfg.thresholds.for_symbol(symbol)
    y, ret = labels["y"].to_numpy(), labels["ret"].to_numpy()
    results, parts = [], []
    for fold in folds:
        booster = fit(X.iloc[fold.train_idx], y[fold.train_idx], cfg.model)
        prob = predict(booster, X.iloc[fold.test_idx])
        res = FoldResult(fold, evaluate(prob, y[fold.test_idx], ret[fold.test_idx], table_thr))
        results.append(res)
        walked = _threshold(parts, cfg, table_thr)[0]  # before this fold joins `parts`
        parts.append(pd.DataFrame({"prob": prob, "y": y[fold.test_idx], "ret": ret[fold.test_idx],
                                   "t1": labels["t1"].iloc[fold.test_idx].to_numpy(), "fold": fold.number,
                                   "thr": walked}, index=X.index[fold.test_idx]))
        if on_fold:
            on_fold(res, len(folds))
    oos = pd.concat(parts)
    thr, source = _threshold(parts, cfg, table_thr)
    prob = oos["prob"].to_numpy()
    overall = _scores(prob, oos["y"].to_numpy(), oos["ret"].to_numpy(), thr, sides(prob, oos["thr"].to_numpy()))
    return WalkForwardResult(results, oos, thr, source, overall)


def _threshold(parts: list[pd.DataFrame], cfg: MLConfig, table_thr: float) -> tuple[float, str]:
    """The threshold chosen on the validation predictions of `parts` (the table value on none)."""
    if not parts:
        return table_thr, "table value (no earlier validation fold)"
    past = pd.concat(parts)
    return choose_threshold(past["prob"].to_numpy(), past["y"].to_numpy(), past["ret"].to_numpy(),
                            cfg.thresholds.search_grid, cfg.thresholds.min_trades, table_thr)


def oos_trades(oos: pd.DataFrame) -> pd.DataFrame:
    """The validation trades, each row at its fold's walk-forward threshold (`thr`), one position
    at a time: a signal is taken only once the previous trade has exited (at its label's t1).
    Columns side, ret (side x label return), t1."""
    side = sides(oos["prob"].to_numpy(), oos["thr"].to_numpy())
    rows, busy_until = [], None
    for ts, s, r, t1 in zip(oos.index, side, oos["ret"].to_numpy(), oos["t1"], strict=True):
        if s == 0 or (busy_until is not None and ts <= busy_until):
            continue
        rows.append((ts, int(s), float(s * r), t1))
        busy_until = t1
    out = pd.DataFrame(rows, columns=["ts", "side", "ret", "t1"])
    return out.set_index(pd.DatetimeIndex(out.pop("ts")))
