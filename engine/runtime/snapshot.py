"""Snapshots: an instance as plain JSON-able data, and the checks a restore makes.

A snapshot is only meaningful against the spec it was taken under, so it carries
the spec hash and a restore refuses another spec unless the caller opts in to a
migration (then: unknown ctx keys are dropped, new ones take their defaults, and
timers of states or indices that no longer exist are dropped).
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

from engine.runtime.compiled import BoundMachine
from engine.runtime.instance import Instance

FORMAT = 1


class SnapshotError(ValueError):
    """A snapshot that cannot be restored onto this bound machine."""


def to_data(inst: Instance) -> dict[str, Any]:
    bound = inst.bound
    pending = sorted((v, k) for k, v in (inst.timers or {}).items())  # by deadline, then start order
    return {
        "format": FORMAT,
        "machine": bound.name,
        "spec_hash": bound.spec_hash,
        "id": inst.id,
        "state": inst.state,
        "ctx": copy.deepcopy(inst.ctx),
        "done": inst.done,
        "timers": [{"state": s, "index": i, "event": _timer_event(bound, s, i), "deadline": d, "seq": seq}
                   for (d, seq), (s, i) in pending],
    }


def _timer_event(bound: BoundMachine, state: str, index: int) -> str | None:
    return next((ev for i, ev, _ in bound.states[state].timers if i == index), None)


def check(bound: BoundMachine, data: Mapping[str, Any],
          allow_spec_change: bool) -> tuple[str, dict[str, Any], list[tuple[str, int, float, int | None]]]:
    """(state, ctx, timers as (state, index, deadline, the number of their arming: None in a
    snapshot older than it)) from a snapshot, or SnapshotError."""
    if data.get("format") != FORMAT:
        raise SnapshotError(f"unsupported snapshot format {data.get('format')!r} (expected {FORMAT})")
    if data.get("machine") != bound.name:
        raise SnapshotError(f"snapshot is of machine `{data.get('machine')}`, not `{bound.name}`")
    same = data.get("spec_hash") == bound.spec_hash
    if not same and not allow_spec_change:
        raise SnapshotError(
            f"snapshot of `{bound.name}` was taken under spec hash {data.get('spec_hash')}, "
            f"but the loaded spec has {bound.spec_hash}; pass allow_spec_change=True to migrate it")
    state = data.get("state")
    if state not in bound.leaves:
        raise SnapshotError(f"snapshot state `{state}` is not a leaf state of `{bound.name}`")
    ctx = _ctx(bound, data.get("ctx") or {}, same)
    return state, ctx, _timers(bound, state, data.get("timers") or [], same)


def _ctx(bound: BoundMachine, saved: Mapping[str, Any], same: bool) -> dict[str, Any]:
    unknown = set(saved) - set(bound.ctx_defaults)
    if unknown and same:
        raise SnapshotError(f"snapshot ctx has undeclared variable(s) {sorted(unknown)}")
    ctx = bound.new_ctx()
    ctx.update({k: copy.deepcopy(v) for k, v in saved.items() if k in bound.ctx_defaults})
    return ctx


def _timers(bound: BoundMachine, state: str, saved: list, same: bool) -> list[tuple[str, int, float, int | None]]:
    out = []
    active = bound.config[state]
    for t in saved:
        s, i, ev = t.get("state"), t.get("index"), t.get("event")
        ok = s in active and _timer_event(bound, s, i) == ev
        if not ok and same:
            raise SnapshotError(f"snapshot timer {t} does not belong to the active states of `{bound.name}`")
        if ok:
            seq = t.get("seq")
            out.append((s, i, float(t["deadline"]), seq if type(seq) is int and seq >= 0 else None))
    return out
