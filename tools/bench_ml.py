"""ML filter figures on bundled data: feature build time, training time, walk-forward metrics,
and what the run pays for the filter (precomputed at load vs recomputed per bar live).

    .venv/bin/python tools/bench_ml.py [DATASET ...]     (default: the stage-1 crypto spot sets)

Uses specs/ml/filter.yaml as `engine train ml` does (nothing is registered). xgboost and
BLAS run on one thread. Times are best of 3 for features, single runs for training.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.threads import pin_threads

pin_threads()  # before anything native is imported

from engine.run.signals import ModelFeed
from strategies.ml import dataset
from strategies.ml.config import MLConfig, load_spec
from strategies.ml.features import build_features
from strategies.ml.model import fit, run_walk_forward
from strategies.ml.registry import LoadedModel
from strategies.regime import flag_settings, load_regime_config

DEFAULT = ["crypto_spot/ETH_BTC-5m", "crypto_spot/LTC_BTC-5m", "crypto_spot/ADA_BTC-5m"]
LIVE_BARS = 20  # decision times timed on the live path (features rebuilt from the bars so far)


def best(fn: Callable[[], object], repeat: int = 3) -> float:
    out = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t)
    return out


def bench(name: str, cfg: MLConfig) -> dict:
    symbol, tf, bars = dataset.load(name)
    feat_s = best(lambda: build_features(bars, cfg.features))
    X, labels = dataset.training_frame(bars, cfg)
    t = time.perf_counter()
    result = run_walk_forward(X, labels, cfg, symbol)
    wf_s = time.perf_counter() - t
    t = time.perf_counter()
    booster = fit(X, labels["y"].to_numpy(), cfg.model)
    fit_s = time.perf_counter() - t
    regime = load_regime_config()
    manifest = {"feature_config": cfg.features.model_dump(), "threshold": result.threshold,
                "regime_config": flag_settings(regime)}
    feed = ModelFeed(f"{symbol}:{tf}:bench", LoadedModel(symbol, tf, 0, booster, manifest), bars, regime)
    step = bars.index[1] - bars.index[0]
    closes = (bars.index[-LIVE_BARS:] + step).asi8 / 1e9
    pre_s = best(lambda: feed.probs(closes), repeat=1)
    live_s = best(lambda: [feed.prob_live(bars, t) for t in closes], repeat=1) / LIVE_BARS
    return {"name": name, "bars": len(bars), "cols": X.shape[1], "samples": len(X), "feat_s": feat_s,
            "wf_s": wf_s, "fit_s": fit_s, "folds": len(result.folds), "o": result.overall,
            "thr": result.threshold, "src": result.threshold_source, "pre_s": pre_s, "live_s": live_s,
            "fold_auc": [r.metrics["auc"] for r in result.folds]}


def main(names: list[str]) -> None:
    cfg = load_spec("filter", MLConfig)
    rows = [bench(n, cfg) for n in names]
    print("features (best of 3) and training (walk-forward + final fit), one thread")
    print(f"{'data set':26s} {'bars':>6s} {'cols':>5s} {'feat s':>7s} {'us/bar':>7s} {'folds':>5s} "
          f"{'wf s':>6s} {'fit s':>6s} {'train s':>8s}")
    for r in rows:
        print(f"{r['name']:26s} {r['bars']:6d} {r['cols']:5d} {r['feat_s']:7.3f} {r['feat_s'] / r['bars'] * 1e6:7.1f} "
              f"{r['folds']:5d} {r['wf_s']:6.2f} {r['fit_s']:6.2f} {r['wf_s'] + r['fit_s']:8.2f}")
    print("\nwalk-forward, out of sample (all folds at the chosen threshold)")
    print(f"{'data set':26s} {'AUC':>6s} {'acc':>6s} {'Brier':>7s} {'thr':>5s} {'trades':>7s} {'prec':>6s} "
          f"{'sum ret':>8s}  fold AUCs")
    for r in rows:
        o = r["o"]
        aucs = " ".join("-" if a != a else f"{a:.3f}" for a in r["fold_auc"])
        print(f"{r['name']:26s} {o['auc']:6.3f} {o['accuracy']:6.3f} {o['brier']:7.4f} {r['thr']:5.2f} "
              f"{o['trades']:7d} {o['precision']:6.3f} {o['total_ret']:8.3f}  {aucs}  ({r['src']})")
    print(f"\nrun cost of the filter: P(up) for the whole series at load vs per bar on a live feed "
          f"({LIVE_BARS} bars)")
    print(f"{'data set':26s} {'load s':>7s} {'live ms/bar':>12s} {'live bar / load':>16s}")
    for r in rows:
        print(f"{r['name']:26s} {r['pre_s']:7.3f} {r['live_s'] * 1e3:12.1f} {r['live_s'] / r['pre_s']:16.2f}")


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
