"""Actions implemented by the instance's host object.

Order, bracket and engine-level machines are hosted by objects that hold the
connection the action needs (a venue, the store, the run session). Binding
`name` this way means: call `ctx.host.name(ctx, **args)`. It is bound once at
load like any action; a host that lacks the method fails at once, loudly.
"""
from __future__ import annotations

from typing import Any

from engine.runtime.registry import ActionContext, Registry


def hosted(registry: Registry, *names: str) -> None:
    for name in names:
        registry.action(name)(_forwarder(name))


def _forwarder(name: str):
    def act(ctx: ActionContext, **args: Any) -> None:
        getattr(ctx.host, name)(ctx, **args)

    act.__name__ = act.__qualname__ = f"hosted_{name}"
    # Binding (compiled._call) reads this and calls the host's method itself: the same call,
    # without this frame in between.
    act.host_method = name  # type: ignore[attr-defined]
    return act
