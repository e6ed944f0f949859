"""`engine data`: import bars into the parquet store, list it, check a file.

pandas is imported only when a subcommand runs, never by `engine --help`. Problems are
printed in the project's diagnostic format (`file:line:col: error CODE what` + hint);
a bad --tf or --symbol is an argument error, like any other argparse one.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.commands.paths import existing_file, named
from engine.data import DEFAULT_STORE

if TYPE_CHECKING:
    import pandas as pd

    from engine.diagnostics import Diagnostic

CATALOGUE = "adapters/paper/contracts.yaml"
GAP = "DATA_GAP"  # the one warning a file can have thousands of (markets close)


def _timeframe(text: str) -> str:
    from engine.data.timeframes import TimeframeError, canonical_tf

    try:
        return canonical_tf(text)
    except TimeframeError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _symbol(text: str) -> str:
    from engine.data.store import check_symbol

    try:
        return check_symbol(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _zone(text: str) -> str:
    from engine.data.loader import parse_zone

    try:
        return str(parse_zone(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


TZ_HELP = ("the zone of the file's naive times, read in it (daylight saving included) and stored as UTC: an IANA "
           "name such as Europe/Athens (a MetaTrader server at UTC+2/+3) or America/New_York, or a fixed offset "
           "such as UTC+02:00; default: naive times are UTC. Refused for a file whose times carry an offset, or "
           "are epoch numbers")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="validate FILE and merge it into the store (replacing bars at the same times)")
    imp.add_argument("file", type=existing_file, help="CSV (.csv, .csv.gz), feather or parquet bars")
    imp.add_argument("--symbol", required=True, type=_symbol, help="engine symbol, e.g. ETH/BTC")
    imp.add_argument("--tf", required=True, type=_timeframe,
                     help="bar timeframe, e.g. 1m, 5m, 1h; must match the file's bar spacing")
    imp.add_argument("--ask", metavar="ASK_FILE", type=existing_file, help="FILE holds bid bars and ASK_FILE the ask bars")
    imp.add_argument("--label", choices=("open", "close"), default="open",
                     help="which end of each bar the file's timestamps mark (default open); close-stamped bars "
                          "are stored one timeframe earlier, as the engine indexes bars by their open")
    imp.add_argument("--tz", metavar="ZONE", type=_zone, help=TZ_HELP)
    imp.add_argument("--store", default=DEFAULT_STORE, type=named, help=f"store root (default {DEFAULT_STORE})")
    ls = sub.add_parser("list", help="list stored series (or --bundled datasets)")
    ls.add_argument("--store", default=DEFAULT_STORE, type=named, help=f"store root (default {DEFAULT_STORE})")
    ls.add_argument("--bundled", action="store_true", help="list the bundled real datasets instead")
    chk = sub.add_parser("check", help="validate FILE without importing it; print gap warnings")
    chk.add_argument("file", type=existing_file)
    chk.add_argument("--tf", type=_timeframe, help="bar timeframe (inferred when omitted)")
    chk.add_argument("--ask", metavar="ASK_FILE", type=existing_file)
    chk.add_argument("--tz", metavar="ZONE", type=_zone, help=TZ_HELP)


def run(args: argparse.Namespace) -> int:
    from engine.diagnostics import SpecError, render

    try:
        return {"import": _import, "list": _list, "check": _check}[args.action](args)
    except SpecError as e:
        print(render(e.diagnostics), file=sys.stderr)
        return 1


def _load(args: argparse.Namespace, symbol: str | None) -> pd.DataFrame:
    from engine.data import loader

    if args.ask:
        return loader.load_bid_ask(args.file, args.ask, symbol, args.tf, tz=args.tz)
    return loader.load_bars(args.file, symbol, args.tf, tz=args.tz)


def _print_warnings(warnings: list) -> None:
    """Every warning, but at most 5 gap warnings: a file's many gaps must not hide the one that
    says its quotes are crossed or its bars replaced stored ones."""
    gaps = [w for w in warnings if w.code == GAP]
    for w in [w for w in warnings if w.code != GAP] + gaps[:5]:
        print(w.text(), file=sys.stderr)
    if len(gaps) > 5:
        print(f"... and {len(gaps) - 5} more gap warning(s)", file=sys.stderr)


def _import(args: argparse.Namespace) -> int:
    from engine.data.bundled import to_open
    from engine.data.store import ParquetStore

    store = ParquetStore(args.store)
    _print_warnings(_symbol_warnings(args.symbol, store))
    _print_warnings(_leftovers(store, args.symbol, args.tf))
    df = to_open(_load(args, args.symbol), args.tf, args.label)
    _print_warnings(df.attrs.get("warnings", []))
    source = df.attrs["source"]
    result = store.write(df, args.symbol, args.tf, args.label, _command(args))
    if result.differed:
        _print_warnings([_differed(result, df, source, store.folder(args.symbol, args.tf))])
    print(f"{args.symbol} {args.tf}: {result.rows} rows imported, {result.replaced} stored bars replaced "
          f"({result.differed} with other values), {result.days_written} days written -> {args.store}")
    return 0


def _command(args: argparse.Namespace) -> str:
    """This import as a command to run again (the file and the store by their full paths: it may run
    from elsewhere)."""
    import shlex

    words = ["engine", "data", "import", str(Path(args.file).resolve())]
    words += ["--ask", str(Path(args.ask).resolve())] if args.ask else []
    words += ["--symbol", args.symbol, "--tf", args.tf, "--label", args.label]
    words += ["--tz", args.tz] if args.tz else []
    return shlex.join([*words, "--store", str(Path(args.store).resolve())])


def _symbol_warnings(symbol: str, store: Any) -> list:
    """A symbol the paper venue does not know, or one that differs from a stored one only in case."""
    from adapters.paper.catalogue import Catalogue
    from engine.diagnostics import Diagnostic, Pos, Severity

    out = []
    if symbol not in Catalogue.load():
        out.append(Diagnostic(Pos(CATALOGUE, 1, 1), Severity.WARNING, "DATA_SYMBOL",
                              f"symbol {symbol!r} is not in the contract catalogue: the paper venue cannot trade it",
                              f"add its contract (domain, kind, tick, step, min_notional) to {CATALOGUE} before "
                              "naming it in a run config"))
    twins = sorted(s for s in store.symbols() if s != symbol and s.lower() == symbol.lower())
    if twins:
        out.append(Diagnostic(Pos(str(store.root), 1, 1), Severity.WARNING, "DATA_SYMBOL",
                              f"symbol {symbol!r} differs only in case from stored {', '.join(map(repr, twins))}",
                              "symbols are case-sensitive: this makes a separate series"))
    return out


def _leftovers(store: Any, symbol: str, tf: str) -> list:
    """A note on what an import of the series killed outright left behind (removed now): that
    import may be half in, and only its user can finish it. Its unfinished marker stays until that
    import is run again and completes (an import of another file does not complete it)."""
    from engine.diagnostics import Diagnostic, Pos, Severity

    removed = store.clear_leftovers(symbol, tf)
    killed = [u for u in store.unfinished(symbol, tf) if not u.running]
    out = [Diagnostic(Pos(str(u.path), 1, 1), Severity.WARNING, "DATA_UNFINISHED",
                      f"an import of this series was killed while swapping its days in: {u.command}",
                      "the series may hold some of its days and not others, and runs refuse it until that "
                      "command is run again and completes: an import of another file does not complete it")
           for u in killed]
    if not removed:
        return out
    names = ", ".join(str(p.relative_to(store.root)) for p in removed[:3]) + (", ..." if len(removed) > 3 else "")
    return [Diagnostic(Pos(str(store.folder(symbol, tf)), 1, 1), Severity.WARNING, "DATA_LEFTOVER",
                       f"removed {len(removed)} file(s) left by an import of this series that was killed before "
                       f"it finished ({names})",
                       "that import may have stored some of its days and not others (each day is whole, old or "
                       "new): import its file again to complete it"), *out]


def _differed(result: Any, df: pd.DataFrame, source: str, folder: Path) -> Diagnostic:
    from engine.data.loader import bar_line
    from engine.diagnostics import Diagnostic, Pos, Severity

    line = bar_line(Path(source), int(df.index.get_loc(result.first_differed)))
    return Diagnostic(Pos(source, line, 1), Severity.WARNING, "DATA_REPLACED",
                      f"{result.differed} stored bar(s) had other values and were replaced by this file's, "
                      f"the first at {result.first_differed}",
                      "overlapping imports keep the newest file's bars: re-importing the old file brings back "
                      f"the bars it holds, not the store as it was; to start over remove {folder} and import "
                      "the files again")


def _check(args: argparse.Namespace) -> int:
    df = _load(args, None)
    _print_warnings(df.attrs.get("warnings", []))
    tf = df.attrs.get("tf") or "of unknown timeframe (one bar: pass --tf)"
    bars = f"{len(df)} bar{'s' if len(df) != 1 else ''} {tf}"
    print(f"{args.file}: ok, {bars} from {df.index[0]} to {df.index[-1]}")
    return 0


def _list(args: argparse.Namespace) -> int:
    if args.bundled:
        from engine.data.bundled import DATASETS

        for d in DATASETS.values():
            print(f"{d.name:30} {d.symbol:10} {d.domain.value:12} {d.tf:4} {d.loader}")
        return 0
    from engine.data.store import ParquetStore

    series = ParquetStore(args.store).list()
    if not series:
        print(f"no data under {args.store} (engine data import FILE --symbol S --tf T)")
    for s in series:
        print(f"{s.symbol:12} {s.tf:4} {s.rows:8} rows {s.days:4} days {s.first} .. {s.last}   " + _state(s))
    return 0


def _state(s: Any) -> str:
    """How a run names the series, or why a run refuses it."""
    if s.unfinished is None:
        return f"(run config: store:{s.symbol}@{s.tf})"
    if s.unfinished.running:
        return "INCOMPLETE: an import is swapping its days in right now"
    return ("INCOMPLETE: an import was killed before it finished; runs refuse it until you re-run: "
            + s.unfinished.command)
