"""ROLLOUT_LIVE_TAG: a rollout state carries the tag `live` exactly when its `domains` trade some
domain live.

The engine decides what trades live from `domains` alone (engine/run/session.py `domains_of`);
the tag is what a reader of the spec, `engine docs` and reviewers go by. Checking the two against
each other keeps the tag from ever telling a reviewer "paper" about a state that sends real
orders, or the reverse. A state that waits on the operator (`confirm_stage_N`, `demoted`) keeps
trading the domains of the stage it waits in, so it is checked the same way.
"""
from __future__ import annotations

from typing import Iterator

from engine.diagnostics import Diagnostic
from engine.spec.ir import Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context

CODE = "ROLLOUT_LIVE_TAG"
LIVE = "live"  # the tag, and the `domains` mode it stands for


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    if m.kind != "rollout":
        return
    ix = cx.index(m)
    for leaf in ix.leaves:
        tagged_at = next((a for a in ix.ancestors(leaf) if LIVE in m.states[a].tags), None)
        live = sorted(d for d, mode in m.states[leaf].attrs.get("domains", {}).items() if mode == LIVE)
        if tagged_at is not None and not live:
            yield diag(cx.sources.find(m.states[tagged_at].pos, "tags", LIVE), CODE,
                       f"state `{leaf}` is tagged `{LIVE}`" + (f" (by `{tagged_at}`)" if tagged_at != leaf else "")
                       + ", but its `domains` trade no domain live: the engine trades what `domains` says",
                       f"remove `{LIVE}` from the tags, or set the domain that should trade live to `{LIVE}`")
        elif tagged_at is None and live:
            yield diag(cx.sources.find(m.states[leaf].pos, "domains"), CODE,
                       f"state `{leaf}` trades {', '.join(f'`{d}`' for d in live)} live, but is not tagged "
                       f"`{LIVE}`", f"add `{LIVE}` to its `tags:`, or route {live[0]} `paper` or `\"off\"`")
