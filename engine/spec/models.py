"""Pydantic models of the spec documents (docs/spec-format.md), and their errors as diagnostics.

These models say what a well-formed document looks like; the loader turns a
validated one into the IR. They are strict (no "3" for 3, no `yes` for true) and
forbid unknown keys, so a typo is an error with a did-you-mean, never a silently
ignored rule. Unions are discriminated by the shape of the input (mapping, list
or scalar) so that a bad value yields one precise error, not one per union member.
This module imports only pydantic: `engine validate` must stay light.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import re
import types
import typing
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Union

# Stagecraft uses no pydantic plugins, and looking for them scans the entry points of every
# installed distribution: 30-90 ms of `engine validate`. Must be set before any model is built.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, ValidationError,
    WithJsonSchema, model_validator)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from engine.diagnostics import Diagnostic, Severity, did_you_mean
from engine.spec.bounds import Bounds, typed_bounds, yaml_word
from engine.spec.durations import EXAMPLES
from engine.spec.yamlio import YamlDoc

MACHINE_KINDS = ("rollout", "orders", "gates", "kill")

ParamTypeName = Literal["float", "int", "bool", "str", "duration", "money", "fraction"]
# Value types of context variables, inputs, payloads and catalogue arguments.
FieldType = Literal["float", "int", "bool", "str", "duration", "money", "fraction",
                    "timestamp", "list", "map"]
Provider = Literal["engine", "strategies", "risk", "adapters", "rl", "state"]
DomainName = Literal["crypto_spot", "crypto_perp", "forex", "forex_options"]
DomainMode = Literal["off", "paper", "live"]
# Names that expressions and docs refer to: `params.NAME`, `event.FIELD`, state ids.
Ident = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def _scalar_tag(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float"}.get(type(value), "str")


# An expression: text, or a YAML number/boolean that stands for its own literal.
ExprValue = Annotated[
    Union[Annotated[str, Tag("str")], Annotated[bool, Tag("bool")],
          Annotated[int, Tag("int")], Annotated[float, Tag("float")]],
    Discriminator(_scalar_tag),
    # JSON Schema's `number` takes an integer too: as a oneOf of the four, `1` matched two and failed.
    WithJsonSchema({"type": ["string", "boolean", "number"]}),
]
StrOrList = Annotated[
    Union[Annotated[str, Tag("scalar")], Annotated[list[str], Field(min_length=1), Tag("list")]],
    Discriminator(lambda v: "list" if isinstance(v, list) else "scalar"),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ParamModel(Strict):
    type: ParamTypeName
    default: Any
    unit: str | None = None
    min: float | str | None = Field(default=None, description="a number; a duration for duration params")
    max: float | str | None = None
    description: str = ""


class ContextVarModel(Strict):
    type: FieldType
    default: Any = None
    description: str = ""


class InputModel(Strict):
    description: str = ""
    fields: dict[Ident, FieldType] = {}


class EventModel(Strict):
    description: str = ""
    payload: dict[Ident, FieldType] = {}
    sampled: bool = False


class CommandModel(Strict):
    event: Ident
    description: str = ""


def _not_bare(text: str) -> str:
    """A delay of digits alone (`90`, quoted or not) has no unit: seconds, minutes, days?"""
    if text.strip().replace(".", "", 1).isdigit():
        raise PydanticCustomError("duration", "`{text}` has no unit", {
            "text": text.strip(), "hint": f"write {text.strip()}s for seconds or {text.strip()}m for minutes "
                                          f"(a duration is {EXAMPLES})"})
    return text


class TimerModel(Strict):
    delay: Annotated[str, AfterValidator(_not_bare)] = Field(
        description="a literal duration (15m) or an expression naming a duration parameter")
    event: Ident


ActionArgs = Annotated[
    Union[Annotated[dict[Ident, ExprValue], Tag("map")], Annotated[str, Tag("scalar")],
          Annotated[None, Tag("none")]],
    Discriminator(lambda v: "none" if v is None else ("map" if isinstance(v, dict) else "scalar")),
]


def _one_action(call: dict[str, Any]) -> dict[str, Any]:
    if len(call) != 1:
        raise ValueError("an action mapping has exactly one key, the action's name, "
                         "e.g. `- notify: {text: \"'done'\"}`")
    (name, args), = call.items()
    if name == "raise" and not isinstance(args, str):
        raise ValueError("`raise` takes the event name, e.g. `- raise: kill_close_only`")
    if name != "raise" and isinstance(args, str):
        raise ValueError(f"`{name}` takes a mapping of arguments, e.g. `- {name}: {{arg: expr}}`")
    if name == "assign" and not args:
        raise ValueError("`assign` takes a mapping of context variables to expressions")
    return call


Action = Annotated[
    Union[Annotated[Ident, Tag("name")],
          Annotated[dict[Ident, ActionArgs], AfterValidator(_one_action), Tag("call")]],
    Discriminator(lambda v: "call" if isinstance(v, dict) else "name"),
]
Timers = Annotated[
    Union[Annotated[TimerModel, Tag("map")], Annotated[list[TimerModel], Tag("list")]],
    Discriminator(lambda v: "list" if isinstance(v, list) else "map"),
]


class StateModel(Strict):
    description: str = ""
    initial: bool = False
    final: bool = False
    tags: list[str] = []
    ignores: list[Ident] = Field(default=[], description="events this state (and every state inside it) deliberately "
                                                         "drops when no transition takes them")
    entry: list[Action] = []
    exit: list[Action] = []
    after: Timers | None = None
    states: dict[Ident, StateModel | None] = {}


class RolloutStateModel(StateModel):
    gate: Ident | None = Field(default=None, description="the gates/ machine that governs promotion out of here")
    domains: dict[DomainName, DomainMode] = {}
    states: dict[Ident, RolloutStateModel | None] = {}


class GateStateModel(StateModel):
    measures: Ident | None = Field(default=None, description=(
        "the phase whose KPIs the gate reads here (default: the state's name): states naming the same "
        "phase share one measurement, which restarts when the gate enters a state measuring another"))
    states: dict[Ident, GateStateModel | None] = {}


def _star_alone(source: str | list[str]) -> str | list[str]:
    """`"*"` in a list beside states would mean every state anyway, and the docs and diagrams
    read a list as the states it names: it stands alone."""
    if isinstance(source, list) and "*" in source and len(source) > 1:
        raise PydanticCustomError("star_in_list", '`"*"` already names every non-final state', {
            "hint": 'write `source: "*"` alone, or list the states without it'})
    return source


class TransitionModel(Strict):
    event: Ident
    source: Annotated[StrOrList, AfterValidator(_star_alone)] = Field(
        description='a state, a list of states, or "*" (every non-final state)')
    target: Ident | None = None
    guard: ExprValue | None = None
    actions: list[Action] = []
    priority: int | None = None
    description: str = ""


class MustActModel(Strict):
    """From each `source` state, some transition on `event` that can run there runs `action`
    and/or goes to `target`: what the machine must do with the event, not just take it."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["action"]}, {"required": ["target"]}]})

    event: Ident
    source: StrOrList = Field(description="the states (a compound one: each state inside it) it must hold in")
    action: Ident | None = Field(default=None, description="an action the transition (or the entry of its target) runs")
    target: Ident | None = Field(default=None, description="the state the transition goes to (or one inside it)")

    @model_validator(mode="after")
    def _does_something(self) -> MustActModel:
        if self.action is None and self.target is None:
            raise ValueError("`must_act` names an `action`, a `target` or both: what the transition must do")
        return self


class NeverWidensModel(Strict):
    """In each `source` state, a transition that assigns `field` keeps `tighter` true of the new
    value against the old (`engine validate` searches for a counterexample); `exempt` events set
    it to what a venue holds, which is a fact to record, not a decision to prove."""

    field: Ident = Field(description="the context variable, e.g. stop")
    source: StrOrList = Field(description="the states (a compound one: each state inside it) where it is set")
    tighter: str = Field(description="true when `new` is no looser than `old`; may read ctx and params")
    exempt: list[Ident] = Field(default=[], description="events whose transitions are not held to it")


class CheckModel(Strict):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})  # one kind each
    # Not Optional: the one key given must have a value (`- must_handle:` alone is a type error
    # at that key); the None defaults only mark the keys not given, and are never validated.
    reachable_from_all: StrOrList = None  # type: ignore[assignment]
    must_handle: StrOrList = None  # type: ignore[assignment]
    unreachable: StrOrList = None  # type: ignore[assignment]
    must_act: MustActModel = None  # type: ignore[assignment]
    never_widens: NeverWidensModel = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _one_kind(self) -> CheckModel:
        if len(self.model_fields_set) != 1:
            raise ValueError("a check has exactly one key: reachable_from_all, must_handle, unreachable, "
                             "must_act or never_widens")
        return self


class MachineBase(Strict):
    name: Ident
    version: int = Field(ge=1)
    description: str = ""
    parameters: dict[Ident, ParamModel] = {}
    context: dict[Ident, ContextVarModel] = {}
    inputs: dict[Ident, InputModel] = {}
    events: dict[Ident, EventModel | None] = {}
    commands: dict[Ident, CommandModel] = {}
    broadcasts: list[Ident] = []
    ignores: list[Ident] = []
    transitions: list[TransitionModel] = []
    checks: list[CheckModel] = []


class MachineModel(MachineBase):
    kind: Literal["orders", "kill"]
    states: dict[Ident, StateModel | None] = Field(min_length=1)


class GateMachineModel(MachineBase):
    kind: Literal["gates"]
    states: dict[Ident, GateStateModel | None] = Field(min_length=1)


class RolloutMachineModel(MachineBase):
    kind: Literal["rollout"]
    states: dict[Ident, RolloutStateModel | None] = Field(min_length=1)


_BOUNDED_ARGS = ("float", "int", "money", "fraction")


class ArgModel(Strict):
    """A catalogue argument's long form, `{type: fraction, min: 0.1}`: its type and the bounds
    every value the spec passes must lie in (lint ARG_BOUNDS; the run refuses a value outside)."""

    type: FieldType
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> ArgModel:
        if (self.min is not None or self.max is not None) and self.type not in _BOUNDED_ARGS:
            raise ValueError(f"`min`/`max` bound a number: a `{self.type}` argument takes neither "
                             f"(types with bounds: {', '.join(_BOUNDED_ARGS)})")
        if typed_bounds(self.type, self.min, self.max).empty:
            raise ValueError(f"no {self.type} fits `min` {self.min} and `max` {self.max}"
                             + (" within 0 and 1" if self.type == "fraction" else "")
                             + ": `min` is the lower bound")
        return self


# A catalogue argument: its type (`qty: float`), or the long form with bounds.
ArgDecl = Annotated[
    Union[Annotated[FieldType, Tag("scalar")], Annotated[ArgModel, Tag("map")]],
    Discriminator(lambda v: "map" if isinstance(v, dict) else "scalar"),
]


class CatalogueEntryModel(Strict):
    provider: Provider
    args: dict[Ident, ArgDecl] = {}
    # The kinds of machine that may name it (none: any). Its host does the right thing only there.
    kinds: list[Literal["rollout", "orders", "gates", "kill"]] = []
    description: str = ""


class CatalogueModel(Strict):
    kind: Literal["catalogue"]
    guards: dict[Ident, CatalogueEntryModel] = {}
    actions: dict[Ident, CatalogueEntryModel] = {}


class OverridesModel(Strict):
    kind: Literal["overrides"]
    scope: Literal["stage", "env"]
    key: str = Field(min_length=1, description='stage number ("2") or environment name (paper), as declared')
    values: dict[Ident, dict[Ident, Any]] = {}

    @model_validator(mode="after")
    def _stage_key(self) -> OverridesModel:
        if self.scope == "stage" and not self.key.isdigit():
            raise ValueError(f'a stage key is a stage number such as "2", not `{self.key}`')
        return self


class EnvironmentsModel(Strict):
    """The run environments: what a run config's `env:` may select and a `scope: env` override
    may target (a misspelt key would otherwise never apply, silently)."""

    kind: Literal["environments"]
    environments: dict[Ident, str] = Field(min_length=1, description="environment name -> what runs in it")


def model_for_kind(kind: str) -> type[Strict]:
    """The model for a built-in kind (a machine kind, catalogue or overrides)."""
    if kind == "rollout":
        return RolloutMachineModel
    if kind == "gates":
        return GateMachineModel
    if kind in MACHINE_KINDS:
        return MachineModel
    return {"catalogue": CatalogueModel, "overrides": OverridesModel}[kind]


def json_schema(kind: str) -> dict[str, Any]:
    """JSON Schema for `engine schema`: machine, catalogue, overrides, a registered kind, or all."""
    from engine.spec.documents import DOCUMENT_KINDS, document_model

    members: dict[str, list[Any]] = {
        "machine": [RolloutMachineModel, GateMachineModel, MachineModel],
        "catalogue": [CatalogueModel],
        "overrides": [OverridesModel],
    }
    members.update({k: [document_model(k)] for k in DOCUMENT_KINDS if kind in (k, "all")})
    chosen = [m for k, ms in members.items() if kind in (k, "all") for m in ms]
    tp: Any = chosen[0]
    if len(chosen) > 1:
        by_kind = all("kind" in m.model_fields for m in chosen)
        tp = Annotated[Union[tuple(chosen)], Field(discriminator="kind")] if by_kind else Union[tuple(chosen)]
    schema = TypeAdapter(tp).json_schema()
    _closed_names(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema.setdefault("title", f"Stagecraft {kind} spec")
    return schema


def _closed_names(node: Any) -> None:
    """A map keyed by names (states, events: `patternProperties`) takes no key that is not one, as
    the loader refuses `cool-down`; pydantic leaves such keys open in the schema."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _closed_names(value)
    elif isinstance(node, list):
        for value in node:
            _closed_names(value)


# --- pydantic errors -> diagnostics -------------------------------------------------

_TYPE_WORDS = {
    "int_type": "an integer", "float_type": "a number", "string_type": "a string",
    "bool_type": "true or false", "dict_type": "a mapping", "model_type": "a mapping",
    "model_attributes_type": "a mapping", "list_type": "a list", "none_required": "empty",
    "bool_parsing": "true or false",
}


# Errors about a number: its type (strict or parsed from text) or its bounds.
_BOUND_KINDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
_NUMBER_KINDS = ("int_type", "float_type", "int_parsing", "int_from_float", "float_parsing") + _BOUND_KINDS


def _data_path(data: Any, loc: tuple[Any, ...], missing: bool) -> tuple[tuple[Any, ...], bool]:
    """The YAML path of a pydantic loc (union tags dropped) and whether it names a key.

    A `missing` error's last loc element is the absent key, kept so its name can be shown.
    """
    path: list[Any] = []
    cur = data
    for i, part in enumerate(loc):
        if part == "[key]":
            return tuple(path), True
        if isinstance(cur, dict) and (key := _yaml_key(cur, part)) is not _NO_KEY:
            part, cur = key, cur[key]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
        elif not (missing and i == len(loc) - 1):
            continue  # a union tag
        path.append(part)
    return tuple(path), False


_NO_KEY = object()


def _as_written(key: Any) -> str:
    """A key as the spec writes it: `null`, `true`, `2024-01-01`, not Python's None, True, date."""
    if key is None or isinstance(key, bool):
        return json.dumps(key)
    return key.isoformat() if isinstance(key, (datetime.date, datetime.datetime)) else str(key)


def _yaml_key(mapping: dict[Any, Any], part: Any) -> Any:
    """The key of `mapping` that pydantic's loc element `part` stands for, or _NO_KEY. A loc
    names a float, null or date key by its repr (`'1.5'`, `'None'`) and a boolean one as an int."""
    exact = next((k for k in mapping if type(k) is type(part) and k == part), _NO_KEY)
    if exact is not _NO_KEY:
        return exact
    return next((k for k in mapping if isinstance(k, bool) and k == part
                 or not isinstance(k, (str, int)) and repr(k) == part), _NO_KEY)


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _tag_of(tp: Any) -> str | None:
    if typing.get_origin(tp) is Annotated:
        return next((m.tag for m in typing.get_args(tp)[1:] if isinstance(m, Tag)), None)
    return None


def _is_tagged(member: Any, part: Any) -> bool:
    """Whether a union member is the one pydantic's loc names by `part`: its Tag, or for a union
    discriminated by a field (`Field(discriminator="class_")`) the member whose field is Literal[part]."""
    if _tag_of(member) == part:
        return True
    tp = _unwrap(member)
    return isinstance(tp, type) and issubclass(tp, BaseModel) and any(
        typing.get_origin(f.annotation) is Literal and part in typing.get_args(f.annotation)
        for f in tp.model_fields.values())


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def _step(tp: Any, part: Any) -> tuple[Any, FieldInfo | None]:
    """The annotation one loc part below `tp` (a union tag selects a member), and the model
    field it is when it is one (whose metadata holds `Field(ge=...)`)."""
    tp = _unwrap(tp)
    while _is_union(tp):
        members = typing.get_args(tp)
        tagged = [m for m in members if _is_tagged(m, part)]
        tp = _unwrap(tagged[0] if tagged else next(m for m in members if m is not type(None)))
        if tagged:
            return tp, None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        f = tp.model_fields.get(part)
        return (f.annotation, f) if f else (Any, None)
    if typing.get_origin(tp) in (dict, list):
        return typing.get_args(tp)[-1], None
    return tp, None


def _model_at(tp: Any, loc: tuple[Any, ...]) -> Any:
    """The type that validated the value at `loc`, walking models, dicts, lists and unions."""
    for part in loc:
        tp, _ = _step(tp, part)
    return _unwrap(tp)


def _field_at(model: Any, loc: tuple[Any, ...]) -> tuple[Any, FieldInfo | None]:
    """The annotation of the value at `loc` (its Annotated metadata kept) and its model field."""
    tp, field = model, None
    for part in loc:
        tp, field = _step(tp, part)
    return tp, field


def _bounds_at(model: Any, loc: tuple[Any, ...]) -> tuple[Bounds, Any]:
    """The numeric bounds (`Field(ge=1)`, `Annotated[float, Field(gt=0)]`) on the value at `loc`,
    and the field's default (None without one)."""
    tp, field = _field_at(model, loc)
    found = list(field.metadata) if field else []
    while typing.get_origin(tp) is Annotated:
        tp, *extra = typing.get_args(tp)
        found += [c for m in extra for c in (m.metadata if isinstance(m, FieldInfo) else [m])]
    lo = next((c.ge if hasattr(c, "ge") else c.gt for c in found if hasattr(c, "ge") or hasattr(c, "gt")), None)
    hi = next((c.le if hasattr(c, "le") else c.lt for c in found if hasattr(c, "le") or hasattr(c, "lt")), None)
    bounds = Bounds(lo, hi, lo_open=any(hasattr(c, "gt") for c in found),
                    hi_open=any(hasattr(c, "lt") for c in found), integer=_unwrap(tp) is int)
    default = field.default if field is not None and isinstance(field.default, (int, float)) else None
    return bounds, default


def allowed_keys(model: Any, loc: tuple[Any, ...]) -> list[str]:
    tp = _model_at(model, loc)
    while _is_union(tp):
        tp = _unwrap(next(m for m in typing.get_args(tp) if m is not type(None)))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def key_homes(model: Any, key: str, limit: int = 3) -> list[str]:
    """Where in the schema `key` is a key, as YAML paths (`data.<crypto_spot|forex>`, a mapping's keys
    by their choices; "" is the top), shallowest
    first: a key written at the wrong depth is told where it belongs, not matched to a neighbour."""
    homes: list[str] = []
    queue: list[tuple[Any, str]] = [(model, "")]
    seen: set[Any] = set()
    while queue and len(homes) < limit:
        tp, at = queue.pop(0)
        for member in _members(tp):
            if isinstance(member, type) and issubclass(member, BaseModel):
                if member in seen:
                    continue
                seen.add(member)
                if key in member.model_fields:
                    homes.append(at)
                queue += [(f.annotation, f"{at}.{name}".lstrip(".")) for name, f in member.model_fields.items()]
            elif typing.get_origin(member) is dict:
                kt, vt = typing.get_args(member)
                queue.append((vt, f"{at}.<{_placeholder(kt)}>".lstrip(".")))
            elif typing.get_origin(member) is list:
                queue.append((typing.get_args(member)[0], f"{at}[]"))
    return homes


def _members(tp: Any) -> list[Any]:
    tp = _unwrap(tp)
    return [_unwrap(m) for m in typing.get_args(tp) if m is not type(None)] if _is_union(tp) else [tp]


def _placeholder(key_type: Any) -> str:
    """A mapping's key in a path: its choices (`crypto_spot|forex`), its enum's name, or `name`."""
    tp = _unwrap(key_type)
    if typing.get_origin(tp) is Literal:
        return "|".join(map(str, typing.get_args(tp)))
    return re.sub(r"(?<!^)(?=[A-Z])", "_", tp.__name__).lower() if isinstance(tp, type) and tp is not str else "name"


def _homes_hint(model: Any, key: Any) -> str | None:
    """Where a key refused here is one; its exact name elsewhere says more than a near one here."""
    homes = [f"under `{h}`" if h else "at the top level" for h in key_homes(model, str(key))]
    return f"`{key}` belongs {' or '.join(homes)}: move it there" if homes else None


def schema_diagnostics(err: ValidationError, doc: YamlDoc, model: Any) -> list[Diagnostic]:
    """One diagnostic per pydantic error, at the YAML node it is about. Errors at one node of
    one code are one, except missing keys: all of a mapping's are at its position and each is a
    fix of its own, so every one is reported. A union's members each refusing the same value
    (`bool | Literal["auto"]`) are one error naming every choice (`_choices`). Nothing is said
    about a refused key's value, or inside it (`crypto_spott:`): the value is the key meant's,
    whose defaults would have filled what it lacks, so its missing keys are no fault of their own."""
    errors = err.errors(include_url=False)
    paths = [_data_path(doc.data, tuple(e["loc"]), e["type"] == "missing") for e in errors]
    bad_keys = {path for path, is_key in paths if is_key}
    by_node: dict[tuple, list[dict[str, Any]]] = {}
    for e, (path, is_key) in zip(errors, paths, strict=True):
        if not any(path[:n] in bad_keys for n in range(len(path) + (not is_key))):
            by_node.setdefault((path, is_key, e["type"] == "missing"), []).append(e)
    out: dict[tuple, Diagnostic] = {}
    shipped = _Shipped(doc)
    for (path, is_key, _), group in by_node.items():
        ds = [_diagnostic(e, doc, model, shipped) for e in group]
        merged = _choices(group, path, is_key, doc) if len({d.code for d in ds}) > 1 else None
        for d in [merged] if merged else ds:
            out.setdefault((d.pos, d.code, d.message if d.code == "SCHEMA_MISSING" else ""), d)
    return list(out.values())


def _expected(e: dict[str, Any]) -> list[str]:
    """The values a Literal or an enum takes, from pydantic's "'a', 'b' or 'c'"."""
    return re.findall(r"'([^']*)'", e.get("ctx", {}).get("expected", ""))


def _choices(group: list[dict[str, Any]], path: tuple[Any, ...], is_key: bool, doc: YamlDoc) -> Diagnostic | None:
    """The union members' refusals of one value as one error: what each member takes, joined;
    None when a member's refusal is not a kind of value (a bound, a model's own check)."""
    kinds: list[str] = []
    for e in group:
        if e["type"] in ("literal_error", "enum"):
            kinds += [f"`{x}`" for x in _expected(e)]
        elif e["type"] in _TYPE_WORDS:
            kinds.append(_TYPE_WORDS[e["type"]])
        else:
            return None
    kinds = list(dict.fromkeys(kinds))
    where = ".".join(_as_written(p) for p in path) or "document"
    subject = f"key `{_as_written(path[-1])}`" if is_key else f"`{where}`"
    text = ", ".join(kinds[:-1]) + f", or {kinds[-1]}" if len(kinds) > 1 else kinds[0]
    value = group[0].get("input")
    hint = did_you_mean(str(value), [k.strip("`") for k in kinds if k.startswith("`")]) or f"write {text}"
    return _d(doc.key_pos_of(path) if is_key else doc.pos_of(path), "SCHEMA_TYPE",
              f"{subject} must be {text}, not {yaml_word(value)}", hint)


class _Shipped:
    """The shipped document `doc` is a version of (engine/spec/shipped.py), read on first use."""

    def __init__(self, doc: YamlDoc):
        self.doc = doc

    @cached_property
    def found(self) -> Any:
        from engine.spec import shipped

        data = self.doc.data if isinstance(self.doc.data, dict) else {}
        kind, name = data.get("kind"), data.get("name", Path(self.doc.file).stem)
        return shipped.document(kind, name) if isinstance(kind, str) and isinstance(name, str) else None

    def example(self, path: tuple[Any, ...]) -> Any:
        from engine.spec import shipped

        return shipped.example(self.found, path) if self.found else None


def _missing_hint(path: tuple[Any, ...], model: Any, loc: tuple[Any, ...], shipped: _Shipped) -> str:
    """What to add where, with the shipped document's value when it has one (never invented)."""
    key, parent = path[-1], ".".join(map(str, path[:-1]))
    where = f"`{parent}`" if parent else "the document"
    found = shipped.example(path)
    if found is None:
        _, field = _field_at(model, loc)
        about = f": {field.description}" if field is not None and field.description else ""
        return f"add `{key}:` to {where}{about}"
    if not found.text:
        return f"add `{key}:` to {where}: copy it from the shipped {found.where}{found.credit()}"
    return f"add `{found.text}` to {where}, as the shipped {found.where} has it{found.credit()}"


def _diagnostic(e: dict[str, Any], doc: YamlDoc, model: Any, shipped: _Shipped) -> Diagnostic:
    loc = tuple(e["loc"])
    path, is_key = _data_path(doc.data, loc, e["type"] == "missing")
    where = ".".join(_as_written(p) for p in path) or "document"
    kind, value = e["type"], e.get("input")
    if kind == "extra_forbidden":
        key = path[-1]
        allowed = allowed_keys(model, loc[:-1])
        hint = _homes_hint(model, key) or did_you_mean(str(key), allowed) \
            or (f"allowed keys: {', '.join(allowed)}" if allowed else None)
        return _d(doc.key_pos_of(path), "SCHEMA_UNKNOWN_KEY", f"unknown key `{key}`", hint)
    if kind == "missing":
        return _d(doc.pos_of(path[:-1]), "SCHEMA_MISSING", f"missing required key `{path[-1]}`"
                  + (f" in `{'.'.join(map(str, path[:-1]))}`" if path[:-1] else ""),
                  _missing_hint(path, model, loc, shipped))
    if kind == "invalid_key":  # `1: x`: YAML reads the key as a number, and no spec key is one
        key = _as_written(path[-1])
        return _d(doc.key_pos_of(path), "SCHEMA_VALUE", f"key `{key}` is {yaml_word(value)}, not text",
                  f"keys are text: rename it, quote it (`'{key}':`), or remove it")
    pos = doc.key_pos_of(path) if is_key else doc.pos_of(path)
    subject = f"key `{_as_written(path[-1])}`" if is_key else f"`{where}`"
    if kind in _NUMBER_KINDS:  # a wrong type or out of bounds: say the bounds, hint at a value inside
        bounds, default = _bounds_at(model, loc)
        if kind.startswith("int_") and not bounds.noun:  # pydantic knows the field takes an integer (`priority`)
            bounds = dataclasses.replace(bounds, integer=True)
        hint = _type_hint(kind, value) or bounds.hint(value, default)
        if kind in _BOUND_KINDS:
            return _d(pos, "SCHEMA_VALUE", f"{subject}: `{value}` is out of bounds: it must be {bounds.text()}", hint)
        return _d(pos, "SCHEMA_TYPE", f"{subject} must be {bounds.what()}, not {yaml_word(value)}", hint)
    if kind in _TYPE_WORDS:
        hint = _type_hint(kind, value)
        if kind == "string_type" and isinstance(value, (int, float, bool)):
            hint = _quoted_hint(model, loc, value)
        if value is None:  # `key:` with nothing after it
            hint = "write the value after the colon: a key with nothing after it is null"
        return _d(pos, "SCHEMA_TYPE", f"{subject} must be {_TYPE_WORDS[kind]}, not {yaml_word(value)}", hint)
    if kind == "union_tag_invalid":
        return _tag_diagnostic(e, doc, path, subject)
    if kind in ("literal_error", "enum"):  # an enum's choices are spelled as a Literal's
        expected = _expected(e)
        hint = did_you_mean(str(value), expected) or (is_key and _homes_hint(model, value)) \
            or f"one of: {', '.join(expected)}"
        return _d(pos, "SCHEMA_VALUE", f"{subject}: `{value}` is not one of {', '.join(expected)}", hint)
    if kind == "string_pattern_mismatch":
        return _d(pos, "SCHEMA_VALUE", f"{subject}: `{value}` is not a valid name",
                  "names are letters, digits and underscores, not starting with a digit")
    msg = e["msg"].removeprefix("Value error, ")
    hint = e.get("ctx", {}).get("hint")  # a model's PydanticCustomError may carry one
    return _d(pos, "SCHEMA_VALUE", f"{subject}: {msg[:1].lower()}{msg[1:]}", hint if isinstance(hint, str) else None)


def _type_hint(kind: str, value: Any) -> str | None:
    if kind == "string_type" and isinstance(value, dict) and len(value) == 1:
        [(key, item)] = value.items()  # `- store: X` unquoted: YAML reads a colon and a space as a mapping
        return f"quote it to make it a string: '{key}: {item}'"
    if kind in ("int_type", "float_type", "bool_type") and isinstance(value, str) and _reads_as(kind, value):
        return "remove the quotes"
    if kind in ("bool_type", "bool_parsing"):
        return "write true or false"
    return None


def _reads_as(kind: str, text: str) -> bool:
    """Whether quoted `text` would be a value of the type unquoted (`"5"` for an integer)."""
    if kind == "bool_type":
        return text in ("true", "false")
    try:
        return float(text) == int(text) if kind == "int_type" else float(text) == float(text)
    except ValueError:
        return False


def _quoted_hint(model: Any, loc: tuple[Any, ...], value: Any) -> str:
    """For a YAML number or boolean where text is expected: quote it, when the quoted text would
    pass the field's own checks; else what those checks say of it (`15` is no timeframe)."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    tp, field = _field_at(model, loc)
    try:
        TypeAdapter(Annotated[(tp, *field.metadata)] if field and field.metadata else tp).validate_python(text)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        hint = first.get("ctx", {}).get("hint")
        why = first["msg"].removeprefix("Value error, ")
        return hint if isinstance(hint, str) else f"even quoted, it is wrong: {why}"
    return "quote it to make it a string"


def _tag_diagnostic(e: dict[str, Any], doc: YamlDoc, path: tuple[Any, ...], subject: str) -> Diagnostic:
    """A discriminated union's tag that names no member (`class: RevStrat`), at the tag's key."""
    ctx = e.get("ctx", {})
    tag, expected = str(ctx.get("tag")), re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
    value = e.get("input")
    key = next((k for k in re.findall(r"'([^']*)'", str(ctx.get("discriminator", "")))
                if isinstance(value, dict) and k in value), None)
    where = f"`{'.'.join(map(str, (*path, key)))}`" if key else subject
    hint = did_you_mean(tag, expected) or f"one of: {', '.join(expected)}"
    return _d(doc.pos_of((*path, key) if key else path), "SCHEMA_VALUE", f"{where}: unknown value `{tag}`", hint)


def _d(pos: Any, code: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(pos, Severity.ERROR, code, message, hint)


INT64_MAX = 2**63 - 1
_NEVER = "to mean never or no limit, write a large value such as 1000000"


def unrecordable_numbers(data: Any, doc: YamlDoc, at: tuple[Any, ...] = ()) -> list[Diagnostic]:
    """Numbers a run cannot record, whatever field they are in: an integer beyond 64 bits (the
    audit log's JSON and the state database hold no larger: the run would crash mid-way) and
    .inf or .nan (`1e400` reads as .inf; JSON has neither, and no bound or sum means anything
    with them)."""
    if isinstance(data, dict):
        return [d for k, v in data.items() for d in unrecordable_numbers(v, doc, (*at, k))]
    if isinstance(data, list):
        return [d for i, v in enumerate(data) for d in unrecordable_numbers(v, doc, (*at, i))]
    where = ".".join(map(str, at)) or "document"
    if isinstance(data, int) and not isinstance(data, bool) and abs(data) > INT64_MAX:
        return [_d(doc.pos_of(at), "SCHEMA_VALUE", f"`{where}`: `{data}` does not fit in a 64-bit integer "
                   f"(at most {INT64_MAX})", _NEVER)]
    if isinstance(data, float) and not math.isfinite(data):
        shown = ".nan" if math.isnan(data) else ".inf" if data > 0 else "-.inf"
        return [_d(doc.pos_of(at), "SCHEMA_VALUE", f"`{where}` is {shown}, not a finite number",
                   "give a finite number (YAML reads .nan and .inf as not-a-number and infinity, and a "
                   f"number beyond 1.8e308, such as 1e400, as infinity); {_NEVER}")]
    return []


def validate(model: Any, data: Any, doc: YamlDoc) -> tuple[Any | None, list[Diagnostic]]:
    """Validate `data` with a model class; (instance, []) or (None, diagnostics)."""
    unrecordable = unrecordable_numbers(data, doc)
    try:
        obj, diags = model.model_validate(data), []
    except ValidationError as err:
        obj, diags = None, schema_diagnostics(err, doc, model)
    if not unrecordable:
        return obj, diags
    seen = {d.pos for d in unrecordable}  # one error per value: this one says more than a bound's
    return None, unrecordable + [d for d in diags if d.pos not in seen]
