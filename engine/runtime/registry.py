"""Where code provides the guards and actions that specs name.

Specs only name behaviour (`guard: in_session(event.ts)`, `actions: [attach_bracket]`);
provider packages implement it with decorators on a `Registry`:

    from engine.runtime import default_registry as registry

    @registry.guard("in_session")
    def in_session(ts: float) -> bool: ...

    @registry.action("attach_bracket")
    def attach_bracket(ctx: ActionContext, **args) -> None: ...

`BoundMachine.build` looks names up once, at load; nothing is resolved per event.
"""
from __future__ import annotations

import ast
import importlib
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from engine.spec.expr import BUILTINS, parse
from engine.spec.ir import EMPTY, ActionRef, Machine, SpecSet

if TYPE_CHECKING:
    from engine.runtime.instance import Instance

BUILTIN_ACTIONS = frozenset({"assign", "raise"})

# Catalogue provider -> module whose import runs its registration decorators.
PROVIDER_MODULES: dict[str, str] = {
    "engine": "engine.actions",
    "risk": "engine.risk.actions",
    "strategies": "strategies.actions",
    "adapters": "adapters.actions",
    "rl": "rl.actions",
    "state": "state.actions",
}

Action = Callable[..., None]
Guard = Callable[..., Any]


class ActionContext:
    """What an action sees: the instance, the triggering event and the step's time.

    One is made per fired transition and shared by its actions, so it is cheap.
    `raise_event` queues an event for the same instance (run-to-completion: it is
    processed after the current transition, before `send` returns).
    """

    __slots__ = ("instance", "event", "payload", "inputs", "params", "now", "_raised", "_declared")

    def __init__(self, instance: "Instance", event: str, payload: Mapping[str, Any],
                 inputs: Mapping[str, Any], params: Mapping[str, Any], now: float,
                 raised: list, declared: Iterable[str]):
        self.instance = instance
        self.event = event
        self.payload = payload
        self.inputs = inputs
        self.params = params
        self.now = now
        self._raised = raised
        self._declared = declared

    @property
    def host(self) -> Any:
        return self.instance.host

    def raise_event(self, name: str, payload: Mapping[str, Any] | None = None) -> None:
        if name not in self._declared:
            raise ValueError(f"machine `{self.instance.bound.name}` does not declare event `{name}`")
        self._raised.append((name, payload or EMPTY))


class Registry:
    """Guard functions and actions by catalogue name."""

    def __init__(self) -> None:
        self.guards: dict[str, Guard] = {}
        self.actions: dict[str, Action] = {}

    def guard(self, name: str) -> Callable[[Guard], Guard]:
        return lambda fn: self._add(self.guards, "guard", name, fn)

    def action(self, name: str) -> Callable[[Action], Action]:
        if name in BUILTIN_ACTIONS:
            raise ValueError(f"`{name}` is a built-in action and cannot be re-registered")
        return lambda fn: self._add(self.actions, "action", name, fn)

    @staticmethod
    def _add(table: dict[str, Callable], role: str, name: str, fn: Callable) -> Callable:
        old = table.get(name)
        # Re-importing a module (reload, tests) re-registers the same function: allowed.
        if old is not None and qualname(old) != qualname(fn):
            raise ValueError(f"{role} `{name}` is already provided by {qualname(old)}; "
                             f"{qualname(fn)} cannot provide it too")
        table[name] = fn
        return fn


def qualname(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


default_registry = Registry()


def guard_calls(source: str) -> set[str]:
    """Names of the guard functions an expression calls (built-ins excluded)."""
    tree, _ = parse(source)
    if tree is None:
        return set()
    return {n.func.id for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id not in BUILTINS}


def _action_refs(m: Machine) -> Iterable[ActionRef]:
    for s in m.states.values():
        yield from s.entry
        yield from s.exit
    for t in m.transitions:
        yield from t.actions


def used_names(m: Machine) -> tuple[set[str], set[str]]:
    """(guard functions, named actions) that a machine uses."""
    guards: set[str] = set()
    actions: set[str] = set()
    exprs = [t.guard.source for t in m.transitions if t.guard]
    for ref in _action_refs(m):
        if ref.name not in BUILTIN_ACTIONS:
            actions.add(ref.name)
        exprs.extend(e.source for e in ref.args.values())
    for src in exprs:
        guards |= guard_calls(src)
    return guards, actions


def import_providers(providers: Iterable[str]) -> dict[str, str]:
    """Import the modules of these providers; returns provider -> why it failed."""
    errors: dict[str, str] = {}
    for p in sorted(set(providers)):
        module = PROVIDER_MODULES.get(p)
        if module is None:
            errors[p] = f"unknown provider `{p}` (known: {', '.join(sorted(PROVIDER_MODULES))})"
            continue
        try:
            importlib.import_module(module)
        except ImportError as e:
            errors[p] = f"cannot import {module}: {e}"
    return errors


def missing_implementations(specset: SpecSet, registry: Registry | None = None) -> list[str]:
    """Every guard/action name some machine uses that has no implementation, sorted.

    Imports only the provider modules of the names in use (so their decorators
    register into `default_registry`); a provider that fails to import leaves its
    names missing. `engine run` refuses to start while this is non-empty.
    """
    registry = registry or default_registry
    guards: set[str] = set()
    actions: set[str] = set()
    for m in specset.machines.values():
        g, a = used_names(m)
        guards |= g
        actions |= a
    cat = specset.catalogue
    providers = {cat.guards[n].provider for n in guards if n in cat.guards}
    providers |= {cat.actions[n].provider for n in actions if n in cat.actions}
    import_providers(providers)
    missing = {n for n in guards if n not in registry.guards}
    missing |= {n for n in actions if n not in registry.actions}
    return sorted(missing)
