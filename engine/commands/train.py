"""`engine train ml`: train the XGBoost signal filter (`rl`, a PPO policy, is not available yet) with purged walk-forward validation.

    engine train ml --symbol ETH/BTC --tf 5m [--data NAME_OR_PATH] [--store var/store] [--until DATE]
                    [--registry var/models] [--activate] [--state var/state.db]
                    [--spec specs/ml/filter.yaml] [--regime specs/ml/regime.yaml]

--data is a bundled data set, a series imported with `engine data import` (named
`store:SYMBOL@TF` as in a run config's datasets, read from --store) or a bars file.
The regime settings the features were built with are recorded in the manifest
(`regime_config`): `engine run` refuses the model under a regime spec that differs.
The spec's `features:` section is recorded too (`feature_config`): a run builds the
model's features from that record, never from its own ML spec.

Progress is shown per walk-forward fold; metrics are printed per fold and
overall; the model refit on all samples is registered as the next version.
--until trains on the bars that open before DATE only: `engine run` judges no bar a
model was trained on (ml.in_sample), so a model meant for a replay of the same data
is trained on the bars before those the replay trades.
A first version becomes active; later ones only with --activate (promotion is
a gate decision, not a side effect of training). Native threads are pinned to 1.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.commands.data import DEFAULT_STORE
from engine.commands.paths import existing_file, named
from engine.commands.until import bars_before, utc_time

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from strategies.ml.config import MLConfig, RegimeConfig
    from strategies.ml.model import WalkForwardResult
    from strategies.ml.registry import ModelRegistry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    ml = sub.add_parser("ml", help="XGBoost signal filter (features, triple-barrier labels, walk-forward)")
    ml.add_argument("--symbol", required=True, help="engine symbol, e.g. ETH/BTC, or a bundled data-set name")
    ml.add_argument("--tf", required=True, help="bar timeframe of the data, e.g. 5m, 1h")
    ml.add_argument("--data", type=named, help="bundled data-set name (engine data list --bundled), an imported series "
                                   "store:SYMBOL@TF (engine data list) or a bars file; "
                                   "default: the bundled data set of --symbol/--tf")
    ml.add_argument("--until", metavar="DATE", type=utc_time,
                    help="train on the bars that open before DATE (UTC, e.g. 2018-01-20): a run judges no bar "
                         "its model was trained on, so train before the bars you replay")
    ml.add_argument("--store", default=DEFAULT_STORE, type=named,
                    help=f"store root that `engine data import` wrote, for store: data (default {DEFAULT_STORE})")
    ml.add_argument("--registry", type=named, help="model registry root (default: registry_root in specs/ml/filter.yaml)")
    ml.add_argument("--spec", type=existing_file, help="ML spec file (default specs/ml/filter.yaml)")
    ml.add_argument("--regime", type=existing_file,
                    help="regime spec file whose settings the regime features use (default specs/ml/regime.yaml); "
                         "recorded with the model, and a run whose --specs hold other settings refuses the model")
    ml.add_argument("--activate", action="store_true", help="make the new version active")
    ml.add_argument("--state", metavar="DB", help="state store that records the active version (a SQLite file or "
                                                  "a database URL, as `engine kill --db` takes)")
    sub.add_parser("rl", help="PPO policy: not available yet (exits 2)")


def run(args: argparse.Namespace) -> int:
    if args.kind == "rl":
        print("engine train rl: PPO training is not available yet (rl/ holds no trainer)\n"
              "    hint: `engine train ml` trains the XGBoost signal filter", file=sys.stderr)
        return 2
    from engine.threads import pin_threads

    pin_threads()
    from engine.commands.status import CommandError

    try:
        return _train(args)
    except CommandError as e:
        print(f"engine train ml: {e}", file=sys.stderr)
        return e.code
    except (KeyError, ValueError, LookupError) as e:
        print(f"engine train ml: {e.args[0] if e.args else e}", file=sys.stderr)
        return 1


def _train(args: argparse.Namespace) -> int:
    from engine.commands.ml_specs import ml_spec
    from engine.console import console as make_console
    from strategies.ml.config import MLConfig, RegimeConfig
    from strategies.ml.registry import ModelRegistry

    console = make_console()
    cfg = ml_spec(args.spec, "filter", MLConfig, "--spec")
    regime = ml_spec(args.regime, "regime", RegimeConfig, "--regime")
    root = Path(args.registry or cfg.registry_root)
    _check_registry(root)
    with _open_store(args.state) as store:  # both refused before the training, not after it
        return _train_into(args, console, cfg, regime, ModelRegistry(root, store=store))


def _train_into(args: argparse.Namespace, console: Console, cfg: MLConfig, regime: RegimeConfig,
                registry: ModelRegistry) -> int:
    from engine.data.timeframes import canonical_tf
    from strategies.ml import dataset
    from strategies.ml.model import fit

    symbol, tf, bars = dataset.load(args.data or args.symbol, args.tf, args.store)
    if args.data and Path(args.data).is_file():  # a bars file names no symbol: register under --symbol
        symbol = args.symbol
    elif args.data and symbol != args.symbol:  # a data set names its own: another's model would filter it
        raise ValueError(f"{args.data} holds {symbol} bars, not {args.symbol}: pass --symbol {symbol}, "
                         f"or --data naming {args.symbol}'s bars")
    if tf != canonical_tf(args.tf):  # 60m asks for the 1h bars a store holds
        raise ValueError(f"data is {tf} bars but --tf is {args.tf}")
    bars = bars_before(bars, args.until)
    first = registry.first_version(symbol, tf)  # a damaged index is refused now, not after the training
    console.print(f"[bold]{symbol} {tf}[/]: {len(bars)} bars {bars.index[0]} .. {bars.index[-1]}")

    t0 = time.perf_counter()
    X, labels = dataset.training_frame(bars, cfg, regime)
    t_feat = time.perf_counter() - t0
    console.print(f"features: {X.shape[1]} columns x {len(X)} samples in {t_feat:.2f}s")

    t0 = time.perf_counter()
    result = _walk_forward_with_progress(console, X, labels, cfg, symbol)
    t_wf = time.perf_counter() - t0
    _print_metrics(console, result, symbol)

    t0 = time.perf_counter()
    booster = fit(X, labels["y"].to_numpy(), cfg.model)
    t_fit = time.perf_counter() - t0

    manifest = _manifest(cfg, regime, result, X, labels, bars, t_wf + t_fit)
    version = registry.register(symbol, tf, booster, manifest,
                                _trades_json(result), activate=args.activate or first)
    active = registry.active_version(symbol, tf)
    console.print(f"timing: features {t_feat:.2f}s, walk-forward {t_wf:.2f}s "
                  f"({len(result.folds)} folds), final fit {t_fit:.2f}s")
    console.print(f"registered [bold]{symbol} {tf} v{version}[/] under {registry.root} "
                  f"(active: v{active}{'' if active == version else '; pass --activate to switch'})")
    return 0


def _walk_forward_with_progress(console: Console, X: pd.DataFrame, labels: pd.DataFrame, cfg: MLConfig,
                                symbol: str) -> WalkForwardResult:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from strategies.ml.model import run_walk_forward
    from strategies.ml.walkforward import walk_forward

    n_folds = len(walk_forward(X.index, labels["t1"], cfg.walkforward))
    with Progress(TextColumn("walk-forward"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("folds", total=n_folds)
        return run_walk_forward(X, labels, cfg, symbol, on_fold=lambda _res, _n: progress.advance(task))


def _fmt(v: float) -> str:
    return "-" if v != v else f"{v:.3f}"  # NaN


def _print_metrics(console: Console, result: WalkForwardResult, symbol: str) -> None:
    from rich.table import Table

    from engine.console import add_columns

    table = Table(title=f"walk-forward ({symbol})")
    add_columns(table, ["fold", "train", "purged", "test", "test from", "AUC", "accuracy", "thr", "trades",
                        "precision", "sum ret"])
    for r in result.folds:
        m, f = r.metrics, r.fold
        table.add_row(str(f.number), str(len(f.train_idx)), str(f.purged), str(len(f.test_idx)),
                      f.test_start.strftime("%m-%d %H:%M"), _fmt(m["auc"]), _fmt(m["accuracy"]),
                      f"{m['threshold']:.2f}", str(m["trades"]), _fmt(m["precision"]), _fmt(m["total_ret"]))
    o = result.overall
    table.add_row("all", "", "", str(o["samples"]), "", _fmt(o["auc"]), _fmt(o["accuracy"]),
                  f"{o['threshold']:.2f}", str(o["trades"]), _fmt(o["precision"]), _fmt(o["total_ret"]),
                  style="bold")
    console.print(table)
    console.print(f"threshold {result.threshold:.2f}: {result.threshold_source}; "
                  f"Brier {o['brier']:.4f}")


def _manifest(cfg: MLConfig, regime: RegimeConfig, result: WalkForwardResult, X: pd.DataFrame,
              labels: pd.DataFrame, bars: pd.DataFrame, train_seconds: float) -> dict:
    import xgboost

    from strategies.ml.registry import frame_hash
    from strategies.regime import flag_settings

    return {
        "kind": "xgboost",
        "xgboost_version": xgboost.__version__,
        "params": cfg.model.model_dump(),
        "labels": cfg.labels.model_dump(),
        "walkforward": cfg.walkforward.model_dump(),
        "features": list(X.columns),
        "feature_config": cfg.features.model_dump(),
        "regime_config": flag_settings(regime),  # a run refuses the model under other settings
        "threshold": result.threshold,
        "threshold_source": result.threshold_source,
        "metrics": {"overall": result.overall,
                    "folds": [{"fold": r.fold.number, "test_start": r.fold.test_start.isoformat(),
                               "test_end": r.fold.test_end.isoformat(), "train": len(r.fold.train_idx),
                               "purged": r.fold.purged, **r.metrics} for r in result.folds]},
        "data_hash": frame_hash(X, labels[["label", "ret", "y"]]),
        "data": {"source": bars.attrs.get("source"), "rows": len(bars), "samples": len(X),
                 "start": bars.index[0].isoformat(), "end": bars.index[-1].isoformat()},
        "train_seconds": round(train_seconds, 3),
    }


def _trades_json(result: WalkForwardResult) -> dict:
    from strategies.ml.model import oos_trades

    trades = oos_trades(result.oos)
    return {"ts": [t.isoformat() for t in trades.index], "t1": [t.isoformat() for t in trades["t1"]],
            "side": trades["side"].astype(int).tolist(), "ret": trades["ret"].astype(float).tolist(),
            "span": [result.oos.index[0].isoformat(), result.oos.index[-1].isoformat()]}


def _check_registry(root: Path) -> None:
    """Refuse a registry root that cannot be a folder."""
    from engine.commands.status import USAGE, CommandError

    blocked = next((p for p in (root, *root.parents) if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise CommandError(f"--registry {root}: {blocked} is a file, not a folder: name the registry's folder "
                           "(default: registry_root in specs/ml/filter.yaml)", USAGE)


@contextmanager
def _open_store(db: str | None) -> Iterator[Any]:
    """The --state store (made if missing, as a run makes its own), or None; a value that names no
    store, or one that cannot be opened, is one line (engine.commands.status.CommandError)."""
    if db is None:
        yield None
        return
    from engine.commands.status import checked_store_url, driver_guarded, parse_store_url
    from state.store import Store

    url = checked_store_url(db, None)
    with driver_guarded(parse_store_url(url), lambda: Store.open(url=url)) as store:
        yield store
