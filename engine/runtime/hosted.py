"""Actions implemented by the instance's host object.

Order, bracket and engine-level machines are hosted by objects that hold the
connection the action needs (a venue, the store, the run session). Binding
`name` this way means: call `ctx.host.name(ctx, **args)`. The machine lists the
host methods its actions use (BoundMachine.hosted); an instance binds them when
it is created or restored (`bind_host`), so a host that lacks one, or whose method
does not take the arguments the spec passes, fails there, at once and loudly, not when
the event that runs the action arrives. A host class known before any instance exists
(an order's handle) is checked at load (`host_problems`).
"""
from __future__ import annotations

from types import FunctionType
from typing import TYPE_CHECKING, Any, Callable

from engine.diagnostics import Diagnostic, Pos, Severity
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
            missing.extend(_refused(bound, cls, name, fn))
        elif callable(getattr(host, name, None)):
            out.append(_late(name))
            late = True
        else:
            missing.append(_missing(bound, f"the host of instance `{instance_id}`", cls, name, pos))
    _raise(missing)
    fns = tuple(out)
    if attrs is None and not late:
        bound.host_fns[cls] = fns  # nothing per instance can change them: the class's, for every host of it
    return fns


def host_problems(bound: "BoundMachine", cls: type) -> list[Diagnostic]:
    """What bind_host would refuse of a host of class `cls`, found before any instance exists: a
    method the spec's hosted actions call that the class lacks, or that refuses their arguments."""
    problems: list[Diagnostic] = []
    for name, pos in bound.hosted:
        fn = getattr(cls, name, None)
        if isinstance(fn, FunctionType):
            problems.extend(_refused(bound, cls, name, fn))
        else:
            problems.append(_missing(bound, "the host class", cls, name, pos))
    return problems


def _refused(bound: "BoundMachine", cls: type, name: str, fn: FunctionType) -> list[Diagnostic]:
    from engine.runtime.compiled import listed_args, refused_args

    out = []
    for names, pos in bound.host_args.get(name, ()):
        if (why := refused_args(fn, names, ("self", "ctx"))) is not None:
            out.append(Diagnostic(
                pos, Severity.ERROR, "ACTION_SIGNATURE",
                f"{bound.name}: action `{name}` is called with {listed_args(names)}: {cls.__qualname__}.{name} {why}",
                f"make the action's catalogue args and {cls.__qualname__}.{name}'s parameters the same names"))
    return out


def _missing(bound: "BoundMachine", who: str, cls: type, name: str, pos: Pos) -> Diagnostic:
    return Diagnostic(pos, Severity.ERROR, "HOST",
                      f"{bound.name}: {who} ({cls.__qualname__}) has no method `{name}`, an action this spec names",
                      f"give {cls.__qualname__} `def {name}(self, ctx, **args)`, or host the instance "
                      f"on the object that provides it")


def _raise(problems: list[Diagnostic]) -> None:
    if problems:
        from engine.runtime.compiled import BindError
        raise BindError(problems)


def _late(name: str) -> HostFn:
    def call(host: Any, ctx: ActionContext, **args: Any) -> None:
        getattr(host, name)(ctx, **args)
    return call
