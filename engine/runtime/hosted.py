"""Actions implemented by the instance's host object.

Order, bracket and engine-level machines are hosted by objects that hold the
connection the action needs (a venue, the store, the run session). Binding
`name` this way means: call `ctx.host.name(ctx, **args)`. The machine lists the
host methods its actions use (BoundMachine.hosted); an instance binds them when
it is created or restored (`bind_host`), so a host that lacks one fails there,
at once and loudly, not when the event that runs the action arrives.
"""
from __future__ import annotations

from types import FunctionType
from typing import TYPE_CHECKING, Any, Callable

from engine.diagnostics import Diagnostic, Severity
from engine.runtime.registry import ActionContext, Registry

if TYPE_CHECKING:
    from engine.runtime.compiled import BoundMachine

# A bound host method: called as fn(host, ctx, **args), like a function found on the host's class.
HostFn = Callable[..., None]


def hosted(registry: Registry, *names: str) -> None:
    for name in names:
        registry.action(name)(_forwarder(name))


def _forwarder(name: str) -> Callable[..., None]:
    def act(ctx: ActionContext, **args: Any) -> None:
        getattr(ctx.host, name)(ctx, **args)

    act.__name__ = act.__qualname__ = f"hosted_{name}"
    # Binding (compiled._call) reads this: the action calls the host's method, bound when the
    # instance is created (bind_host), without this frame in between.
    act.host_method = name  # type: ignore[attr-defined]
    return act


def bind_host(bound: "BoundMachine", host: Any, instance_id: str) -> tuple[HostFn, ...]:
    """The host's methods for `bound.hosted`, in its order; a missing one is a BindError that
    names each action the host cannot run, where the spec names it.

    A method defined on the host's class is bound once per class (the machine caches it: an
    order's host is checked with one dict lookup); one a host provides otherwise (its own
    attribute, __getattr__) is checked here and looked up on the host when called."""
    cls = type(host)
    fns = bound.host_fns.get(cls)
    if fns is not None:
        return fns
    attrs = getattr(host, "__dict__", None)  # where an instance could shadow its class's method
    out: list[HostFn] = []
    missing = []
    late = False
    for name, pos in bound.hosted:
        fn = getattr(cls, name, None)
        if isinstance(fn, FunctionType) and not (attrs and name in attrs):
            out.append(fn)
        elif callable(getattr(host, name, None)):
            out.append(_late(name))
            late = True
        else:
            missing.append(Diagnostic(
                pos, Severity.ERROR, "HOST",
                f"{bound.name}: the host of instance `{instance_id}` ({cls.__qualname__}) has no "
                f"method `{name}`, an action this spec names",
                f"give {cls.__qualname__} `def {name}(self, ctx, **args)`, or host the instance "
                f"on the object that provides it"))
    if missing:
        from engine.runtime.compiled import BindError
        raise BindError(missing)
    fns = tuple(out)
    if attrs is None and not late:
        bound.host_fns[cls] = fns  # nothing per instance can change them: the class's, for every host of it
    return fns


def _late(name: str) -> HostFn:
    def call(host: Any, ctx: ActionContext, **args: Any) -> None:
        getattr(host, name)(ctx, **args)
    return call
