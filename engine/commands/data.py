"""`engine data`: import bars into the parquet store, list it, check a file.

pandas is imported only when a subcommand runs, never by `engine --help`.
"""
from __future__ import annotations

import argparse
import sys

DEFAULT_STORE = "var/store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="validate FILE and merge it into the store (de-duplicated by time)")
    imp.add_argument("file", help="CSV (.csv, .csv.gz), feather or parquet bars")
    imp.add_argument("--symbol", required=True, help="engine symbol, e.g. ETH/BTC")
    imp.add_argument("--tf", required=True, help="bar timeframe, e.g. 1m, 5m, 1h")
    imp.add_argument("--ask", metavar="ASK_FILE", help="FILE holds bid bars and ASK_FILE the ask bars")
    imp.add_argument("--store", default=DEFAULT_STORE, help=f"store root (default {DEFAULT_STORE})")
    ls = sub.add_parser("list", help="list stored series (or --bundled datasets)")
    ls.add_argument("--store", default=DEFAULT_STORE, help=f"store root (default {DEFAULT_STORE})")
    ls.add_argument("--bundled", action="store_true", help="list the bundled real datasets instead")
    chk = sub.add_parser("check", help="validate FILE without importing it; print gap warnings")
    chk.add_argument("file")
    chk.add_argument("--tf", help="bar timeframe (inferred when omitted)")
    chk.add_argument("--ask", metavar="ASK_FILE")


def run(args: argparse.Namespace) -> int:
    from engine.data.errors import DataError

    try:
        return {"import": _import, "list": _list, "check": _check}[args.action](args)
    except DataError as e:
        print(str(e), file=sys.stderr)
        return 1


def _load(args: argparse.Namespace, symbol: str | None):
    from engine.data import loader

    if args.ask:
        return loader.load_bid_ask(args.file, args.ask, symbol, args.tf)
    return loader.load_bars(args.file, symbol, args.tf)


def _print_warnings(df) -> None:
    warnings = df.attrs.get("warnings", [])
    for w in warnings[:5]:
        print(f"{w.pos.file}:{w.pos.line}: warning: {w.message}", file=sys.stderr)
    if len(warnings) > 5:
        print(f"... and {len(warnings) - 5} more warning(s)", file=sys.stderr)


def _import(args: argparse.Namespace) -> int:
    from engine.data.store import ParquetStore

    df = _load(args, args.symbol)
    _print_warnings(df)
    result = ParquetStore(args.store).write(df, args.symbol, args.tf)
    print(f"{args.symbol} {args.tf}: {result.rows} rows imported, {result.duplicates} duplicates dropped, "
          f"{result.days_written} days written -> {args.store}")
    return 0


def _check(args: argparse.Namespace) -> int:
    df = _load(args, None)
    _print_warnings(df)
    print(f"{args.file}: ok, {len(df)} bars {df.attrs.get('tf')} from {df.index[0]} to {df.index[-1]}")
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
        print(f"{s.symbol:12} {s.tf:4} {s.rows:8} rows {s.days:4} days {s.first} .. {s.last}")
    return 0
