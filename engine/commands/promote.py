"""`engine promote`: the operator confirmation a gated promotion waits for.

Refused unless the rollout machine's stored state is one the spec tags
`awaiting_operator` (a `confirm_stage_N` state after a passed gate, or `demoted`
waiting for reinstatement). The event comes from the rollout spec's `promote`
command. The engine takes the command on its next bar and must raise the event
only while the rollout is still in `expect_state`: a confirmation given for one
promotion never confirms a later one.

    command: "promote"   (the rollout spec's command name)
    args: {"machine": "rollout", "event": "operator_confirmed",
           "expect_state": "confirm_stage_2", "stage": 2 | None, "reason": "operator"}
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.commands.status import (ROLLOUT_KIND, CommandError, add_db_argument, add_specs_argument,
                                    awaits_operator, load_machine, machine_state, open_existing_store)

COMMAND = "promote"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_argument(parser)
    parser.add_argument("--stage", type=int, metavar="N",
                        help="the stage you mean to promote to; refused when the pending promotion leads elsewhere")
    parser.add_argument("--reason", default="operator", help="why, for the audit journal (default: operator)")
    add_specs_argument(parser)


def run(args: argparse.Namespace) -> int:
    try:
        message = _promote(args)
    except CommandError as e:
        print(f"engine promote: {e}", file=sys.stderr)
        return 1
    print(message)
    return 0


def _promote(args: argparse.Namespace) -> str:
    machine = load_machine(args.specs, ROLLOUT_KIND)
    cmd = machine.commands.get(COMMAND)
    if cmd is None:
        raise CommandError(f"the `{machine.name}` spec has no `{COMMAND}` command under `commands:`")
    with open_existing_store(args.db) as store:
        state, ctx = machine_state(store, machine.name)
        if state is None:
            raise CommandError(f"no `{machine.name}` snapshot in the store yet: the engine has not run a stage")
        targets = _targets(machine, state, cmd.event)
        print(f"stage state: {state} (stage {ctx.get('stage', '?')})")
        if not awaits_operator(machine, state) or not targets:
            raise CommandError(f"nothing awaits confirmation: `{state}` is not waiting for the operator")
        if args.stage is not None and not any(_is_stage(t, args.stage) for t in targets):
            raise CommandError(f"the pending promotion from `{state}` leads to {', '.join(targets)}, "
                               f"not stage {args.stage}")
        command_id = store.post_command(cmd.name, {
            "machine": machine.name, "event": cmd.event, "expect_state": state,
            "stage": args.stage, "reason": args.reason})
    return (f"posted #{command_id}: {cmd.name} -> event `{cmd.event}` of `{machine.name}` "
            f"(pending: {state} -> {' | '.join(targets)}); the running engine acts on it at its next bar")


def _targets(machine: Any, state: str, event: str) -> list[str]:
    """States the event can lead to from `state`, in document order (guards decide which)."""
    out = [t.target for t in machine.transitions
           if t.event == event and t.target and (state in t.sources or "*" in t.sources)]
    return list(dict.fromkeys(out))


def _is_stage(state: str, n: int) -> bool:
    return state == f"stage_{n}" or state.startswith(f"stage_{n}_")
