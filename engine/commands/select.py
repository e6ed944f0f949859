"""`engine select`: rank symbols/timeframes and write the top-K active set.

    engine select [--top-k 5] [--min-trades 25] [--metrics FILE] [--registry var/models]
                  [--data NAME ...] [--store var/store] [--state var/state.db]
                  [--out var/active_symbols.json]
                  [--spec specs/ml/filter.yaml] [--regime specs/ml/regime.yaml]
                  [--selection specs/ml/selection.yaml]

The selection spec (--selection, default specs/ml/selection.yaml: ranking
weights, eligibility, top-K, where the active set goes) is the one `engine run`
reads from the `kind: selection` document of its --specs: give the same file.
Metrics come from --metrics (a JSON list of {symbol, tf, trades, winrate,
profit_factor, sharpe, sortino, max_drawdown, ...}) or from the out-of-sample
walk-forward trades of each --data set (bundled names, or series imported with
`engine data import` named `store:SYMBOL@TF` and read from --store; by default
every bundled data set): the active registered model's stored validation
trades when there is one, else a fresh walk-forward run (nothing is registered) with
the ML spec --spec and the regime spec --regime, as `engine train ml` takes them.
The active set goes to the state store kv key "active_symbols" (with --state) or
to a JSON file.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from engine.commands.data import DEFAULT_STORE
from engine.commands.paths import existing_file

if TYPE_CHECKING:
    from strategies.ml.config import MLConfig, RegimeConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top-k", type=int, help="symbols to keep (default: top_k in the --selection file)")
    parser.add_argument("--min-trades", type=int,
                        help="fewest trades a candidate needs (default: min_trades in the --selection file)")
    parser.add_argument("--metrics", type=existing_file, help="JSON file with precomputed metrics instead of evaluating data")
    parser.add_argument("--registry", help="model registry root (default: registry_root in the --spec file)")
    parser.add_argument("--data", nargs="*", help="bundled data-set names or imported series store:SYMBOL@TF "
                                                  "to evaluate (default: every bundled data set)")
    parser.add_argument("--store", default=DEFAULT_STORE,
                        help=f"store root that `engine data import` wrote, for store: data (default {DEFAULT_STORE})")
    parser.add_argument("--state", help="state store (SQLite path); default: write a JSON file")
    parser.add_argument("--out", help="JSON file for the active set when no --state "
                                      "(default: fallback_file in the --selection file)")
    parser.add_argument("--spec", type=existing_file,
                        help="ML spec file for a fresh walk-forward (default specs/ml/filter.yaml)")
    parser.add_argument("--regime", type=existing_file,
                        help="regime spec file whose settings the regime features of a fresh walk-forward use "
                             "(default specs/ml/regime.yaml), as for `engine train ml --regime`")
    parser.add_argument("--selection", type=existing_file,
                        help="selection spec file: ranking, eligibility, top-K, where the active set goes "
                             "(default specs/ml/selection.yaml); `engine run` reads the one in its --specs")


def run(args: argparse.Namespace) -> int:
    from engine.threads import pin_threads

    pin_threads()
    try:
        return _select(args)
    except (KeyError, ValueError, OSError) as e:
        print(f"engine select: {e.args[0] if e.args else e}", file=sys.stderr)
        return 1


def _select(args: argparse.Namespace) -> int:
    from engine.commands.console import console as make_console
    from strategies import selection as sel
    from strategies.ml.config import SelectionConfig, load_model

    console = make_console()
    cfg = load_model(args.selection, SelectionConfig) if args.selection else sel.load_selection_config()
    top = args.top_k if args.top_k is not None else cfg.top_k
    min_trades = args.min_trades if args.min_trades is not None else cfg.min_trades
    if top < 1 or min_trades < 0:
        raise ValueError("--top-k must be >= 1 and --min-trades >= 0")
    rows = _read_metrics(Path(args.metrics)) if args.metrics else _evaluate(console, args)
    ranked = sel.rank(rows, cfg, min_trades)
    chosen = sel.top_k(ranked, top)
    active = sel.build_active_set(chosen, cfg, top, min_trades, time.time())
    where = sel.write_active_set(active, cfg, store=_open_store(args.state),
                                 fallback=Path(args.out) if args.out else None)
    _print_ranking(console, ranked, {(r.symbol, r.tf) for r in chosen})
    console.print(f"active symbols ({len(active.symbols)}/{top}): {', '.join(active.symbols) or '(none)'}"
                  f" -> {where}")
    return 0


def _read_metrics(path: Path) -> list[dict]:
    """The --metrics file as rows; bad JSON or a wrong shape is a file:line:col diagnostic."""
    from engine.diagnostics import Diagnostic, Pos, Severity, SpecError

    def bad(message: str, line: int = 1, col: int = 1) -> SpecError:
        return SpecError([Diagnostic(Pos(str(path), line, col), Severity.ERROR, "METRICS", message,
                                     "a JSON list of {symbol, tf, trades, winrate, profit_factor, sharpe, ...}")])
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise bad(f"not valid JSON: {e.msg}", e.lineno, e.colno) from None
    except (OSError, UnicodeDecodeError) as e:
        raise bad(f"cannot read it: {e.strerror if isinstance(e, OSError) else e}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("symbol"), str)
                                             for r in rows):
        raise bad("not a list of objects that each name a `symbol`")
    return rows


def _evaluate(console, args: argparse.Namespace) -> list[dict]:
    from strategies.ml import dataset
    from strategies.ml.config import MLConfig, RegimeConfig, load_model, load_spec

    # Loaded once, before any data: a bad spec is refused at its file:line:col up front.
    cfg = load_model(args.spec, MLConfig) if args.spec else load_spec("filter", MLConfig)
    regime = load_model(args.regime, RegimeConfig) if args.regime else load_spec("regime", RegimeConfig)
    names = args.data or dataset.bar_datasets()
    rows = []
    with console.status("evaluating") as status:
        for name in names:
            status.update(f"evaluating {name}")
            row, note = _evaluate_one(name, args.registry, args.store, cfg, regime)
            console.print(f"{name}: {note}")
            if row is not None:
                rows.append(row)
    return rows


def _evaluate_one(name: str, registry_root: str | None, store_root: str, cfg: MLConfig,
                  regime: RegimeConfig) -> tuple[dict | None, str]:
    import pandas as pd

    from strategies import selection as sel
    from strategies.ml import dataset
    from strategies.ml.model import oos_trades, run_walk_forward
    from strategies.ml.registry import ModelRegistry

    symbol, tf, bars = dataset.load(name, store_root=store_root)
    registry = ModelRegistry(registry_root or cfg.registry_root)
    version = registry.active_version(symbol, tf)
    if version is not None:
        t = registry.oos_trades(symbol, tf, version)
        ts, t1, ret = pd.DatetimeIndex(t["ts"]), pd.DatetimeIndex(t["t1"]), t["ret"]
        start, end = pd.Timestamp(t["span"][0]), pd.Timestamp(t["span"][1])
        note = f"validation trades of registered v{version}"
    else:
        X, labels = dataset.training_frame(bars, cfg, regime)
        try:
            result = run_walk_forward(X, labels, cfg, symbol)
        except ValueError as e:
            return None, f"skipped ({e})"
        trades = oos_trades(result.oos, result.threshold)
        ts, ret, t1 = trades.index, trades["ret"].tolist(), pd.DatetimeIndex(trades["t1"])
        start, end = result.oos.index[0], result.oos.index[-1]
        note = f"walk-forward over {len(result.folds)} folds (no registered model)"
    span = (end - start).total_seconds()
    held = zip(ts.as_unit("ns").asi8 / 1e9, t1.as_unit("ns").asi8 / 1e9)  # units differ by source
    m = sel.trade_metrics(ret, span, sel.exposure(held, span))
    return {"symbol": symbol, "tf": tf, **m}, note


def _print_ranking(console, ranked, chosen: set) -> None:
    from rich.table import Table

    from engine.commands.console import add_columns

    table = Table(title="symbol ranking (composite score)")
    add_columns(table, ["#", "symbol", "tf", "score", "trades", "win", "PF", "Sharpe", "Sortino", "maxDD", "avg",
                        "expo", "total", "status"])
    for i, r in enumerate(ranked, 1):
        m = r.metrics
        status = "ACTIVE" if (r.symbol, r.tf) in chosen else r.reason if not r.eligible else "-"
        table.add_row(str(i), r.symbol, r.tf, f"{r.score:.3f}", str(m["trades"]), f"{m['winrate']:.2f}",
                      f"{m['profit_factor']:.2f}", f"{m['sharpe']:.2f}", f"{m.get('sortino', 0.0):.2f}",
                      f"{m['max_drawdown']:.2%}", f"{m.get('avg_trade', 0.0):.4%}",
                      f"{m.get('exposure', 0.0):.0%}", f"{m.get('total_return', 0.0):.1%}", status)
    console.print(table)


def _open_store(path: str | None):
    if path is None:
        return None
    from state.store import Store

    return Store.open(path=path)
