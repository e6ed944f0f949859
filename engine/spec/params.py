"""Effective parameter values (default, then env override, then stage override) and their checks."""
from __future__ import annotations

from typing import Any

from engine.diagnostics import Diagnostic, Pos, Severity, did_you_mean
from engine.spec.durations import parse_duration
from engine.spec.ir import Param, SpecSet

_NUMERIC = ("float", "money", "fraction")


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


def value_problem(param: Param, value: Any) -> str | None:
    """Why `value` is not valid for `param` (type, then min/max), or None."""
    t = param.type
    if t == "duration":
        if not isinstance(value, str):
            return f"must be a duration such as 15m, not `{value!r}`"
        try:
            number = parse_duration(value)
        except ValueError as e:
            return str(e)
    elif t == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"must be an integer, not `{value!r}`"
    elif t in _NUMERIC and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"must be a number, not `{value!r}`"
    elif t == "bool" and not isinstance(value, bool):
        return f"must be true or false, not `{value!r}`"
    elif t == "str" and not isinstance(value, str):
        return f"must be a string, not `{value!r}`"
    else:
        number = value
    if t in ("bool", "str"):
        return None
    if t == "fraction" and not 0 <= number <= 1:
        return f"`{value}` is not a fraction between 0 and 1"
    if param.min is not None and number < param.min:
        return f"`{value}` is below the minimum {_show(param, param.min)}"
    if param.max is not None and number > param.max:
        return f"`{value}` is above the maximum {_show(param, param.max)}"
    return None


def _show(param: Param, bound: float) -> str:
    shown = int(bound) if float(bound).is_integer() else bound
    return f"{shown}s" if param.type == "duration" else str(shown)


def check_overrides(specset: SpecSet) -> list[Diagnostic]:
    """PARAM_BOUNDS for bad defaults and override values; UNRESOLVED_OVERRIDE for unknown names."""
    out = []
    for m in specset.machines.values():
        for p in m.params.values():
            problem = value_problem(p, p.default)
            if problem:
                out.append(_err(p.pos, "PARAM_BOUNDS", f"default of `{m.name}.{p.name}` {problem}"))
    for o in specset.overrides:
        for machine, values in o.values.items():
            where = o.positions.get(machine, o.pos)
            m = specset.machines.get(machine)
            if m is None:
                out.append(_err(where, "UNRESOLVED_OVERRIDE", f"no machine named `{machine}`",
                                did_you_mean(machine, specset.machines)))
                continue
            for name, value in values.items():
                pos = o.positions.get(f"{machine}.{name}", where)
                p = m.params.get(name)
                if p is None:
                    out.append(_err(pos, "UNRESOLVED_OVERRIDE", f"machine `{machine}` has no parameter `{name}`",
                                    did_you_mean(name, m.params) or f"declare it under `parameters` in {m.path}"))
                elif problem := value_problem(p, value):
                    out.append(_err(pos, "PARAM_BOUNDS", f"`{machine}.{name}` {problem}",
                                    f"declared at {p.pos}"))
    return out


def _err(pos: Pos, code: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(pos, Severity.ERROR, code, message, hint)
