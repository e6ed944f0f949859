"""`engine select`: rank symbols/timeframes and write the top-K active set.

    engine select [--top-k 5] [--min-trades 25] [--metrics FILE] [--registry var/models]
                  [--data NAME ...] [--until DATE] [--store var/store] [--state var/engine.db]
                  [--out var/active_symbols.json] [--reason TEXT]
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
--until DATE ranks on the bars that open before DATE and the validation trades that end before
it; the set records the last outcome it was ranked on (`ranked_until`), and a run that replays
bars before then says that its set was chosen in-sample.
Where the set goes (docs/engine-run.md, "The active set"):
  * --out FILE (without --state, default: fallback_file in the --selection file): a JSON file,
    which a fresh `engine run` reads (the run config's ml.active_set_file, else that fallback_file);
  * --state DB (a SQLite file or a database URL, as `engine kill --db` takes): the run in that
    store, through the control channel `engine kill` uses (command `set_active`, the set in its
    args): the running engine takes it within a quarter second, between two bars, a stopped one at
    `engine run --resume`;
    the engine journals the old and the new set and keeps the new one for later resumes. A store
    with no run that would take it (none, not checkpointed and not running, or finished) is
    refused, nothing posted: a fresh run archives the store and reads the file instead. A set
    naming a symbol no series of the run trades (kv run/symbols) is warned of before it is posted:
    it would never be entered. Both options: the file is written, then the set posted.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.commands.data import DEFAULT_STORE
from engine.commands.paths import existing_file, named
from engine.commands.status import (USAGE, CommandError, open_existing_store, post_while_open, resume_command,
                                    running_engine, settle_finished, when_applied)
from engine.commands.until import bars_before, utc_time
from engine.run.keys import FINISHED_KEY, SYMBOLS_KEY
from engine.suggest import DEFAULT_SPECS, Carried, shown_db

if TYPE_CHECKING:
    from rich.console import Console

    from strategies.ml.config import MLConfig, RegimeConfig
    from strategies.selection import Ranked


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--top-k", type=int, help="symbols to keep (default: top_k in the --selection file)")
    parser.add_argument("--min-trades", type=int,
                        help="fewest trades a candidate needs (default: min_trades in the --selection file)")
    parser.add_argument("--metrics", type=existing_file, help="JSON file with precomputed metrics instead of evaluating data")
    parser.add_argument("--registry", type=named, help="model registry root (default: registry_root in the --spec file)")
    parser.add_argument("--data", nargs="*", type=named, help="bundled data-set names or imported series store:SYMBOL@TF "
                                                  "to evaluate (default: every bundled data set)")
    parser.add_argument("--until", metavar="DATE", type=utc_time,
                        help="rank on the bars that open before DATE (UTC, e.g. 2018-01-20) and on the "
                             "validation trades that end before it: select before the bars a run replays, "
                             "as `engine train ml --until` trains")
    parser.add_argument("--store", default=DEFAULT_STORE, type=named,
                        help=f"store root that `engine data import` wrote, for store: data (default {DEFAULT_STORE})")
    parser.add_argument("--state", metavar="DB",
                        help="apply the set to the run in this state store (a SQLite file or a database URL): "
                             "the running engine takes it within a quarter second, a stopped run at `engine run --resume`, "
                             "and journals the change; refused when no run there would take it (none yet, or "
                             "finished): a fresh `engine run` reads the --out file instead (give both to do both)")
    parser.add_argument("--out", metavar="FILE", type=named,
                        help="JSON file for the active set, which a fresh `engine run` reads (its config's "
                             "ml.active_set_file, else fallback_file in the --selection file: the default "
                             "without --state)")
    parser.add_argument("--reason", default="engine select",
                        help="why, for the audit journal, with --state (default: engine select)")
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
    except CommandError as e:
        print(f"engine select: {e}", file=sys.stderr)
        return e.code
    except OSError as e:  # the --out file, the registry, the data store
        where = f" {e.filename}" if e.filename else ""
        print(f"engine select: cannot use{where}: {e.strerror or e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"engine select: {e}", file=sys.stderr)
        return 1
    except KeyError as e:  # a registered model's files without a key this engine reads
        print(f"engine select: no {e} in what was read (a model registered by an older engine? retrain it "
              "with `engine train ml`)", file=sys.stderr)
        return 1


def _select(args: argparse.Namespace) -> int:
    from engine.commands.ml_specs import ml_spec
    from engine.console import console as make_console
    from strategies import selection as sel
    from strategies.ml.config import SelectionConfig

    console = make_console()
    cfg = ml_spec(args.selection, "selection", SelectionConfig, "--selection")
    top = args.top_k if args.top_k is not None else cfg.top_k
    min_trades = args.min_trades if args.min_trades is not None else cfg.min_trades
    if top < 1 or min_trades < 0:
        raise CommandError("--top-k must be >= 1 and --min-trades >= 0", 2)
    if args.out is not None:
        _check_out(Path(args.out))
    target = _RunTarget(args.state, cfg) if args.state is not None else None
    if target is not None:
        target.check()  # before a long evaluation: a store no run would take the set from is refused now
    rows, read_until = ((_read_metrics(Path(args.metrics)), None) if args.metrics else _evaluate(console, args))
    if not rows:  # an empty set would stop every entry of the run that reads it, for want of data
        raise CommandError("nothing to rank: " + ("the --metrics file lists no row" if args.metrics else
                           "no data set could be evaluated (each was skipped, as said above)") + "; nothing written", 1)
    ranked = sel.rank(rows, cfg, min_trades)
    chosen = sel.top_k(ranked, top)
    active = sel.build_active_set(chosen, cfg, top, min_trades, time.time(), read_until)
    _print_ranking(console, ranked, {(r.symbol, r.tf) for r in chosen})
    listed = f"active symbols ({len(active.symbols)}/{top}): {', '.join(active.symbols) or '(none)'}"
    if target is None or args.out is not None:
        where = sel.write_active_set(active, cfg, fallback=Path(args.out) if args.out else None)
        console.print(f"{listed} -> {where}")
    if target is not None:
        console.print(f"{listed} -> {target.post(active, args.reason)}", soft_wrap=True)  # commands to paste: unbroken
    return 0


def _check_out(out: Path) -> None:
    """Refuse an --out that cannot be a file before anything is evaluated."""
    if out.is_dir():
        raise CommandError(f"--out {out} is a folder: name the JSON file to write the active set to", 2)
    above = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if above is not None:
        raise CommandError(f"--out {out}: {above} is a file, not a folder", 2)


def _state_url(db: str) -> str:
    """--state's store URL, its errors said as --state's (rev34: they named --db, which select lacks)."""
    from state.db import BadStoreUrl, as_store_url

    try:
        return as_store_url(db, "--state")
    except BadStoreUrl as e:
        raise CommandError(str(e), USAGE) from None


class _RunTarget:
    """The run in the state store --state names, which `engine select --state` hands its set to
    through the control channel (as `engine kill` does its mode); refused, with the hint to write
    the file a fresh run reads, when no run there would ever take it."""

    def __init__(self, db: str, cfg: Any) -> None:
        self.ns = argparse.Namespace(db=db, config=None, specs=[DEFAULT_SPECS])
        self.url, self.carried = _state_url(db), Carried.of(self.ns)
        self.cfg = cfg  # the selection spec: the kv key the run keeps its set in, the default file

    def check(self) -> None:
        with self._store() as store:
            self._when_applied(store)

    def post(self, active: Any, reason: str) -> str:
        """Post the set; what happens to it next (who applies it), and the run's set until then."""
        from engine.run.signals import SET_ACTIVE

        with self._store() as store:
            when = self._when_applied(store)
            now = store.get_json(self.cfg.state_key)
            _warn_not_traded(active.symbols, store)
            command_id = post_while_open(store, self.url, self.carried, SET_ACTIVE,
                                         {"active": active.as_dict(), "reason": reason})
        was = "none (every symbol may enter)" if now is None else ", ".join(now.get("symbols") or []) or "(none)"
        return (f"posted #{command_id} ({SET_ACTIVE}) to the run in {shown_db(self.ns.db)}; {when}; its active set until "
                f"then: {was} (the journal records the change: `{self.carried.command('status')}`)")

    @contextmanager
    def _store(self) -> Iterator[Any]:
        try:
            with open_existing_store(self.url, self.carried) as store:
                yield store
        except CommandError as e:
            raise CommandError(f"--state {shown_db(self.ns.db)}: {e}; nothing was posted. For a fresh run, write the set to "
                               "the file it reads: `engine select ... --out FILE` with the run config's "
                               f"ml.active_set_file naming FILE (without that key the run reads "
                               f"{self.cfg.fallback_file}, the default --out)", e.code) from None

    def _when_applied(self, store: Any) -> str:
        finished = store.get_json(FINISHED_KEY)
        if finished is not None:
            settle_finished(store, self.url)
            raise CommandError(f"the run on this store finished (its report is in {finished.get('run_dir', '?')}): "
                               "no run will take the set")
        resume = resume_command(store, self.ns)
        if resume is None and running_engine(self.url) is None:
            raise CommandError("no engine is running on this store and no run has checkpointed there, so no run "
                               "would take the set (a fresh `engine run` archives the store first)")
        return when_applied(self.url, resume, store)


def _warn_not_traded(symbols: list[str], store: Any) -> None:
    """Warn (stderr) of the set's symbols that no series of the store's run trades, as the run will
    when it applies the set: a typo'd or foreign symbol would silently narrow what the run trades.
    Nothing for a run from before runs recorded their symbols (kv SYMBOLS_KEY)."""
    from engine.run.signals import not_traded, not_traded_warning

    traded = store.get_json(SYMBOLS_KEY)
    if not isinstance(traded, list):
        return
    missing = not_traded(symbols, traded)
    if missing:
        print(f"engine select: warning: {not_traded_warning(missing, traded)}", file=sys.stderr)


def _read_metrics(path: Path) -> list[dict]:
    """The --metrics file as rows (strategies.selection.MetricsRow); bad JSON, a wrong shape or a
    bad value is a file:line:col diagnostic."""
    from pydantic import ValidationError

    from engine.diagnostics import Diagnostic, Pos, Severity, SpecError
    from engine.spec.yamlio import parse_yaml
    from strategies.selection import MetricsRow

    def bad(message: str, line: int = 1, col: int = 1) -> SpecError:
        return SpecError([Diagnostic(Pos(str(path), line, col), Severity.ERROR, "METRICS", message,
                                     "a JSON list of {symbol, tf, trades, winrate, profit_factor, sharpe, "
                                     "max_drawdown, ...}, each a finite number")])
    try:
        text = path.read_text(encoding="utf-8")
        rows = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise bad(f"not valid JSON: {e.msg}", e.lineno, e.colno) from None
    except _Constant as e:
        line, col = _where(text, e.args[0])
        raise bad(f"`{e.args[0]}` is not a number (JSON has no infinities or NaN)", line, col) from None
    except (OSError, UnicodeDecodeError) as e:
        raise bad(f"cannot read it: {e.strerror if isinstance(e, OSError) else e}") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise bad("not a list of objects")
    doc = None
    for i, row in enumerate(rows):
        try:
            MetricsRow.model_validate(row)
        except ValidationError as e:
            err = e.errors(include_url=False)[0]
            doc = doc or parse_yaml(text, str(path))[0]  # JSON is YAML: its positions, once needed
            at = doc.pos_of([i, *err["loc"]]) if doc else Pos(str(path), 1, 1)
            what = f"`{'.'.join(map(str, err['loc']))}`" if err["loc"] else "the row"
            raise bad(f"row {i + 1}: {what}: {err['msg'].lower()}", at.line, at.col) from None
    return rows


class _Constant(ValueError):
    """A JSON constant Python's json takes but JSON has not: Infinity, -Infinity, NaN."""


def _no_constant(name: str) -> float:
    raise _Constant(name)


def _where(text: str, token: str) -> tuple[int, int]:
    at = text.find(token)
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


def _evaluate(console: Console, args: argparse.Namespace) -> tuple[list[dict], str | None]:
    """The rows to rank, and the latest bar time any of them read (ISO): what the set has seen."""
    from engine.commands.ml_specs import ml_spec
    from strategies.ml import dataset
    from strategies.ml.config import MLConfig, RegimeConfig

    # Loaded once, before any data: a bad spec is refused at its file:line:col up front.
    cfg = ml_spec(args.spec, "filter", MLConfig, "--spec")
    regime = ml_spec(args.regime, "regime", RegimeConfig, "--regime")
    names = args.data or dataset.bar_datasets()
    rows, seen = [], []
    with console.status("evaluating") as status:
        for name in names:
            status.update(f"evaluating {name}")
            row, note, last = _evaluate_one(name, args.registry, args.store, cfg, regime, args.until)
            console.print(f"{name}: {note}")
            if row is not None:
                rows.append(row)
            if last is not None:
                seen.append(last)
    return rows, max(seen).isoformat() if seen else None


def _evaluate_one(name: str, registry_root: str | None, store_root: str, cfg: MLConfig,
                  regime: RegimeConfig, until: Any = None) -> tuple[dict | None, str, Any]:
    """(metrics row or None, what was ranked, the last bar time the row read)."""
    import pandas as pd

    from strategies import selection as sel
    from strategies.ml import dataset
    from strategies.ml.model import oos_trades, run_walk_forward
    from strategies.ml.registry import ModelRegistry, RegistryError

    try:
        symbol, tf, bars = dataset.load(name, store_root=store_root)
    except KeyError as e:  # no such data set: run() reads a KeyError as a model file's missing key
        raise ValueError(e.args[0]) from None
    registry = ModelRegistry(registry_root or cfg.registry_root)
    try:  # a model a run would refuse is ranked on nothing: it is left out, and the note says why
        version = registry.active_version(symbol, tf)
        if version is not None:
            registry.load(symbol, tf, version)
            t = registry.oos_trades(symbol, tf, version)
    except RegistryError as e:
        return None, f"skipped (its registered model cannot be used: {e})", None
    if version is not None:
        ts, t1, ret = pd.DatetimeIndex(t["ts"]), pd.DatetimeIndex(t["t1"]), list(t["ret"])
        start, end = pd.Timestamp(t["span"][0]), pd.Timestamp(t["span"][1])
        if until is not None:  # a trade is known once it has ended
            kept = t1 < until
            ts, t1, ret, end = ts[kept], t1[kept], [r for r, k in zip(ret, kept, strict=True) if k], min(end, until)
            if not len(ts):
                return None, f"skipped (registered v{version} has no validation trade that ends before --until)", None
        note = f"validation trades of registered v{version}"
    else:
        bars = bars_before(bars, until)
        X, labels = dataset.training_frame(bars, cfg, regime)
        try:
            result = run_walk_forward(X, labels, cfg, symbol)
        except ValueError as e:
            return None, f"skipped ({e})", None
        trades = oos_trades(result.oos)
        ts, ret, t1 = trades.index, trades["ret"].tolist(), pd.DatetimeIndex(trades["t1"])
        start, end = result.oos.index[0], result.oos.index[-1]
        note = f"walk-forward over {len(result.folds)} folds (no registered model)"
    span = (end - start).total_seconds()
    held = zip(ts.as_unit("ns").asi8 / 1e9, t1.as_unit("ns").asi8 / 1e9, strict=True)  # units differ by source
    m = sel.trade_metrics(ret, span, sel.exposure(held, span))
    last = t1.max() if len(t1) else None  # the last outcome the row is ranked on (none without trades)
    return {"symbol": symbol, "tf": tf, **m}, note, last


def _print_ranking(console: Console, ranked: list[Ranked], chosen: set) -> None:
    from rich.table import Table

    from engine.console import add_columns

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

