"""`engine tune`: choose strategy parameters by block cross-validation (seed 003 strat_cv).

    engine tune [--entry ID ...] [--data NAME ...] [--config FILE] [--specs DIR ...] [--write]

The strategy is the one `engine run` would trade with the same --config and --specs (the run
config's `strategy.spec`, or its `strategy.file`). Each entry with a `tune:` grid has every
candidate scored as the file's `tuning:` section says (method, splits, block size, seed,
scorer), on the bars a run fits its strategies on: the first `strategy.fit_fraction` of each
of the config's data sets, at its domain's primary timeframe. The bars a run trades are never
scored, so a tuned run is still judged out of sample. One winner per entry: the parameters
are shared by every symbol they trade, so a candidate's score is the mean of its mean score
per data set, and it must be scored on every set that any candidate could be scored on.

Nothing changes unless --write is given: then each winner is written into the entry's
`params` in the strategy file, as the candidate is written in `tune:`, the rest of the file
untouched. A run saved before the change refuses to resume under it (the strategy changed).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.commands.paths import named
from engine.commands.status import REFUSED, USAGE, CommandError, add_specs_argument

if TYPE_CHECKING:
    import pandas as pd

    from strategies.config import StrategyEntry, StrategyFile


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entry", nargs="+", metavar="ID",
                        help="strategy entries to tune (default: every entry with a `tune:` grid)")
    parser.add_argument("--data", nargs="+", metavar="NAME",
                        help="data sets of the run config to score on (default: all of them)")
    parser.add_argument("--config", type=named, help="run config YAML merged over the embedded defaults, "
                                                     "as `engine run --config` takes it")
    add_specs_argument(parser)
    parser.add_argument("--write", action="store_true",
                        help="write each entry's winning candidates into its `params` in the strategy file")


def run(args: argparse.Namespace) -> int:
    from engine.threads import pin_threads

    pin_threads()
    try:
        return _tune(args)
    except CommandError as e:
        print(f"engine tune: {e}", file=sys.stderr)
        return e.code
    except OSError as e:  # the strategy file, or its folder for --write: nothing was written
        where = f" {e.filename}" if e.filename else ""
        print(f"engine tune: cannot use{where}: {e.strerror or e}", file=sys.stderr)
        return REFUSED


@dataclass(frozen=True)
class Outcome:
    entry: "StrategyEntry"
    index: int  # the entry's place in the file's `strategies:` list
    best: dict[str, Any]
    table: "pd.DataFrame"  # a row per candidate, in grid order
    scorer: str

    @property
    def points(self) -> list[dict[str, Any]]:
        from strategies.cv import parameter_grid

        return parameter_grid(self.entry.grid)

    @property
    def changes(self) -> dict[str, tuple[Any, Any]]:
        """parameter -> (value now, winner), for the parameters the winner changes."""
        now = self.entry.params.model_dump()
        return {k: (now[k], v) for k, v in self.best.items() if now[k] != v}


def _tune(args: argparse.Namespace) -> int:
    from engine.console import console as make_console
    from strategies import cv

    cfg, strategy_file = _inputs(args)
    read = strategy_file.read_bytes()  # what the winners are decided on: --write refuses a file edited since
    doc = _strategy_doc(strategy_file)
    entries = _entries(doc, args.entry, strategy_file)
    assert doc.tuning is not None  # the spec refuses grids without it
    splitter = cv.from_spec(doc.tuning)
    console = make_console()
    frames = _frames(cfg, args.data, splitter, console)
    outcomes = [_choose(entry, index, frames, splitter, doc.tuning.scorer, console) for index, entry in entries]
    for outcome in outcomes:
        _show(outcome, console)
    return _write(strategy_file, read, outcomes, console) if args.write else _hint(outcomes, console)


def _inputs(args: argparse.Namespace) -> tuple[Any, Path]:
    """The run config with the spec set's strategy bound, as `engine run` binds it, and the
    strategy file it names."""
    from engine.commands.status import missing_specs
    from engine.run.config import load_config, with_specs
    from engine.run.session import check_specset

    if args.config is not None and not Path(args.config).is_file():
        raise CommandError(f"--config {args.config}: no such file; pass a YAML run config file "
                           "(keys as engine/run/defaults.yaml)", USAGE)
    problem = missing_specs(args.specs)
    if problem:
        raise CommandError(problem, USAGE)
    try:
        cfg = load_config(args.config)
    except OSError as e:
        raise CommandError(f"--config {args.config}: cannot read it ({e})", USAGE) from None
    specs, _ = check_specset(args.specs)  # `engine validate` reports the warnings
    cfg = with_specs(cfg, args.config, specs)
    return cfg, Path(cfg.strategy.file)


def _strategy_doc(path: Path) -> "StrategyFile":
    from strategies.config import load_strategy_file

    return load_strategy_file(path)


def _entries(doc: "StrategyFile", named_ids: list[str] | None,
             path: Path) -> list[tuple[int, "StrategyEntry"]]:
    tuned = [(i, e) for i, e in enumerate(doc.strategies) if e.grid]
    if not named_ids:
        if not tuned:
            raise CommandError(f"no entry of {path} has a `tune:` grid: add one to an entry, e.g. "
                               "`tune: {slow_ema_multiplier: [2, 3, 4, 6]}`, with a `tuning:` section "
                               "(specs/strategies/seed003.yaml has both)")
        return tuned
    ids = [e.id for e in doc.strategies]
    unknown = [n for n in named_ids if n not in ids]
    if unknown:
        raise CommandError(f"--entry {', '.join(unknown)}: no such entry in {path}; its entries: "
                           f"{', '.join(ids)}", USAGE)
    bare = [n for n in named_ids if not doc.strategies[ids.index(n)].grid]
    if bare:
        raise CommandError(f"--entry {', '.join(bare)}: no `tune:` grid in {path} to choose from; "
                           f"entries with one: {', '.join(e.id for _, e in tuned) or 'none'}")
    return [(i, e) for i, e in tuned if e.id in named_ids]


def _frames(cfg: Any, names: list[str] | None, splitter: Any, console: Any) -> dict[str, "pd.DataFrame"]:
    """The in-sample bars of each data set, by its name; sets too short for the splits are said
    and left out."""
    from engine.run.market import fit_rows, run_bars
    from strategies import cv

    domains = {ds: dd for dd in cfg.data.values() for ds in dd.datasets}
    if not domains:
        raise CommandError("the run config names no data sets to score on (data.<domain>.datasets)")
    unknown = [n for n in names or [] if n not in domains]
    if unknown:
        raise CommandError(f"--data {', '.join(unknown)}: not a data set of the run config; its data sets: "
                           f"{', '.join(domains) or 'none'}", USAGE)
    frames = {}
    for name in names or domains:
        try:
            bars = run_bars(name, domains[name])
        except FileNotFoundError as e:  # an imported series gone from its store
            raise CommandError(str(e), USAGE) from None
        fitted = bars.iloc[:fit_rows(len(bars), cfg.strategy.fit_fraction)]
        short = cv.too_short(len(fitted), splitter)
        if short:
            _say(console, f"{name}: left out: {len(fitted)} in-sample {domains[name].primary} bars, {short}")
            continue
        frames[name] = fitted
    if not frames:
        fewer = "tuning.block_size" + (" or tuning.splits" if isinstance(splitter, cv.BlockPermutation)
                                       and splitter.n_splits > 2 else "")
        raise CommandError(f"no data set has enough in-sample bars for its splits: lower the strategy spec's "
                           f"{fewer}, or give the run config longer data sets")
    return frames


def _choose(entry: "StrategyEntry", index: int, frames: dict[str, "pd.DataFrame"], splitter: Any,
            scorer: str, console: Any) -> Outcome:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from strategies import cv
    from strategies.registry import strategy_class

    grid = entry.grid
    with Progress(TextColumn(entry.id), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("candidates", total=len(cv.parameter_grid(grid)))
        try:
            best, table = cv.choose_params(strategy_class(entry.class_), grid, frames, splitter, scorer,
                                           entry.params.model_dump(), lambda: progress.advance(task))
        except ValueError as e:  # no candidate scored: nothing to choose
            raise CommandError(f"{entry.id}: {e} on {', '.join(frames)}: their in-sample bars are too few "
                               "for its windows") from None
    return Outcome(entry, index, best, table, scorer)


def _show(outcome: Outcome, console: Any) -> None:
    from rich.table import Table

    from engine.console import add_columns

    table, keys = outcome.table, list(outcome.best)
    now = outcome.entry.params.model_dump()
    stats = list(table.columns[len(keys):])
    view = Table(title=f"{outcome.entry.id} ({outcome.entry.class_}): mean {outcome.scorer} score per candidate")
    add_columns(view, [*keys, *[_column(c) for c in stats], ""])
    for point, row in zip(outcome.points, table[stats].to_dict("records"), strict=True):
        best = point == outcome.best
        mark = ("best" if best else "") + (" (now)" if all(point[k] == now[k] for k in keys) else "")
        view.add_row(*[_value(point[k]) for k in keys], *[_fmt(v) for v in row.values()], mark.strip(),
                     style="bold" if best else None)
    console.print(view)
    unscored = [c.removeprefix("mean ") for c in stats if c.startswith("mean ") and table[c].isna().all()]
    for name in unscored:
        _say(console, f"{name}: no candidate could be scored on its in-sample bars (too few for the windows): "
                      "it binds no candidate")
    _say(console, "n: splits scored; sets: data sets scored on (a candidate must score on every set that any "
                  "candidate scored on to win)")


def _column(stat: str) -> str:
    """A data set's column: a bundled set without its domain folder, an imported one whole."""
    name = stat.removeprefix("mean ")
    return name.split("/", 1)[-1] if stat != name and ":" not in name else name


def _say(console: Any, text: str) -> None:
    """A line as given: paths and values are no rich markup, and a long line is not re-wrapped."""
    console.print(text, soft_wrap=True, markup=False, highlight=False)


def _fmt(v: Any) -> str:
    if isinstance(v, float) and v != v:
        return "-"  # NaN: no finite score
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def _value(v: Any) -> str:
    """A parameter as the spec writes it: 4, not 4.0; true, not True; null, not None."""
    if isinstance(v, bool) or v is None:
        return {True: "true", False: "false", None: "null"}[v]
    return f"{v:g}" if isinstance(v, float) else str(v)


def _hint(outcomes: list[Outcome], console: Any) -> int:
    changed = [o for o in outcomes if o.changes]
    for o in outcomes:
        _say(console, f"{o.entry.id}: " + (", ".join(f"{k} {_value(a)} -> {_value(b)}"
                                                     for k, (a, b) in o.changes.items())
                                           or "the spec's params already win"))
    if changed:
        _say(console, "nothing written: pass --write to set the winners in the strategy spec")
    return 0


def _write(path: Path, read: bytes, outcomes: list[Outcome], console: Any) -> int:
    from engine.diagnostics import SpecError
    from engine.spec.rewrite import ChangedMeanwhile, NotInPlace, copy_values

    moves = [(("strategies", o.index, "params", key), ("strategies", o.index, "tune", key, o.entry.grid[key].index(v)))
             for o in outcomes for key, (_, v) in o.changes.items()]
    if not moves:
        _say(console, f"{path}: unchanged, the spec's params already win")
        return 0
    try:  # the candidates were checked in `tune:`; the new file is checked whole before it replaces the old
        copy_values(path, read, moves, check=_strategy_doc)
    except (ChangedMeanwhile, NotInPlace) as e:
        raise CommandError(f"{path}: nothing written: {e}", REFUSED) from None
    except SpecError as e:
        first = e.diagnostics[0]
        raise CommandError(f"{path}: nothing written: the rewritten file would not validate (line "
                           f"{first.pos.line}: {first.message}); set the values by hand", REFUSED) from None
    for o in outcomes:
        for key, (was, now) in o.changes.items():
            _say(console, f"{path}: {o.entry.id}.params.{key} {_value(was)} -> {_value(now)}")
    _say(console, "review it (git diff) and run `engine validate`: a run saved before this refuses to resume "
                  "under the changed strategy")
    return 0
