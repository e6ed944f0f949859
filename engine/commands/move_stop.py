"""`engine move-stop --symbol S --stop PRICE [--domain D]`: move the stop of the positions open on S.

Posted to the state store's control channel like `engine kill`, naming the brackets open on the
symbol at the engine's last checkpoint (`engine status` lists them with their stops), and that
checkpoint's replay time (`since`): a running engine also takes each bracket it opened on the
symbol after it, which no checkpoint has shown yet. The running engine, or the next
`engine run --stage N --resume`, sends each of them still open the bracket spec's `move_stop`
with the stop given and the price the stop triggers on, between two rows, and the spec
decides: specs/orders/bracket.yaml tightens the stop and amends the venue's stop leg, and refuses,
recorded, a wider one (`stop may not widen`) and one at or beyond the market, which the venue would
trigger at once; a stop amend the venue refuses leaves the stop where the venue holds it. The
engine journals the outcome (kind `command`: `moved`, or `not applied` and why) with the
operator's reason, which the audit record of each bracket's transition carries. A dry run of the
bracket spec on each saved bracket, with the last close the checkpoint holds, warns up front of a
stop it would refuse; a warning, not a refusal, as with `engine kill`: the saved state may be
older than the engine's.

    command: "move_stop"
    args: {"machine": "bracket", "event": "move_stop", "symbol": "BTC-PERP", "domain": "crypto_perp" | None,
           "brackets": ["<bracket id>", ...], "since": 1700000000.0 | None, "stop": 41000.0, "reason": "operator"}
"""
from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from engine.commands.status import (BRACKET_MACHINE, USAGE, CommandError, add_db_argument, add_specs_argument,
                                    command_store_url, load_spec_set, open_brackets, open_existing_store,
                                    post_while_open, refuse_finished, refuse_untaken, resume_command, running_engine,
                                    shown_specs, use_run_specs, when_applied)
from engine.domain import Domain
from engine.run.keys import CHECKPOINT_KEY
from engine.spec.contract import MOVE_STOP
from engine.suggest import Carried


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", required=True, help="the symbol whose open positions' stop moves (as in "
                                                        "`engine status`)")
    parser.add_argument("--stop", required=True, type=_price, metavar="PRICE",
                        help="the new stop price; the bracket spec takes a tighter one and refuses a wider one")
    parser.add_argument("--domain", choices=[d.value for d in Domain],
                        help="only the positions of this domain (default: every domain trading the symbol)")
    parser.add_argument("--reason", default="operator", help="why, for the audit journal (default: operator)")
    add_db_argument(parser)
    add_specs_argument(parser)


def _price(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a price: give a finite number above 0")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        use_run_specs(args)
        lines, warnings = _move(args)
    except CommandError as e:
        print(f"engine move-stop: {e}", file=sys.stderr)
        return e.code
    print("\n".join(lines))
    for w in warnings:
        print(f"engine move-stop: warning: {w}", file=sys.stderr)
    return 0


def _move(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    _check_symbol(args.symbol, args.domain)
    spec_set = load_spec_set(args.specs)
    machine = spec_set.machines.get(BRACKET_MACHINE)
    if machine is None or MOVE_STOP not in machine.events:
        shown = shown_specs(args.specs)
        raise CommandError(f"the spec set under {shown} has no `{BRACKET_MACHINE}` machine taking "
                           f"`{MOVE_STOP}`; run `engine validate {shown}`")
    url, carried = command_store_url(args), Carried.of(args)
    with open_existing_store(url, carried) as store:
        refuse_finished(store, url, carried)
        named = [b for b in open_brackets(store)
                 if b["symbol"] == args.symbol and args.domain in (None, b["domain"])]
        running = running_engine(url) is not None
        if not named and not running:
            where = f" in {args.domain}" if args.domain else ""
            raise CommandError(f"nothing is open on {args.symbol}{where} at the engine's last checkpoint: nothing "
                               f"was posted (`{carried.command('status')}` lists the open positions and their stops)")
        prices = _last_closes(store)
        resume = resume_command(store, args)
        refuse_untaken(url, resume, carried)
        since = (store.get_json(CHECKPOINT_KEY) or {}).get("clock") if running else None
        command_id = post_while_open(store, url, carried, MOVE_STOP, {
            "machine": machine.name, "event": MOVE_STOP, "symbol": args.symbol, "domain": args.domain,
            "brackets": [b["bracket"] for b in named], "since": since, "stop": args.stop, "reason": args.reason})
        when = when_applied(url, resume, store)
    newer = " and each one the engine opened on it since its last checkpoint" if running else ""
    lines = [f"posted #{command_id}: {MOVE_STOP} {args.symbol} to {args.stop:g} for {len(named)} bracket(s){newer}; "
             f"{when} (the journal says what it did: `{carried.command('status')}` shows the "
             "stops)"]
    lines += [f"  {b['bracket']} ({b['domain']}, {b['side']}, `{b['state']}`): stop {_num(b['stop'])} -> "
              f"{args.stop:g}" for b in named]
    warnings = [w for b in named if (w := _refused(spec_set, machine, b, args.stop,
                                                   prices.get((b["domain"], b["symbol"]))))]
    if any((b["domain"], b["symbol"]) not in prices for b in named):
        warnings.append(f"the engine's last checkpoint holds no price of {args.symbol}: whether the stop is at "
                        "or beyond the market is checked when the engine applies it")
    return lines, warnings


def _last_closes(store: Any) -> dict[tuple[str, str], float]:
    """(domain, symbol) -> the last close the engine had at its last checkpoint (its books' marks):
    the market the engine sends with `move_stop`, which the spec checks the stop against."""
    books = (store.get_json(CHECKPOINT_KEY) or {}).get("books") or []
    return {(b["domain"], sym): float(px) for b in books for sym, px in (b.get("marks") or {}).items()}


def _check_symbol(symbol: str, domain: str | None) -> None:
    """CommandError (usage) for a symbol the contract catalogue does not know, or one of another domain."""
    from adapters.paper.catalogue import Catalogue, UnknownSymbol

    try:
        instrument = Catalogue.load().get(symbol)
    except UnknownSymbol as e:
        raise CommandError(str(e), USAGE) from None
    if domain is not None and instrument.domain.value != domain:
        raise CommandError(f"{symbol} trades in {instrument.domain.value}, not {domain}: drop --domain or "
                           f"give --domain {instrument.domain.value}", USAGE)


def _refused(spec_set: Any, machine: Any, bracket: dict[str, Any], stop: float, price: float | None) -> str:
    """Why the bracket spec would leave this bracket's stop as it was saved, or "": no `move_stop`
    transition from its saved state, else the reasons a dry run's rejecting actions give. `price`:
    the symbol's last close at the checkpoint; without one the event lacks it, and a guard reading
    it is false in the dry run (as in the engine: a guard that raises is false), so only the
    spec's other rules are checked here."""
    from engine.commands.promote import dry_run
    from engine.commands.status import transitions_from

    data, state = bracket["snapshot"], bracket["state"]
    if not data or state not in machine.states:
        return ""
    if transitions_from(machine, state, MOVE_STOP):
        payload = {"stop": stop} if price is None else {"stop": stop, "price": price}
        why = "; ".join(dry_run(spec_set, machine, data, MOVE_STOP, payload)[1])
    else:
        why = f"it has no `{MOVE_STOP}` transition from `{state}`"
    if not why:
        return ""
    market = "" if price is None else f", last price {price:g}"
    return (f"{bracket['bracket']}: from its saved state (`{state}`, stop {_num(bracket['stop'])}{market}) the "
            f"`{machine.name}` spec refuses this: {why}; the engine journals what it does (unless the bracket "
            "changed since, it is not applied)")


def _num(x: Any) -> str:
    return "?" if x is None else f"{x:g}"
