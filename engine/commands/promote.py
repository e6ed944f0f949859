"""`engine promote`: the operator confirmation a gated promotion waits for.

Refused unless the rollout machine's stored state is one the spec tags
`awaiting_operator` (a `confirm_stage_N` state after a passed gate, or `demoted`
waiting for reinstatement), or when the transition the engine would take from there
leaves it nowhere, or, with `--stage N`, leads to another stage (its guards read the
saved ctx: `demoted` reinstates ctx.stage). A refusal says why in the spec's words (the
reason its rejecting action gives, else the guard that is false) and, with the kill switch
engaged, the `engine kill` command that lifts it. The event comes from the rollout spec's
`promote` command. The engine takes the command between two bars and must raise the
event only while the rollout is still in `expect_state`, in the same stay there (the
deadlines of the timers it armed on entry, `expect_timers`): a confirmation given for one
promotion never confirms a later one, even one that lapsed and came back. `--decline`
posts the spec's `decline` command instead, with the same checks: the pending promotion
is turned down, not left to lapse.

`--domain D` answers that domain's model gate instead (specs/gates/model_promotion.yaml): after
its shadow run a model waits in `awaiting_confirmation` and trades real money at canary size only
once the operator confirms (the gate spec's `confirm_canary`; `--decline`: `decline_canary`, back
to paper). Posted for `gate:D` alone, refused when the gate's saved state has no transition on
the event, and applied only while the gate is still in that state (`expect_state`).

A run opens a live leg only with the triple opt-in (engine/run/optin.py); started with
--paper, it trades a promoted stage's live legs on the paper venue. The engine refuses
a promotion into a state with a live leg it can do neither with, and so does this
command, up front, from the routing the running engine stored (kv ROUTING_KEY).

    command: "promote"   (the rollout spec's command name)
    args: {"machine": "rollout", "event": "operator_confirmed",
           "expect_state": "confirm_stage_2", "expect_timers": [deadline, ...],
           "stage": 2 | None, "reason": "operator"}
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.commands.status import (KILL_KIND, ROLLOUT_KIND, CommandError, add_db_argument, add_specs_argument,
                                    awaits_operator, command_store_url, latest_snapshot, load_machine,
                                    load_machines, load_spec_set, machine_state, no_snapshot, open_existing_store, post_while_open, refuse_finished,
                                    refuse_untaken, resume_command, state_timers, use_run_specs, when_applied, USAGE)
from engine.domain import Domain
from engine.run.keys import ROUTING_KEY
from engine.spec.contract import GATE_CONFIRM, GATE_DECLINE, stage_state
from engine.suggest import Carried

COMMAND = "promote"  # the rollout spec's command the engine contract requires
DECLINE = "decline"  # optional: without it in the spec, --decline is refused, naming the spec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_db_argument(parser)
    parser.add_argument("--stage", type=int, metavar="N",
                        help="the stage you mean to promote to; refused when the pending promotion leads elsewhere")
    parser.add_argument("--decline", action="store_true",
                        help="decline the pending promotion instead (the rollout spec's `decline` command)")
    parser.add_argument("--domain", choices=[d.value for d in Domain],
                        help="answer that domain's model gate instead: after its shadow run the model trades real "
                             "money at canary size only once confirmed (the gate spec's `confirm_canary`; with "
                             "--decline its `decline_canary`)")
    parser.add_argument("--reason", default="operator", help="why, for the audit journal (default: operator)")
    add_specs_argument(parser)


def run(args: argparse.Namespace) -> int:
    try:
        use_run_specs(args)
        message = _promote(args)
    except CommandError as e:
        print(f"engine promote: {e}", file=sys.stderr)
        return e.code
    print(message)
    return 0


def _promote(args: argparse.Namespace) -> str:
    if args.domain is not None:
        return _answer_gate(args)
    spec_set = load_spec_set(args.specs)
    machine = load_machine(args.specs, ROLLOUT_KIND, spec_set)
    name = DECLINE if args.decline else COMMAND
    if args.decline and args.stage is not None:
        raise CommandError("--stage names the stage a confirmation leads to; --decline takes none", USAGE)
    cmd = machine.commands.get(name)
    if cmd is None:
        raise CommandError(f"the `{machine.name}` spec has no `{name}` command under `commands:`")
    url, carried = command_store_url(args), Carried.of(args)
    with open_existing_store(url, carried) as store:
        refuse_finished(store, url, carried)
        state, ctx = machine_state(store, machine.name)
        if state is None:
            raise CommandError(no_snapshot(store, machine.name))
        print(f"stage state: {state} (stage {ctx.get('stage', '?')})")
        if not awaits_operator(machine, state):
            raise CommandError(f"nothing awaits confirmation: `{state}` is not waiting for the operator")
        target, said = dry_run(spec_set, machine, latest_snapshot(store, machine.name), cmd.event)
        if target == state:
            raise CommandError(_would_not_leave(args, machine, state, cmd.event, said,
                                                _kill_hint(spec_set, args, store)))
        if args.stage is not None and not _is_stage(target, args.stage):
            raise CommandError(f"the pending promotion from `{state}` leads to {target}, not stage {args.stage}")
        resume = resume_command(store, args)
        refuse_untaken(url, resume, carried)
        for note in () if args.decline else _live_legs(machine, target, store):
            print(f"note: {note}")
        command_id = post_while_open(store, url, carried, cmd.name, {
            "machine": machine.name, "event": cmd.event, "expect_state": state,
            "expect_timers": state_timers(latest_snapshot(store, machine.name)),
            "stage": args.stage, "reason": args.reason})
        when = when_applied(url, resume, store)
    return (f"posted #{command_id}: {cmd.name} -> event `{cmd.event}` of `{machine.name}` "
            f"(pending: {state} -> {target}); {when}")


def _answer_gate(args: argparse.Namespace) -> str:
    """`--domain D`: the gate spec's confirm_canary (decline_canary), for that domain's gate alone."""
    from engine.commands.degrade import post_gate_command

    if args.stage is not None:
        raise CommandError("--stage names the stage a rollout confirmation leads to; --domain answers a gate", USAGE)
    url = command_store_url(args)
    name, machine, state, command_id, when = post_gate_command(
        args, url, GATE_DECLINE if args.decline else GATE_CONFIRM, refuse=True)
    cmd = machine.commands[GATE_DECLINE if args.decline else GATE_CONFIRM]
    return (f"posted #{command_id}: {cmd.name} -> event `{cmd.event}` of `gate:{args.domain}` ({name}, saved state "
            f"`{state}`); {when}")


def dry_run(spec_set: Any, machine: Any, snapshot: dict[str, Any], event: str,
            payload: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    """The state the answer leads to, and the reasons the spec's actions gave on the way (a
    `record_rejection`'s): the saved instance, restored into a scratch interpreter with the real
    guards and inert actions, is sent the event (with `payload`), so selection (priorities, parent
    states, a guard that raises is false) is the engine's own, and so are the catalogue's bounds on
    the actions' arguments: a value outside them stops the engine, so the command is refused here
    (CommandError). Also `engine move-stop`'s."""
    from engine.runtime import (ActionError, BindError, BoundMachine, Interpreter, ListSink, Registry, ReplayClock,
                                default_registry, missing_implementations)
    from engine.spec.params import effective_params

    missing_implementations(spec_set)  # imports the providers the machines name, as `engine run` does
    said: list[str] = []
    registry = Registry()
    registry.guards.update(default_registry.guards)
    for name in default_registry.actions:
        registry.action(name)(_inert(said))
    ctx = snapshot.get("ctx") or {}
    try:
        bound = BoundMachine.build(machine, registry, effective_params(spec_set, machine.name, stage=ctx.get("stage")),
                                   spec_set.catalogue)
    except BindError as e:
        raise CommandError(f"the `{machine.name}` spec does not bind ({e}); run `engine validate`") from None
    interp = Interpreter(ReplayClock(0.0), ListSink())
    inst = interp.restore(bound, snapshot, allow_spec_change=True)  # what the current spec would do
    try:
        interp.send(inst, event, payload)
    except ActionError as e:  # bound with the catalogue, as the run binds: the engine would stop on it
        raise CommandError(f"the engine would stop on this command, so it is not posted: `{e.machine}`'s action "
                           f"`{e.action}` ({e.phase}, {e.where}) would fail on `{e.event}`: {e.__cause__}; "
                           "correct the spec (`engine validate` shows what it can prove)") from None
    return inst.state, said


def _inert(said: list[str]) -> Any:
    """A dry run's action: does nothing, but keeps the reason a rejecting one gives."""
    def act(ctx: Any, reason: Any = None, **kw: Any) -> None:
        if reason:
            said.append(str(reason))
    return act


def _would_not_leave(args: argparse.Namespace, machine: Any, state: str, event: str, said: list[str],
                     kill: str) -> str:
    """Why the answer would leave the rollout where it is, in the spec's words: the reason its
    rejecting action gives, else the guards that do not hold, else that no transition answers the
    event there (and what does, on this store); then what lifts the kill switch, when it is engaged."""
    from engine.commands.status import transitions_from
    from engine.suggest import commands_leaving, promote_command

    head = f"{'declining' if args.decline else 'confirming'} now would not leave `{state}`"
    found = transitions_from(machine, state, event)
    if not found:
        others = [f"`{c}`" for c in (promote_command(n, Carried.of(args)) for n in commands_leaving(machine, state))
                  if c]
        return (f"{head}: the `{machine.name}` spec has no `{event}` transition out of it"
                + (f"; it is answered with {' or '.join(others)}" if others else ""))
    guards = [f"`{t.guard.source}`" for t in found if t.guard is not None and t.target not in (None, state)]
    why = ("; ".join(said) or (f"{guards[0]} is false" if len(guards) == 1 else
                               f"none of {', '.join(guards)} holds" if guards else "no transition applies"))
    return f"{head}: {kill} (the `{machine.name}` spec: {why})" if kill else f"{head}: {why}"


def _kill_hint(spec_set: Any, args: argparse.Namespace, store: Any) -> str:
    """What lifts the kill switch, from its saved state and its spec, on this store ("" when it is
    not engaged). A kill command posted but not applied yet (a `resume` queued for a stopped run)
    is named instead: the saved state the dry run reads is from before it."""
    from engine.commands.status import pending_commands
    from engine.suggest import kill_engaged

    kill = load_machines(args.specs, KILL_KIND, spec_set=spec_set)[KILL_KIND]
    if kill is None:
        return ""
    state = machine_state(store, kill.name)[0]
    engaged = kill_engaged(kill, state, Carried.of(args))
    queued = [c for c in pending_commands(store) if c["args"].get("machine") == kill.name]
    if not engaged or not queued:
        return engaged
    named, many = ", ".join(f"`{c['command']}` (#{c['id']})" for c in queued), len(queued) > 1
    return (f"the kill switch is still engaged (kill mode `{state}`), and the kill command{'s' * many} {named} "
            f"posted for it {'are' if many else 'is'} not applied yet: confirm once the engine has applied "
            f"{'them' if many else 'it'} (`{Carried.of(args).command('status')}` lists what is pending)")


def _live_legs(machine: Any, target: str, store: Any) -> list[str]:
    """Notes on the target state's live legs, as the running engine routes them; CommandError
    when it would refuse one (no opt-in, no --paper) or the store does not say how it routes."""
    from engine.run.optin import Routing

    spec = dict(machine.states[target].attrs.get("domains", {}))
    live = [d for d, m in spec.items() if m == "live"]
    if not live:
        return []
    saved = store.get_json(ROUTING_KEY)
    if saved is None:
        raise CommandError(f"{target} trades {', '.join(live)} live, and the store does not say whether the run "
                           "has the live opt-in or --paper: refusing rather than guessing")
    stage, routing = Routing.from_json(saved)
    modes = routing.state_modes(stage, target, spec)
    refused = [d for d in live if modes[d] is None]
    if refused:
        raise CommandError(f"{target} trades {', '.join(refused)} live, and the running engine was started without "
                           "the live opt-in and without --paper, so it would refuse the promotion. Restart it with "
                           "--paper (live legs on the paper venue) or with the triple opt-in")
    return [f"{target} trades {d} live; this run trades it {modes[d]}"
            + (" (started with --paper)" if modes[d] == "paper" else "") for d in live]


def _is_stage(state: str, n: int) -> bool:
    return state == stage_state(n) or state.startswith(f"{stage_state(n)}_")
