"""The schema of the paper venue's contract catalogue (adapters/paper/contracts.yaml): symbol ->
domain, kind, quote currency, tick, step, min notional, multiplier...

Users are told to add contracts to that file, so a mistake in it (`tick: -0.000001`, `domain:
crypto_spt`, a symbol written twice) is reported like one in a spec: at its `file:line:col`, with a
hint, by `engine validate` (engine/spec/lint/contracts.py) and by every command that loads the
catalogue (adapters/paper/catalogue.py raises the same diagnostics as a SpecError), before a run
archives or an import writes anything. Light: pydantic and the spec front end's YAML reader, not
adapters.paper, whose package imports numpy: `engine validate` reads the catalogue through this.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Annotated, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from engine.diagnostics import Diagnostic, Pos, Severity
from engine.spec.models import DomainName, schema_diagnostics, unrecordable_numbers
from engine.spec.yamlio import YamlDoc, decode, parse_yaml

Kind = Literal["spot", "perp", "future", "option", "fx"]  # engine/domain.py Instrument.kind
QUOTE_HINT = "write the currency its prices, fees and P&L are in, e.g. `quote: USD`"


def _currency(v: str) -> str:
    if not v.strip():  # money in an unnamed currency would be summed with another's
        raise PydanticCustomError("contract_value", "the quote currency is blank", {"hint": QUOTE_HINT})
    return v


class Contract(BaseModel):
    """One contract; engine/domain.py Instrument is built from it."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    domain: DomainName
    kind: Kind  # no default: an expiring contract read as spot would be traded past its expiry
    quote: Annotated[str, AfterValidator(_currency)]
    tick: float = Field(gt=0)
    step: float = Field(gt=0)
    min_notional: float = Field(default=0.0, ge=0)
    multiplier: float = Field(default=1.0, gt=0)
    expiry: float | None = Field(default=None, gt=0, validate_default=True)
    strike: float | None = Field(default=None, gt=0, validate_default=True)
    option_right: Literal["call", "put"] | None = Field(default=None, validate_default=True)
    underlying: str | None = None

    @field_validator("expiry", "strike", "option_right")
    @classmethod
    def _fits_kind(cls, v: object, info: ValidationInfo) -> object:
        """A future needs its expiry, an option its expiry, strike and right; no other kind has
        them. Either mistake would let a run trade an expiring contract as one that never expires."""
        kind = info.data.get("kind")
        if kind is None:  # the kind itself is wrong: that error says so
            return v
        name, needs = str(info.field_name), _LIFE_KEYS.get(kind, ())
        if v is None and name in needs:
            raise PydanticCustomError("contract_value", f"a contract of kind {kind} needs `{name}`",
                                      {"hint": _WRITE[name]})
        if v is not None and name not in needs:
            raise PydanticCustomError("contract_value", f"`{name}` belongs to a future or an option, and this "
                                      f"contract is of kind {kind}", {"hint": _NOT_EXPIRING})
        return v


# The keys an expiring contract's lifecycle (specs/orders/futures_roll.yaml, option_expiry.yaml) reads.
_LIFE_KEYS = {"future": ("expiry",), "option": ("expiry", "strike", "option_right")}
_NOT_EXPIRING = ("write `kind: future` or `kind: option` if it expires (engine run then refuses it until it drives "
                 "that lifecycle), else remove the key")


CATALOGUE = dict[str, Contract]
_ADAPTER: TypeAdapter[dict[str, Contract]] = TypeAdapter(CATALOGUE)
_LINE = ("write one line per contract, e.g. `EUR/USD: {domain: forex, kind: fx, quote: USD, tick: 0.00001, "
         "step: 1000, min_notional: 1000}`")
# What to write for a key left out or a number out of bounds: the generic `e.g. 1` would be a
# tick a thousand times too coarse for ETH/BTC, and a missing key's error says only which it is.
_WRITE = {"domain": f"write its domain, one of {', '.join(typing.get_args(DomainName))}",
          "quote": QUOTE_HINT,
          "tick": "write the smallest price increment the venue accepts for it, above 0, e.g. `tick: 0.00001`",
          "step": "write the smallest quantity increment (lot) the venue accepts for it, above 0, e.g. `step: 0.001`",
          "min_notional": "write the smallest order value the venue accepts, in the quote currency (0: none)",
          "multiplier": "write the units one contract stands for, above 0 (1 for spot and fx)",
          "expiry": "write its last trading time in epoch seconds, e.g. `expiry: 1710771360`",
          "strike": "write its strike price, above 0",
          "option_right": "write `option_right: call` or `option_right: put`",
          "kind": "write its kind, one of spot, perp, fx, future, option (it decides the lifecycle a run drives)"}
_RETYPED = ("missing", "greater_than", "greater_than_equal", "float_type", "float_parsing")


class Checked(NamedTuple):
    contracts: dict[str, Contract] | None  # None when there are problems: fail closed
    problems: list[Diagnostic]
    doc: YamlDoc | None  # where each value is written, for the lint rules that point at one


def read(path: str | Path) -> Checked:
    """The catalogue at `path` ({} for an empty file), or every problem in it."""
    file = _shown(Path(path))
    try:
        raw = Path(path).read_bytes()
    except OSError as e:  # as the spec loader says of an unreadable spec file
        return Checked(None, [Diagnostic(Pos(file, 1, 1), Severity.ERROR, "INTERNAL",
                                         f"cannot read the contract catalogue: {e.strerror or e}",
                                         "restore adapters/paper/contracts.yaml")], None)
    text, diags = decode(raw, file)
    return Checked(None, diags, None) if text is None else check(text, file)


def _shown(path: Path) -> str:
    """The catalogue's name as diagnostics print it: relative to the working folder when inside it."""
    try:
        return os.path.relpath(path) if path.resolve().is_relative_to(Path.cwd().resolve()) else str(path)
    except ValueError:  # another drive
        return str(path)


def check(text: str, file: str) -> Checked:
    """The catalogue written in `text`, or None and its problems: YAML ones (syntax, a symbol
    written twice) and schema ones (a value of the wrong type, out of bounds or not one of those
    allowed, an unknown or missing key), in one pass."""
    doc, yaml_problems = parse_yaml(text, file)
    if doc is None:
        return Checked(None, yaml_problems, None)
    contracts, problems = _validate(doc)
    seen = {d.pos for d in yaml_problems}  # one error per node: the YAML one says what the value is
    problems = yaml_problems + [d for d in problems if d.pos not in seen]
    return Checked(None if problems else contracts, problems, doc)


def _validate(doc: YamlDoc) -> tuple[dict[str, Contract] | None, list[Diagnostic]]:
    data = {} if doc.data is None else doc.data
    unrecordable = unrecordable_numbers(data, doc)
    try:
        contracts, diags = _ADAPTER.validate_python(data), []
    except ValidationError as err:
        hints, contracts = _hints(err, doc), None
        diags = [dataclasses.replace(d, hint=hints.get(d.pos, d.hint))
                 for d in schema_diagnostics(err, doc, CATALOGUE)]
    seen = {d.pos for d in unrecordable}
    diags = unrecordable + [d for d in diags if d.pos not in seen]
    return (None, diags) if diags else (contracts, [])


def _hints(err: ValidationError, doc: YamlDoc) -> dict[Pos, str]:
    """Per position of a diagnostic (where engine/spec/models.py puts it), a hint that says
    what the catalogue wants there, for the errors whose generic hint would not."""
    out: dict[Pos, str] = {}
    for e in err.errors(include_url=False):
        loc, kind = tuple(e["loc"]), e["type"]
        if len(loc) < 2:  # the document, or a contract, is no mapping
            out.setdefault(doc.pos_of(loc), _LINE)
        elif kind in _RETYPED and loc[-1] in _WRITE and not _number_text(e.get("input")):
            out.setdefault(doc.pos_of(loc[:-1] if kind == "missing" else loc), _WRITE[str(loc[-1])])
    return out


def _number_text(value: object) -> bool:
    """Quoted text that would be a number unquoted: models' own hint (remove the quotes) says it."""
    try:
        return isinstance(value, str) and float(value) == float(value)
    except ValueError:
        return False
