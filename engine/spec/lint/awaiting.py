"""AWAITING_UNTAGGED: a rollout state takes an operator command's event but is not tagged
`awaiting_operator`.

`engine promote` and `engine promote --decline` post their event only while the rollout waits in
a state carrying the tag (engine/commands/promote.py), and a replay holds only there. A misspelt
tag (`awaiting_operatr`) validated clean, since other states still carry the right one, and the
run then reached a confirmation nobody could give or decline: its `operator_confirmed` and
`operator_rejected` transitions could never fire.
"""
from __future__ import annotations

from typing import Iterator

from engine.diagnostics import Diagnostic, did_you_mean
from engine.spec.contract import AWAITING_TAG
from engine.spec.ir import Machine
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context

CODE = "AWAITING_UNTAGGED"


def check(cx: Context, m: Machine) -> Iterator[Diagnostic]:
    if m.kind != "rollout":
        return
    by_event = {c.event: c.name for c in m.commands.values()}
    ix = cx.index(m)
    seen: set[str] = set()
    for t in m.transitions:
        command = by_event.get(t.event)
        if command is None:
            continue
        for source in t.sources:
            for leaf in (s for s in ix.leaves if source in ix.ancestors(s)):
                if leaf in seen or m.has_tag(leaf, AWAITING_TAG):
                    continue
                seen.add(leaf)
                state = m.states[leaf]
                near = next((tag for tag in state.tags if did_you_mean(tag, [AWAITING_TAG])), None)
                at = cx.sources.find(state.pos, "tags", near) if near else state.pos
                yield diag(at, CODE,
                           f"state `{leaf}` takes `{t.event}` (`engine {command}`) but is not tagged "
                           f"`{AWAITING_TAG}`: `engine {command}` posts only while the rollout waits in a state "
                           f"so tagged, so that transition can never fire",
                           f"did you mean `{AWAITING_TAG}`?" if near else f"add `{AWAITING_TAG}` to its `tags:`")
