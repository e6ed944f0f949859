"""`engine degrade --domain D`: send a domain's model back to paper trading.

The command is the gate spec's `degrade` (specs/gates/model_promotion.yaml, or the gate
machine a rollout state names), posted for that domain's gate instance only (`gate:D`);
the running engine, or the next `engine run --stage N --resume`, raises its event there.
Like `engine kill`, a saved state the spec cannot degrade from is a warning, not a
refusal: the saved state may be older than the engine's, and refusing would keep risk open.

    command: "degrade"
    args: {"machine": "model_promotion", "instance": "gate:crypto_spot",
           "event": "degrade_to_paper", "reason": "operator"}
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.commands.status import (CommandError, add_db_argument, add_specs_argument, command_store_url,
                                    load_spec_set, open_existing_store, post_while_open, refuse_finished, refuse_untaken,
                                    resume_command, state_timers, transitions_from, use_run_specs, when_applied)
from engine.domain import Domain
from engine.spec.contract import GATE_DEGRADE
from engine.suggest import Carried



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--domain", required=True, choices=[d.value for d in Domain],
                        help="the domain whose model goes back to paper")
    parser.add_argument("--reason", default="operator", help="why, for the audit journal (default: operator)")
    add_db_argument(parser)
    add_specs_argument(parser)


def run(args: argparse.Namespace) -> int:
    try:
        use_run_specs(args)
        message, warning = _degrade(args)
    except CommandError as e:
        print(f"engine degrade: {e}", file=sys.stderr)
        return e.code
    print(message)
    if warning:
        print(f"engine degrade: warning: {warning}", file=sys.stderr)
    return 0


def _degrade(args: argparse.Namespace) -> tuple[str, str]:
    url = command_store_url(args)
    name, machine, state, command_id, when = post_gate_command(args, url, GATE_DEGRADE, refuse=False)
    cmd = machine.commands[GATE_DEGRADE]
    return (f"posted #{command_id}: {cmd.name} -> event `{cmd.event}` of `gate:{args.domain}` ({name}, saved state "
            f"`{state}`); {when}", _inapplicable(machine, state, cmd.event))


def post_gate_command(args: argparse.Namespace, url: str, command: str, *,
                      refuse: bool) -> tuple[str, Any, str | None, int, str]:
    """Post the gate spec's `command` for `args.domain`'s gate instance (`gate:D`) alone; returns
    the gate machine's name and spec, its saved state, the command's id and what takes it
    (when_applied). `refuse`: refused, not posted, when the saved state has no transition on the
    command's event (a confirmation opens risk, so it must not wait for a state it cannot move)."""
    from engine.run.session import hosted_machines

    spec_set = load_spec_set(args.specs)
    instance, carried = f"gate:{args.domain}", Carried.of(args)
    with open_existing_store(url, carried) as store:
        refuse_finished(store, url, carried)
        saved = [(name, snap) for name in hosted_machines(spec_set) if name in spec_set.machines
                 for iid, snap in store.load_snapshots(name).items() if iid == instance]
        if not saved:
            raise CommandError(f"no gate of {args.domain} in the store: the run's stage does not trade it, or no "
                               f"run has checkpointed its gate yet (`{carried.command('status')}`)")
        name, snap = max(saved, key=lambda s: s[1].updated_ts)
        machine = spec_set.machines[name]
        cmd = machine.commands.get(command)
        if cmd is None:
            raise CommandError(f"the `{name}` spec has no `{command}` command under `commands:`")
        state = snap.data.get("state")
        if refuse and _inapplicable(machine, state, cmd.event):
            raise CommandError(f"{instance} is in `{state}`: the `{name}` spec has no `{cmd.event}` transition "
                               f"there (`{command}` answers a gate that awaits the operator; "
                               f"`{carried.command('status')}` shows each gate)")
        resume = resume_command(store, args)
        refuse_untaken(url, resume, carried)
        posted = {"machine": name, "instance": instance, "event": cmd.event, "reason": args.reason}
        if refuse:  # applied only in the state the operator answered, never in a later one
            posted = {**posted, "expect_state": state, "expect_timers": state_timers(snap.data)}
        command_id = post_while_open(store, url, carried, cmd.name, posted)
        return name, machine, state, command_id, when_applied(url, resume, store)


def _inapplicable(machine: Any, state: str | None, event: str) -> str:
    """Why the gate spec has no `event` transition from the saved state, or ""."""
    if state is None or state not in machine.states or transitions_from(machine, state, event):
        return ""
    return (f"the `{machine.name}` spec does not degrade from `{state}` (the gate's last saved state): unless it "
            "moved since, the engine will not apply this command (the journal says so)")
