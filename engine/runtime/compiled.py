"""A machine bound to code: compiled once at load, so that a send is a dict
lookup plus guard evaluations.

`BoundMachine.build` compiles every guard and argument expression once, looks
every named guard and action up in a `Registry` once, resolves timer delays
and precomputes the dispatch table {(active leaf, event): candidates in
selection order}, each candidate carrying its exit and entry paths. The
interpreter only walks these tuples.
"""
from __future__ import annotations

import ast
import copy
import inspect
from collections.abc import Iterable, Iterator, Mapping
from types import CodeType, MappingProxyType
from typing import Any, Callable

from engine.diagnostics import Diagnostic, Pos, Severity, SpecError, did_you_mean
from engine.runtime.audit import record_template
from engine.runtime.registry import BUILTIN_ACTIONS, ActionContext, Registry, guard_calls, qualname
from engine.spec import durations
from engine.spec.bounds import Bounds
from engine.spec.expr import BUILTINS, Compiled, Scope, compile_expr, dotted
from engine.spec.ir import EMPTY, NUMBER_TYPES, ActionRef, Catalogue, Expr, Machine, Transition, selection_order


class BindError(SpecError):
    """A machine cannot be bound: unknown names, bad expressions or parameters."""


def parse_duration(value: Any) -> float:
    """Seconds from a number (already seconds) or a literal such as `15m`."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    return durations.parse_duration(value)


_LEAVES = frozenset({int, float, str, bool, type(None)})  # the common case, checked without ABCs
# BoundMachine.drops: an event sent in a leaf where no transition takes it, or where every one is guarded
DROPS, GUARDED = 1, 2


class View:
    """Attribute access over a mapping, built lazily (only what a guard reads is wrapped).

    Cheaper than `expr.ns`, which copies the whole tree on every send; and it sees
    `assign` writes at once because it wraps the live ctx dict."""

    __slots__ = ("_d",)

    def __init__(self, d: Mapping[str, Any]):
        self._d = d

    def __getattr__(self, name: str) -> Any:
        try:
            v = self._d[name]
        except KeyError:
            raise AttributeError(f"no field `{name}`") from None
        return v if type(v) in _LEAVES else View(v) if isinstance(v, Mapping) else v


class Fields:
    """A mapping's fields as attributes, copied once: an expression's `ctx.stop` is then a
    plain attribute read, several times cheaper than View's `__getattr__` (a guard reads a
    dozen fields). Nested mappings stay lazy Views. It is a copy: an `assign` action keeps the
    one over ctx current."""

    def __init__(self, d: Mapping[str, Any]):
        if _LEAVES.issuperset(map(type, d.values())):  # the common case, without a Python loop
            self.__dict__.update(d)
        else:
            self.__dict__.update({k: _wrap(v) for k, v in d.items()})

    def __getattr__(self, name: str) -> Any:  # only reached for a field the mapping lacks
        raise AttributeError(f"no field `{name}`")


def _wrap(v: Any) -> Any:
    return v if type(v) in _LEAVES else View(v) if isinstance(v, Mapping) else v


# -- fast forms: expressions over plain dicts, without building Fields ---------------------------

class _Slow:
    __slots__ = ()

    def __repr__(self) -> str:
        return "SLOW"


SLOW = _Slow()  # a fast form's answer when the data is not plain: evaluate the general way

# Names the generated code uses; `__` names cannot clash with a spec's (roots and functions).
_FAST_NAMES = {"__type": type, "__dict": dict, "__isinstance": isinstance, "__Mapping": Mapping,
               "__KeyError": KeyError, "__SLOW": SLOW, "__LEAVES": _LEAVES}


class _NotFast(Exception):
    """The expression uses a root other than by reading its fields (`kpi` alone, say)."""


class FastForm:
    """Generates `f(ctx, payload, inputs)`: expressions with every dotted read of ctx, the event
    payload or an input bound once to a local read straight from the dicts.

        ctx.filled_qty + event.qty >= ctx.qty
    becomes
        def __fast(__ctx, __event, __inputs):
            try:
                if __type(__ctx) is not __dict or __type(__event) is not __dict:
                    return __SLOW
                __v0 = __ctx['filled_qty']
                __v1 = __event['qty']
                __v2 = __ctx['qty']
            except __KeyError:
                return __SLOW
            if (... any __vN is a Mapping ...):
                return __SLOW
            return __v0 + __v1 >= __v2

    This replaces building Fields over ctx, the payload and every input on each step. The general
    way (the compiled expression evaluated over Fields and Views) stays the definition: a fast
    form covers plain data only (containers exactly dicts, values not mappings, which Fields and
    Views pass through unchanged) and returns SLOW *before* evaluating anything otherwise, e.g.
    for a missing field, a namespace input or a nested mapping read as a value. Callers then run
    the general way, so the values, results and errors are the same either way. Reads are made
    eagerly, which is safe for that reason: an eager read that fails only means SLOW."""

    def __init__(self, inputs: frozenset[str], g: dict[str, Any]):
        self.inputs = inputs
        self.g = g  # the machine's globals with _FAST_NAMES (see fast_globals)
        self.local: dict[str, str] = {}  # dotted path -> local name, in first-read order

    def covers(self, root: str) -> bool:
        # Evaluation scope: ctx and event shadow an input of that name; inputs shadow globals.
        return root in ("ctx", "event") or root in self.inputs

    def rewrite(self, source: str) -> str:
        """`source` with its reads replaced by locals; raises _NotFast if it cannot be."""
        tree = _Rewrite(self).visit(ast.parse(source.strip(), mode="eval").body)
        return ast.unparse(ast.fix_missing_locations(tree))

    def bind(self, path: str) -> str:
        return self.local.setdefault(path, f"__v{len(self.local)}")

    def function(self, body: str, label: str, strict: bool = False) -> Callable[..., Any]:
        """The generated function returning `body`. strict: every value read must be a scalar
        (for records, where anything else would need `plain`), not merely not a mapping."""
        checks, reads = set(), []
        for path, var in self.local.items():
            root, *fields = path.split(".")
            if root in ("ctx", "event"):
                checks.add(f"__type(__{root}) is not __dict")
                reads.append(f"{var} = __{root}[{fields.pop(0)!r}]")
            else:
                checks.add("__type(__inputs) is not __dict")
                reads.append(f"{var} = __inputs[{root!r}]")
            for f in fields:
                reads += [f"if __type({var}) is not __dict:", "    return __SLOW", f"{var} = {var}[{f!r}]"]
        src = ["def __fast(__ctx, __event, __inputs):"]
        if reads:
            src += ["    try:", f"        if {' or '.join(sorted(checks))}:", "            return __SLOW"]
            src += [f"        {line}" for line in reads]
            src += ["    except __KeyError:", "        return __SLOW"]
            odd = [f"__type({v}) not in __LEAVES" if strict
                   else f"(__type({v}) not in __LEAVES and __isinstance({v}, __Mapping))"
                   for v in self.local.values()]
            src += [f"    if {' or '.join(odd)}:", "        return __SLOW"]
        src += [f"    return {body}"]
        text = "\n".join(src) + "\n"
        ns: dict[str, Any] = {}
        exec(compile(text, f"<fast {label!r}>", "exec"), self.g, ns)  # noqa: S102 - built from a checked AST
        fn = ns["__fast"]
        fn.source = text  # what runs, for a reader debugging a step
        return fn


class _Rewrite(ast.NodeTransformer):
    def __init__(self, form: FastForm):
        self.form = form

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        path = dotted(node)
        if path is not None and self.form.covers(path.partition(".")[0]):
            return ast.Name(self.form.bind(path), ast.Load())
        return self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if self.form.covers(node.id) or node.id.startswith("__"):
            raise _NotFast(node.id)
        return node


def fast_globals(g: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    return {**g, **_FAST_NAMES, "__params": params}


def fast_value(sources: list[str], inputs: frozenset[str], g: dict[str, Any],
               keys: tuple[str, ...] | None = None) -> Callable[..., Any] | None:
    """The fast form of one expression's value, or with `keys` of {key: value} of several;
    None if not covered."""
    form = FastForm(inputs, g)
    try:
        parts = [form.rewrite(src) for src in sources]
    except _NotFast:
        return None
    if keys is not None:
        body = f"{{{', '.join(f'{k!r}: ({p})' for k, p in zip(keys, parts, strict=True))}}}"
    else:
        body = f"({parts[0]})"
    return form.function(body, " ; ".join(sources))


def fast_reads(paths: tuple[str, ...], inputs: frozenset[str], g: dict[str, Any],
               params: Mapping[str, Any]) -> Callable[..., Any] | None:
    """The fast form of a record's guard inputs {path: value} (Interpreter._reads, whose roots
    are ctx, event, params, then the inputs), for scalar values; None if not covered."""
    form = FastForm(inputs - {"params"}, g)
    items = []
    for path in paths:
        root, _, rest = path.partition(".")
        if root == "params":
            if "." in rest or rest not in params or type(params[rest]) not in _LEAVES:
                return None
            items.append(f"{path!r}: __params[{rest!r}]")
        elif rest and form.covers(root):
            items.append(f"{path!r}: {form.bind(path)}")
        else:
            return None
    return form.function(f"{{{', '.join(items)}}}", f"reads {' ; '.join(paths)}", strict=True)


def _general(ctx: Any, payload: Any, inputs: Any) -> _Slow:
    """The fast form of what has none: always the general way."""
    return SLOW


class Lazy:
    """A fast form made on first use: generating and compiling one for every expression at bind
    time would triple binding's cost, and a run evaluates only some of a spec's expressions."""

    __slots__ = ("make", "fn")

    def __init__(self, make: Callable[[], Callable[..., Any] | None]):
        self.make = make
        self.fn: Callable[..., Any] | None = None

    def get(self) -> Callable[..., Any]:
        if self.fn is None:
            self.fn = self.make() or _general
        return self.fn


class Step(ActionContext):
    """One transition being fired: what guards and actions evaluate against. It is also the
    ActionContext its actions receive (one object per step instead of two)."""

    __slots__ = ("bound", "_env")

    def __init__(self, bound: "BoundMachine", instance: Any, event: str, payload: Mapping[str, Any],
                 inputs: Mapping[str, Any], now: float, raised: list):
        self.bound = bound
        self.instance = instance
        self.event = event
        self.payload = payload
        self.inputs = inputs
        self.params = bound.params
        self.now = now
        self._raised = raised
        self._declared = bound.events
        self._env: dict[str, Any] | None = None

    def env(self) -> dict[str, Any]:
        env = self._env
        if env is None:
            inputs = self.inputs
            env = {k: (Fields(v) if isinstance(v, Mapping) else v) for k, v in inputs.items()} if inputs else {}
            env["ctx"] = Fields(self.instance.ctx)
            env["event"] = Fields(self.payload)
            self._env = env
        return env

    def root(self, name: str) -> Any:
        """A root as plain data (params, ctx, event, then the inputs), for guard inputs in records."""
        if name == "ctx":
            return self.instance.ctx
        if name == "event":
            return self.payload
        if name == "params":
            return self.bound.params
        return self.inputs.get(name)

    @property
    def raised(self) -> list:
        """The macro-step's queue of raised events (run-to-completion)."""
        return self._raised


class BoundAction:
    """An action ready to run: `run(step)`. Name and position are kept for ActionError."""

    __slots__ = ("name", "pos", "run")

    def __init__(self, name: str, pos: Pos, run: Callable[[Step], None]):
        self.name = name
        self.pos = pos
        self.run = run


# A transition bound once, whatever leaf it is seen from: its compiled guard, that guard's two
# fast forms (test, read), its actions and the reason its records give.
_BoundTransition = tuple[Compiled | None, tuple[Lazy, Lazy] | None, tuple[BoundAction, ...], str]


class StateRt:
    """A state's runtime part: its entry/exit actions and timers (index, event, delay_s)."""

    __slots__ = ("name", "entry", "exit", "timers")

    def __init__(self, name: str, entry: tuple[BoundAction, ...], exit: tuple[BoundAction, ...],
                 timers: tuple[tuple[int, str, float], ...]):
        self.name = name
        self.entry = entry
        self.exit = exit
        self.timers = timers


class Candidate:
    """One transition as seen from one active leaf, with its paths precomputed.

    `guard_reads` are the dotted paths the guard reads, each split once into
    (path, root, fields) so that recording them needs no string work per step.
    `test(ctx, payload, inputs)` is the guard's fast form (None: no guard) and `read` that of
    the guard inputs its record shows (Interpreter._reads); either answers SLOW for the general
    way. Both are made on first call (see Lazy), shared by the transition's candidates.
    `acts` says whether firing runs any action (exit, transition or entry); `leaving` and
    `entering` are the exits and entries with an action or a timer (the others need nothing
    done). `record` is the
    audit record of its firing with every field that never changes filled in (see
    audit.record_template): firing copies it and sets the instance, time and guard inputs."""

    __slots__ = ("transition", "source", "guard", "guard_src", "guard_reads", "actions",
                 "exits", "entries", "leaving", "entering", "leaf", "done", "test", "read", "acts", "record",
                 "_forms")

    def __init__(self, transition: Transition, source: str, guard: CodeType | None, guard_src: str,
                 guard_reads: tuple[str, ...], actions: tuple[BoundAction, ...],
                 exits: tuple[StateRt, ...], entries: tuple[StateRt, ...], leaf: str, done: bool,
                 forms: tuple[Lazy, Lazy] | None = None, record: dict[str, Any] | None = None):
        self.transition = transition
        self.source = source  # the state whose transition this is (where selection found it)
        self.guard = guard
        self.guard_src = guard_src
        self.guard_reads = tuple((p, *_split(p)) for p in guard_reads)
        self.actions = actions
        self.exits = exits  # innermost first
        self.entries = entries  # outermost first, down to the new leaf
        self.leaf = leaf
        self.done = done
        self._forms = forms or (Lazy(lambda: None), Lazy(lambda: None))
        self.test = None if guard is None else self._first_test
        self.read = self._first_read
        self.acts = bool(actions) or any(st.exit for st in exits) or any(st.entry for st in entries)
        self.entering = tuple(st for st in entries if st.entry or st.timers)
        self.leaving = tuple(st for st in exits if st.exit or st.timers)
        self.record = record

    def _first_test(self, ctx: Any, payload: Any, inputs: Any) -> Any:
        self.test = test = self._forms[0].get()
        return test(ctx, payload, inputs)

    def _first_read(self, ctx: Any, payload: Any, inputs: Any) -> Any:
        self.read = read = self._forms[1].get()
        return read(ctx, payload, inputs)


def _split(path: str) -> tuple[str, tuple[str, ...]]:
    root, *rest = path.split(".")
    return root, tuple(rest)


class BoundMachine:
    """A Machine with everything resolved; immutable once built, shared by all instances."""

    def __init__(self) -> None:
        raise TypeError("use BoundMachine.build(machine, registry, params)")

    @classmethod
    def build(cls, machine: Machine, registry: Registry, params: Mapping[str, Any] | None = None,
              catalogue: Catalogue | None = None) -> "BoundMachine":
        """`catalogue`: its argument bounds are checked each time an action runs (a value outside
        raises: the action fails, ActionError), as `engine run` binds; None checks none."""
        self = object.__new__(cls)
        _Binder(self, machine, registry, params or EMPTY, catalogue).bind()
        return self

    # Set by _Binder.bind; listed for readers and type checkers.
    machine: Machine
    name: str
    spec_hash: str
    params: Mapping[str, Any]
    globals: dict[str, Any]
    events: frozenset[str]
    sampled: frozenset[str]  # events declared `sampled: true`
    # event -> its payload fields of a number type, which must be finite: a sampled event's are not
    # checked, since a measurement not yet known is NaN there and decides nothing (spec-format.md)
    numbers: Mapping[str, tuple[str, ...]]
    states: Mapping[str, StateRt]
    table: Mapping[tuple[str, str], tuple[Candidate, ...]]
    initial_entries: tuple[StateRt, ...]
    initial_acts: bool  # some initial entry action runs: creating an instance needs a Step
    initial_entering: tuple[StateRt, ...]  # the initial entries with an entry action or a timer
    initial_leaf: str
    initial_done: bool
    init_record: dict[str, Any]  # the record template of `create` (audit.record_template)
    # (state, timer index) -> {reason of a transition its event fires: that reason, saying the timer fired}
    timer_reasons: Mapping[tuple[str, int], Mapping[str, str]]
    # (leaf, declared event) -> the record template of that event taken by no transition there
    unhandled: Mapping[tuple[str, str], dict[str, Any]]
    # (leaf, declared event) -> DROPS (no transition takes it) or GUARDED (every transition that
    # could is guarded), where no `ignores` drops it, no `sampled` excuses it and the instance is
    # not done: see `drops`
    gaps: Mapping[tuple[str, str], int]
    leaves: frozenset[str]
    done_leaves: frozenset[str]  # top-level final states: an instance there is done
    config: Mapping[str, frozenset[str]]  # leaf -> the leaf and its ancestors (the active set)
    tags: Mapping[str, frozenset[str]]  # leaf -> tags of the active set
    ctx_defaults: Mapping[str, Any]
    ctx_deep: bool  # some default is mutable: each instance needs a deep copy
    # The host methods its hosted actions call (hosted.py), in their slot order, each with where
    # the spec first names it; every instance binds them at creation (Instance.hosted).
    hosted: tuple[tuple[str, Pos], ...]
    # host method -> the argument names of each place the spec calls it, and where: bind_host
    # checks them against the host's method, once per host class
    host_args: Mapping[str, tuple[tuple[tuple[str, ...], Pos], ...]]
    host_fns: dict[type, tuple[Callable[..., None], ...]]  # bind_host's cache, by host class

    def drops(self, leaf: str, event: str) -> int:
        """Whether `event`, dropped in `leaf`, is a drop the spec never allowed (neither `ignores`
        nor `sampled: true` excuses it): DROPS, no transition takes it there; GUARDED, transitions
        take it but all are guarded (a drop there means none held); else 0."""
        if event in self.events:
            return self.gaps.get((leaf, event), 0)
        return DROPS if event not in self.machine.ignores and leaf not in self.done_leaves else 0

    def new_ctx(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        # mappingproxy.copy() copies the dict beneath (a plain dict), ~7x faster than dict(proxy).
        ctx = copy.deepcopy(dict(self.ctx_defaults)) if self.ctx_deep else self.ctx_defaults.copy()
        if overrides:
            unknown = set(overrides) - set(self.ctx_defaults)
            if unknown:
                raise ValueError(f"machine `{self.name}` has no context variable(s) {sorted(unknown)}; "
                                 f"declared: {sorted(self.ctx_defaults)}")
            ctx.update(overrides)
        return ctx


class _Binder:
    """Does the one-off work of `BoundMachine.build`, collecting every problem before failing."""

    def __init__(self, out: BoundMachine, m: Machine, registry: Registry, params: Mapping[str, Any],
                 catalogue: Catalogue | None = None):
        self.out = out
        self.m = m
        self.registry = registry
        self.catalogue = catalogue
        self.params_in = params
        self.diags: list[Diagnostic] = []
        self.hosted: dict[str, tuple[int, Pos]] = {}  # host method -> (its slot in Instance.hosted, where named)
        # host method -> {(arg names, where)}: a state's entry action is bound once per way in
        self.host_args: dict[str, dict[tuple[tuple[str, ...], Pos], None]] = {}

    def err(self, pos: Pos, code: str, message: str, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(pos, Severity.ERROR, code, f"{self.m.name}: {message}", hint))

    def bind(self) -> None:
        m, out = self.m, self.out
        out.machine, out.name, out.spec_hash = m, m.name, m.spec_hash
        out.events = frozenset(m.events)
        out.sampled = frozenset(n for n, e in m.events.items() if e.sampled)
        out.numbers = {n: fields for n, e in m.events.items() if not e.sampled
                       if (fields := tuple(f for f, t in e.payload.items() if t in NUMBER_TYPES))}
        self._check_names()
        out.params = MappingProxyType(self._params())
        out.globals = self._globals()
        self.fast_g = fast_globals(out.globals, out.params)
        self.inputs = frozenset(m.inputs)
        # A duration reads as seconds everywhere, as duration parameters do (lint CONTEXT_DEFAULT).
        out.ctx_defaults = MappingProxyType({
            k: durations.parse_duration(v.default) if v.type == "duration" and isinstance(v.default, str)
            else v.default for k, v in m.context.items()})
        out.ctx_deep = any(not isinstance(v, (int, float, str, bool, type(None)))
                           for v in out.ctx_defaults.values())
        out.states = {n: self._state(n) for n in m.states}
        out.leaves = frozenset(n for n, s in m.states.items() if not s.children)
        out.done_leaves = frozenset(n for n in out.leaves if self._done(n))
        out.config = {n: frozenset(m.ancestors(n)) for n in out.leaves}
        out.tags = {n: frozenset().union(*(m.states[a].tags for a in m.ancestors(n))) for n in out.leaves}
        out.table = self._table()
        out.timer_reasons = self._timer_reasons()
        out.initial_entries = self._descend(None)
        out.initial_acts = any(st.entry for st in out.initial_entries)
        out.initial_entering = tuple(st for st in out.initial_entries if st.entry or st.timers)
        out.initial_leaf = out.initial_entries[-1].name if out.initial_entries else ""
        out.initial_done = self._done(out.initial_leaf)
        out.init_record = self._record(None, out.initial_leaf, "", "init", "")
        out.unhandled = {(leaf, event): self._record(leaf, None, event, "unhandled", self._unhandled(leaf, event))
                         for leaf in sorted(out.leaves) for event in m.events}
        # What the spec neither takes nor ignores where it may still act: a sender's fault (Execution)
        out.gaps = {(leaf, event): GUARDED if (leaf, event) in out.table else DROPS  # a dict: read on every send
                    for leaf in out.leaves - out.done_leaves for event in m.events
                    if event not in out.sampled and not m.ignores_in(leaf, event)
                    and all(c.test is not None for c in out.table.get((leaf, event), ()))}
        out.hosted = tuple((name, pos) for name, (_, pos) in self.hosted.items())
        out.host_args = MappingProxyType({name: tuple(uses) for name, uses in self.host_args.items()})
        out.host_fns = {}
        if self.diags:
            raise BindError(self.diags)

    # -- names and params ---------------------------------------------------

    def _check_names(self) -> None:
        for ref in self._refs():
            if ref.name not in BUILTIN_ACTIONS and ref.name not in self.registry.actions:
                self.err(ref.pos, "UNBOUND", f"no implementation for action `{ref.name}`",
                         did_you_mean(ref.name, self.registry.actions)
                         or "register it with @registry.action, or import its provider module")
        for expr in self._exprs():
            for fn in sorted(guard_calls(expr.source) - set(self.registry.guards)):
                self.err(expr.pos, "UNBOUND", f"no implementation for guard function `{fn}`",
                         did_you_mean(fn, self.registry.guards)
                         or "register it with @registry.guard, or import its provider module")

    def _refs(self) -> Iterator[ActionRef]:
        for s in self.m.states.values():
            yield from s.entry
            yield from s.exit
        for t in self.m.transitions:
            yield from t.actions

    def _exprs(self) -> Iterator[Expr]:
        for t in self.m.transitions:
            if t.guard:
                yield t.guard
        for ref in self._refs():
            yield from ref.args.values()

    def _params(self) -> dict[str, Any]:
        m = self.m
        unknown = set(self.params_in) - set(m.params)
        for name in sorted(unknown):
            self.err(m.pos, "PARAM", f"unknown parameter `{name}`", did_you_mean(name, m.params))
        values = {n: p.default for n, p in m.params.items()}
        values.update({k: v for k, v in self.params_in.items() if k in m.params})
        for n, p in m.params.items():
            if p.type == "duration":
                try:
                    values[n] = parse_duration(values[n])
                except ValueError as e:
                    self.err(p.pos, "PARAM", f"parameter `{n}`: {e}")
        return values

    def _globals(self) -> dict[str, Any]:
        g: dict[str, Any] = {"__builtins__": {}, **BUILTINS}
        g.update(self.registry.guards)
        g["params"] = Fields(self.out.params)  # params never change once bound
        return g

    # -- expressions and actions ---------------------------------------------

    def _scope(self, event: str | None) -> Scope:
        return Scope(self.m.expr_roots(event), frozenset(self.registry.guards))

    def _compile(self, source: str, pos: Pos, scope: Scope) -> Compiled | None:
        try:
            return compile_expr(source, scope)
        except ValueError as e:
            self.err(pos, "EXPR", f"expression `{source}`: {e}")
            return None

    def _actions(self, refs: tuple[ActionRef, ...], event: str | None) -> tuple[BoundAction, ...]:
        scope = self._scope(event)
        out = []
        for ref in refs:
            run = self._action(ref, scope)
            if run is not None:
                out.append(BoundAction(ref.name, ref.pos, run))
        return tuple(out)

    def _action(self, ref: ActionRef, scope: Scope) -> Callable[[Step], None] | None:
        if ref.name == "raise":
            return self._raise(ref)
        names, sources = [], []
        for k, e in ref.args.items():
            if self._compile(e.source, e.pos, scope) is not None:
                names.append(k)
                sources.append(e.source)
        args = _Args(tuple(names), sources, self.out.globals, self.fast_g, self.inputs)
        if ref.name == "assign":
            for k in names:
                if k not in self.m.context:
                    self.err(ref.pos, "ASSIGN", f"assign to undeclared context variable `{k}`",
                             did_you_mean(k, self.m.context, "ctx."))
            return _assign(args)
        fn = self.registry.actions.get(ref.name)
        if fn is None:
            return None
        check = self._bounds_check(ref, names)
        method = getattr(fn, "host_method", None)
        if method is None:
            if (why := refused_args(fn, names, ("ctx",))) is not None:
                self.err(ref.pos, "ACTION_SIGNATURE",
                         f"action `{ref.name}` is called with {listed_args(names)}: {qualname(fn)} {why}",
                         self._args_hint(ref.name))
            return _call(fn, args, check)
        # The first place the spec names it: where a host that lacks it is told to look.
        slot = self.hosted.setdefault(method, (len(self.hosted), ref.pos))[0]
        self.host_args.setdefault(method, {})[(tuple(names), ref.pos)] = None
        return _call_hosted(slot, args, check)

    def _args_hint(self, name: str) -> str:
        entry = self.catalogue.actions.get(name) if self.catalogue is not None else None
        where = f" ({entry.pos})" if entry is not None else ""
        return f"make the action's catalogue args{where} and its implementation's parameters the same names"

    def _bounds_check(self, ref: ActionRef, names: list[str]) -> Callable[[Mapping], None] | None:
        """What checks the evaluated arguments of `ref` against the catalogue's bounds of them
        (lint ARG_BOUNDS checks literals; an expression's value is known only here); None when
        no argument has bounds."""
        entry = self.catalogue.actions.get(ref.name) if self.catalogue is not None else None
        if entry is None:
            return None
        bounded = tuple((k, entry.bounds[k], entry.arg_pos.get(k, entry.pos)) for k in names if k in entry.bounds)
        return _bounds_check(ref.name, bounded) if bounded else None

    def _raise(self, ref: ActionRef) -> Callable[[Step], None] | None:
        name = _raised_event(ref, self.m)
        if name is None:
            self.err(ref.pos, "RAISE", "`raise` must name a declared event",
                     f"declared events: {', '.join(sorted(self.m.events))}")
            return None

        def run(step: Step) -> None:
            step._raised.append((name, EMPTY))
        return run

    # -- states, timers, paths -------------------------------------------------

    def _state(self, name: str) -> StateRt:
        s = self.m.states[name]
        timers = []
        for i, t in enumerate(s.timers):
            delay = self._delay(t.delay, t.delay_s, t.pos)
            if delay is not None:
                timers.append((i, t.event, delay))
        return StateRt(name, self._actions(s.entry, None), self._actions(s.exit, None), tuple(timers))

    def _delay(self, text: str, resolved: float | None, pos: Pos) -> float | None:
        if durations.looks_like_duration(text):
            try:
                return float(resolved) if resolved is not None else parse_duration(text)
            except ValueError as e:
                self.err(pos, "TIMER", f"timer delay: {e}")
                return None
        # An expression over parameters (`params.cooldown`): evaluated here, against the bound
        # params, so that overrides apply (the loader's delay_s only knows the default).
        c = self._compile(text, pos, Scope({"params": self.m.expr_roots(None)["params"]}))
        if c is None:
            return None
        try:
            return parse_duration(eval(c.code, self.out.globals, {}))  # noqa: S307 - checked above
        except (ValueError, TypeError) as e:
            self.err(pos, "TIMER", f"timer delay `{text}`: {e}")
            return None

    def _done(self, leaf: str) -> bool:
        s = self.m.states.get(leaf)
        return bool(s and s.final and s.parent is None)

    def _descend(self, start: str | None) -> tuple[StateRt, ...]:
        """`start` (if any) then its initial child, repeatedly, down to a leaf."""
        path = [self.out.states[start]] if start else []
        cur = start
        while cur is None or self.m.states[cur].children:
            nxt = self.m.initial_child(cur)
            if nxt is None:
                pos = self.m.states[cur].pos if cur else self.m.pos
                self.err(pos, "INITIAL", f"`{cur or 'the machine'}` has no initial child state")
                break
            path.append(self.out.states[nxt])
            cur = nxt
        return tuple(path)

    def _table(self) -> dict[tuple[str, str], tuple[Candidate, ...]]:
        m = self.m
        by_state: dict[tuple[str, str], list[Transition]] = {}
        star: dict[str, list[Transition]] = {}
        for t in m.transitions:
            for src in t.sources:
                if src == "*":
                    star.setdefault(t.event, []).append(t)
                elif src in m.states:
                    by_state.setdefault((src, t.event), []).append(t)
        for lst in (*by_state.values(), *star.values()):
            lst.sort(key=selection_order)
        bound_t = {t.index: self._transition(t) for t in m.transitions}
        table = {}
        for leaf in sorted(n for n, s in m.states.items() if not s.children):
            chain = m.ancestors(leaf)
            for event in m.events:
                cands = self._select(leaf, chain, event, by_state, star, bound_t)
                if cands:
                    table[(leaf, event)] = cands
        return table

    def _transition(self, t: Transition) -> _BoundTransition:
        guard, forms = None, None
        if t.guard is not None:
            guard = self._compile(t.guard.source, t.guard.pos, self._scope(t.event))
            if guard is not None:
                inputs, g, params = self.inputs, self.fast_g, self.out.params
                forms = (Lazy(lambda: fast_value([guard.source], inputs, g)),
                         Lazy(lambda: fast_reads(guard.reads, inputs, g, params)))
        reason = guard.source if guard is not None else self._unguarded(t)
        return guard, forms, self._actions(t.actions, t.event), reason

    def _unguarded(self, t: Transition) -> str:
        """The reason an unguarded transition's record gives: what the spec says of it, the
        transition's `description`, else its event's, else the event alone (docs/spec-format.md).
        On one line and without its last full stop: other reasons follow it after `; `."""
        ev = self.m.events.get(t.event)
        text = " ".join((t.description or (ev.description if ev is not None else "")).split())
        return text.removesuffix(".") or f"on `{t.event}` (unguarded)"

    def _select(self, leaf: str, chain: tuple[str, ...], event: str,
                by_state: Mapping[tuple[str, str], list[Transition]], star: Mapping[str, list[Transition]],
                bound_t: Mapping[int, _BoundTransition]) -> tuple[Candidate, ...]:
        found: list[tuple[str, Transition]] = []
        seen: set[int] = set()
        for s in chain:
            for t in by_state.get((s, event), ()):
                if t.index not in seen:
                    seen.add(t.index)
                    found.append((s, t))
        # `*` is every non-final state; seen from this leaf it is the innermost non-final one.
        src = next((s for s in chain if not self.m.states[s].final), None)
        if src is not None:
            found += [(src, t) for t in star.get(event, ()) if t.index not in seen]
        return tuple(self._candidate(leaf, chain, s, t, bound_t[t.index]) for s, t in found)

    def _candidate(self, leaf: str, chain: tuple[str, ...], source: str, t: Transition,
                   bound: _BoundTransition) -> Candidate:
        guard, forms, actions, reason = bound
        code, src, reads = (guard.code, guard.source, guard.reads) if guard else (None, "", ())
        if t.target is None:
            return Candidate(t, source, code, src, reads, actions, (), (), leaf, self._done(leaf), forms,
                             self._record(leaf, None, t.event, "transition", reason))
        if t.target not in self.m.states:
            self.err(t.pos, "TARGET", f"unknown target state `{t.target}`", did_you_mean(t.target, self.m.states))
            return Candidate(t, source, code, src, reads, actions, (), (), leaf, False, forms)
        left, entered = self.m.external_path(leaf, source, t.target)
        exits = [self.out.states[s] for s in left]
        entries = [*(self.out.states[s] for s in entered), *self._descend(t.target)[1:]]
        new_leaf = entries[-1].name
        return Candidate(t, source, code, src, reads, actions, tuple(exits), tuple(entries),
                         new_leaf, self._done(new_leaf), forms,
                         self._record(leaf, new_leaf, t.event, "transition", reason))

    def _timer_reasons(self) -> dict[tuple[str, int], dict[str, str]]:
        """For each timer, the reasons of the transitions its event fires (seen from any leaf where
        its state is active), each led by which timer fired: `after 15m in `cooldown` (params.cooldown)`.
        The interpreter swaps them in only when the timer fires: a host may send the same event
        (an order's `ack_timeout` on an unknown venue answer), and then no timer fired."""
        out = {}
        for name, st in self.out.states.items():
            for i, event, delay in st.timers:
                after, written = durations.format_duration(delay), self.m.states[name].timers[i].delay.strip()
                timer = f"after {after} in `{name}`" + ("" if written == after else f" ({written})")
                reasons = {c.record["reason"]: f"{timer}: {c.record['reason']}"
                           for leaf, active in self.out.config.items() if name in active
                           for c in self.out.table.get((leaf, event), ()) if c.record is not None}
                if reasons:
                    out[(name, i)] = reasons
        return out

    def _unhandled(self, leaf: str, event: str) -> str:
        """The reason an unhandled record of `event` in `leaf` gives (docs/spec-format.md, Semantics)."""
        if (leaf, event) in self.out.table:
            return f"no enabled transition for `{event}` from `{leaf}` (guards false)"
        if self.m.ignores_in(leaf, event):
            return f"`{event}` ignored in `{leaf}` by the spec (`ignores`)"
        return f"no transition for `{event}` from `{leaf}`"

    def _record(self, source: str | None, target: str | None, event: str, kind: str,
                reason: str) -> dict[str, Any]:
        return record_template(self.out.name, self.out.spec_hash, source, target, event, kind, reason)


def _values_code(sources: list[str]) -> CodeType:
    """One code object evaluating every argument (each already checked by compile_expr) to a
    tuple, in order: an action's arguments cost one eval, not one per argument."""
    elts = [ast.parse(src.strip(), mode="eval").body for src in sources]
    tree = ast.fix_missing_locations(ast.Expression(ast.Tuple(elts, ast.Load())))
    return compile(tree, f"<args {' ; '.join(sources)!r}>", "eval")


class _Args:
    """An action's named argument expressions: `values(step)` is {name: value}, by the fast
    form when it covers the step's data, else by evaluating `code` (the tuple of them) over
    `step.env()` (`general`). The action closures below inline `values`: a frame less per action."""

    __slots__ = ("names", "code", "g", "fast")

    def __init__(self, names: tuple[str, ...], sources: list[str], g: dict[str, Any],
                 fast_g: dict[str, Any], inputs: frozenset[str]):
        self.names = names
        self.code = _values_code(sources)
        self.g = g
        self.fast = Lazy(lambda: fast_value(sources, inputs, fast_g, keys=names))

    def values(self, step: Step) -> dict[str, Any]:
        out = (self.fast.fn or self.fast.get())(step.instance.ctx, step.payload, step.inputs)
        return self.general(step) if out is SLOW else out

    def general(self, step: Step) -> dict[str, Any]:
        return dict(zip(self.names, eval(self.code, self.g, step.env()), strict=True))  # noqa: S307 - AST-whitelisted


def _assign(args: _Args) -> Callable[[Step], None]:
    fast, general = args.fast, args.general

    def run(step: Step) -> None:
        # Every right-hand side sees ctx as it was before this assign (simultaneous assignment).
        ctx = step.instance.ctx
        values = (fast.fn or fast.get())(ctx, step.payload, step.inputs)
        if values is SLOW:
            values = general(step)
        ctx.update(values)
        if step._env is not None:  # expressions evaluated later in this step see the new values
            step._env["ctx"].__dict__.update({k: _wrap(v) for k, v in values.items()})
    return run


def _bounds_check(action: str, bounded: tuple[tuple[str, Bounds, Pos], ...]) -> Callable[[Mapping], None]:
    def check(values: Mapping[str, Any]) -> None:
        for name, bounds, where in bounded:
            v = values[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not bounds.contains(v):
                raise ValueError(f"argument `{name}` of `{action}` is {v!r}, out of its bounds: it must be "
                                 f"{bounds.what()} (declared at {where})")
    return check


def _call(fn: Callable[..., None], args: _Args, check: Callable[[Mapping], None] | None = None,
          ) -> Callable[[Step], None]:
    if not args.names:
        return fn  # the step is the ActionContext
    if check is not None:
        def run_checked(step: Step) -> None:
            values = args.values(step)
            check(values)
            fn(step, **values)
        return run_checked

    def run(step: Step) -> None:
        fn(step, **args.values(step))
    return run


def _call_hosted(slot: int, args: _Args, check: Callable[[Mapping], None] | None = None,
                 ) -> Callable[[Step], None]:
    """A hosted action (hosted.py): the host's method that the instance bound at creation
    (`Instance.hosted[slot]`, bind_host), called with the host: no lookup by name per call.
    `check`: raises on arguments outside the catalogue's bounds, before the host sees them."""
    fast, general = args.fast, args.general
    if not args.names:
        def run_bare(step: Step) -> None:
            inst = step.instance
            inst.hosted[slot](inst.host, step)
        return run_bare
    if check is not None:
        def run_checked(step: Step) -> None:
            inst = step.instance
            values = args.values(step)
            check(values)
            inst.hosted[slot](inst.host, step, **values)
        return run_checked

    def run_hosted(step: Step) -> None:
        inst = step.instance
        kwargs = (fast.fn or fast.get())(inst.ctx, step.payload, step.inputs)
        if kwargs is SLOW:
            kwargs = general(step)
        inst.hosted[slot](inst.host, step, **kwargs)
    return run_hosted


def _raised_event(ref: ActionRef, m: Machine) -> str | None:
    """The declared event a `raise` names (ActionRef.raised), or None."""
    name = ref.raised()
    return name if name in m.events else None


def refused_args(fn: Callable[..., Any], names: Iterable[str], leading: tuple[str, ...]) -> str | None:
    """Why `fn` cannot be called with these keyword arguments after its `leading` positional ones
    (the action context; a host method's self as well), or None when it can: a catalogue entry
    whose args the spec and the implementation name differently fails at load, not when the
    event that runs it arrives (a kill switch's alert, mid-run)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return None
    try:
        sig.bind(*leading, **dict.fromkeys(names))
    except TypeError as e:
        return f"takes ({', '.join(p for p in sig.parameters)}): {e}"
    return None


def listed_args(names: Iterable[str]) -> str:
    shown = ", ".join(names)
    return f"args ({shown})" if shown else "no args"
