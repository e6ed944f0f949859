"""Effective parameter values (default, then env override, then stage override) and their checks."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from engine.diagnostics import Diagnostic, Pos, Severity, did_you_mean
from engine.spec.contract import stages_of
from engine.spec.bounds import Bounds, number, typed_bounds, yaml_word
from engine.spec.durations import duration_problem, parse_duration
from engine.spec.ir import KINDS, Overrides, Param, SpecSet

if TYPE_CHECKING:
    from engine.spec.lint._base import Sources

_NUMERIC = ("float", "money", "fraction")
ENVIRONMENTS_KIND = "environments"  # the document declaring the env names (specs/overrides/environments.yaml)


def effective_params(specset: SpecSet, machine_name: str, stage: int | None = None,
                     env: str | None = None) -> dict[str, Any]:
    """Parameter values for one machine in a stage/environment; durations in seconds.

    Overrides of unknown parameters are ignored here: check_overrides reports them.
    """
    params = specset.machines[machine_name].params
    values = {n: p.default for n, p in params.items()}
    for scope, key in (("env", env), ("stage", stage)):
        if key is None:
            continue
        for o in specset.overrides:
            if o.scope == scope and o.key == str(key):
                values.update((n, v) for n, v in o.values.get(machine_name, {}).items() if n in params)
    return {n: _seconds(v) if params[n].type == "duration" else v for n, v in values.items()}


def _seconds(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


def value_problem(param: Param, value: Any) -> tuple[str, str] | None:
    """Why `value` is not valid for `param` (type, then its bounds) and a hint, or None."""
    t = param.type
    if t in ("bool", "str"):
        ok = isinstance(value, bool) if t == "bool" else isinstance(value, str)
        return None if ok else (f"must be {_WORDS[t]}, not {yaml_word(value)}", f"write {_WORDS[t]}")
    bounds = param_bounds(param)
    if bounds.empty:
        bounds = Bounds(integer=bounds.integer, noun=bounds.noun)  # reported once, as empty_bounds says
    show = _span if t == "duration" else number
    preferred = _seconds_or_none(param.default) if t == "duration" else param.default
    hint = bounds.hint(value, preferred, show)
    if t == "duration":
        if bad := duration_problem(value):
            return bad[0], bad[1] or hint
        amount = parse_duration(value)
    elif isinstance(value, bool) or not isinstance(value, int if t == "int" else (int, float)):
        return f"must be {bounds.what()}, not {yaml_word(value)}", hint
    else:
        amount = value
    return None if bounds.contains(amount) else (f"`{value}` is out of bounds: it must be {bounds.text(show)}", hint)


_WORDS = {"bool": "true or false", "str": "a string"}


def empty_bounds(param: Param) -> tuple[str, str] | None:
    """Why no value fits `param`'s `min` and `max` (written the wrong way round, or outside the
    0..1 of a fraction) and a hint; None when some value does. Values are then checked by type only:
    each would be told `must be from 0.9 to 0.5`, which no value can be."""
    if not param_bounds(param).empty:
        return None
    lo, hi = param.min, param.max
    if lo is not None and hi is not None and lo > hi:
        return f"has `min` {number(lo)} above `max` {number(hi)}: no value fits", "swap them: `min` is the lower bound"
    written = [f"`{k}` {number(v)}" for k, v in (("min", lo), ("max", hi)) if v is not None]
    return (f"has {' and '.join(written)}, which leave{'s' * (len(written) == 1)} no fraction from 0 to 1 to fit",
            "give a fraction's bounds within 0 and 1")


def param_bounds(param: Param) -> Bounds:
    """The range a parameter's value must lie in: its min and max, within 0..1 for a fraction."""
    return typed_bounds(param.type, param.min, param.max)


def _seconds_or_none(value: Any) -> float | None:
    try:
        return parse_duration(value)
    except ValueError:
        return None


def _span(seconds: float) -> str:
    """Seconds as a spec writes a duration: 15m, 2h, 90s."""
    for unit, n in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds and seconds % n == 0:
            return f"{seconds / n:g}{unit}"
    return f"{seconds:g}s"


def check_overrides(specset: SpecSet) -> list[Diagnostic]:
    """PARAM_BOUNDS for bad defaults and override values, UNRESOLVED_OVERRIDE for unknown names,
    stages and environments, OVERRIDE_CONFLICT for two files setting one value differently."""
    from engine.spec.lint._base import Sources  # the linter's package imports this module's users

    sources, out = Sources(), []
    for m in specset.machines.values():
        for p in m.params.values():
            if empty := empty_bounds(p):
                key = "min" if p.min is not None else "max"
                out.append(_err(sources.value_pos(p.pos, key), "PARAM_BOUNDS", f"`{m.name}.{p.name}` {empty[0]}",
                                empty[1]))
            bad = value_problem(p, p.default)
            if bad:
                pos = sources.value_pos(p.pos, "default")
                out.append(_err(pos, "PARAM_BOUNDS", f"default of `{m.name}.{p.name}` {bad[0]}", bad[1]))
    for o in specset.overrides:
        out += _stage_key(specset, o) + _env_key(specset, o)
        for machine, values in o.values.items():
            out += _values(specset, o, machine, values, sources)
    return out + _conflicts(specset)


def _stage_key(specset: SpecSet, o: Overrides) -> list[Diagnostic]:
    """An override for a stage the rollout does not have would never apply."""
    rollout = next((m for m in specset.machines.values() if m.kind == "rollout"), None)
    if o.scope != "stage" or rollout is None:
        return []
    keys = [str(s) for s in stages_of(rollout)]
    if o.key in keys:
        return []
    return [_err(o.key_pos or o.pos, "UNRESOLVED_OVERRIDE", f"stage `{o.key}` is not a stage of `{rollout.name}`",
                 f"stages in {rollout.path}: {', '.join(keys) or '(none)'}")]


def declared_envs(specset: SpecSet) -> list[str]:
    """Every environment the `kind: environments` documents of the set declare."""
    docs = [specset.extra[n] for n, kind in specset.extra_kinds.items() if kind == ENVIRONMENTS_KIND]
    return list(dict.fromkeys(name for doc in docs for name in doc.environments))


def unknown_env_hint(specset: SpecSet, key: str) -> str:
    """Did you mean, and the declared environments (where to add one)."""
    known = declared_envs(specset)
    listed = f"known envs: {', '.join(known) or '(none)'} (declare one in specs/overrides/environments.yaml)"
    close = did_you_mean(key, known)
    return f"{close} {listed}" if close else listed


def _env_key(specset: SpecSet, o: Overrides) -> list[Diagnostic]:
    """An override for an environment no run can select would never apply. Unchecked in a set
    that declares none (a fragment; a whole tree without one is MISSING_DOCUMENT) or whose
    declaration failed to load (that file says why)."""
    known = declared_envs(specset)
    if o.scope != "env" or not known or o.key in known or specset.may_define((ENVIRONMENTS_KIND,)):
        return []
    return [_err(o.key_pos or o.pos, "UNRESOLVED_OVERRIDE", f"env `{o.key}` is not a declared environment",
                 unknown_env_hint(specset, o.key))]


def _values(specset: SpecSet, o: Overrides, machine: str, values: Mapping[str, Any],
            sources: Sources) -> list[Diagnostic]:
    where = o.positions.get(machine, o.pos)
    m = specset.machines.get(machine)
    if m is None:
        if specset.may_define(KINDS, machine):
            return []  # its file failed to load and says so already
        return [_err(where, "UNRESOLVED_OVERRIDE", f"no machine named `{machine}`",
                     _not_a_machine(specset, machine) or did_you_mean(machine, specset.machines))]
    out = []
    for name, value in values.items():
        pos = o.positions.get(f"{machine}.{name}", where)
        p = m.params.get(name)
        if p is None:
            out.append(_err(pos, "UNRESOLVED_OVERRIDE", f"machine `{machine}` has no parameter `{name}`",
                            did_you_mean(name, m.params) or f"declare it under `parameters` in {m.path}"))
        elif bad := value_problem(p, value):
            out.append(_err(sources.value_pos(pos, name), "PARAM_BOUNDS", f"`{machine}.{name}` {bad[0]}",
                            f"{bad[1]} (declared at {p.pos})"))
    return out


def _not_a_machine(specset: SpecSet, name: str) -> str | None:
    """The hint for an override of another document of the set (the risk spec's limits, say),
    which no override reaches: that would be the natural place to look for a per-stage limit."""
    kind = specset.extra_kinds.get(name)
    if kind is None:
        return None
    return (f"`{name}` is the {kind} spec ({specset.extra_pos[name].file}), not a machine: overrides set machine "
            f"parameters only, so its values are set in that file, for every stage and environment")


def _conflicts(specset: SpecSet) -> list[Diagnostic]:
    """Two override files of one scope and key that set a parameter differently: which one
    applies would depend on file order, so neither is taken silently."""
    first: dict[tuple[str, str, str, str], tuple[Any, Pos]] = {}
    out = []
    for o in specset.overrides:
        for machine, values in o.values.items():
            for name, value in values.items():
                pos = o.positions.get(f"{machine}.{name}", o.pos)
                seen = first.setdefault((o.scope, o.key, machine, name), (value, pos))
                if seen[1] != pos and seen[0] != value:
                    out.append(_err(pos, "OVERRIDE_CONFLICT",
                                    f"{o.scope} `{o.key}` sets `{machine}.{name}` to `{value}` here and to "
                                    f"`{seen[0]}` at {seen[1]}",
                                    "keep one value: delete it from one of the files"))
    return out


def _err(pos: Pos, code: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(pos, Severity.ERROR, code, message, hint)
