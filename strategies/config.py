"""The `kind: strategy` spec document (specs/strategies/*.yaml), as pydantic v2 models.

Importable without pandas: the spec linter validates these files through
`strategies.config:StrategyFile`. Each entry's `params` are checked against the
parameter model of its `class`, so a typo in a parameter name fails validation
at its line instead of surfacing at run time.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model, model_validator

from strategies.registry import CLASSES

if TYPE_CHECKING:
    from engine.diagnostics import Diagnostic, Pos


class StrategyEntry(BaseModel):
    """One fitted model; variants of a class (EmaVol at 24/48/96/192 h) are separate entries."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Unique name; models and logs use it.")
    class_: str = Field(alias="class", description="Strategy class name (seed 003 names).")
    weight: float = Field(ge=0, description="strat_weight: the model's output is multiplied by it.")
    enabled: bool = Field(True, description="Disabled entries are validated but not built.")
    description: str = ""
    params: BaseModel


def _entry_model(name: str, params_model: type[BaseModel]) -> type[StrategyEntry]:
    return create_model(  # type: ignore[call-overload]
        f"{name}Entry",
        __base__=StrategyEntry,
        class_=(Literal[name], Field(alias="class")),
        params=(params_model, Field(default_factory=params_model)),
    )


ENTRY_MODELS: tuple[type[StrategyEntry], ...] = tuple(
    _entry_model(name, params_model) for name, (_, params_model) in CLASSES.items()
)
AnyEntry = Annotated[Union[ENTRY_MODELS], Field(discriminator="class_")]  # type: ignore[valid-type]


class StrategyFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["strategy"]
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(ge=1)
    description: str = ""
    strategies: list[AnyEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> "StrategyFile":
        seen: set[str] = set()
        for e in self.strategies:
            if e.id in seen:
                raise ValueError(f"duplicate strategy id {e.id!r}")
            seen.add(e.id)
        return self

    @property
    def enabled(self) -> list[StrategyEntry]:
        return [e for e in self.strategies if e.enabled]


@lru_cache(maxsize=1)
def entry_adapter() -> TypeAdapter:
    return TypeAdapter(AnyEntry)


def load_strategy_file(path: str | Path) -> StrategyFile:
    """Parse and validate a strategy file; bad input raises SpecError with file:line:col."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from engine.diagnostics import Diagnostic, Pos, Severity, SpecError

    path = Path(path)
    try:
        data = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = Pos(str(path), mark.line + 1, mark.column + 1) if mark else Pos(str(path))
        raise SpecError([Diagnostic(pos, Severity.ERROR, "YAML", str(exc).splitlines()[0])]) from None
    try:
        return StrategyFile.model_validate(data)
    except ValidationError as exc:
        raise SpecError([_diagnostic(path, data, err) for err in exc.errors()]) from None


def _diagnostic(path: Path, data: Any, err: Any) -> "Diagnostic":
    from engine.diagnostics import Diagnostic, Severity, did_you_mean

    loc = tuple(k for k in err["loc"] if k not in CLASSES)  # drop pydantic's union tags
    message, hint = err["msg"], None
    if err["type"] == "union_tag_invalid":
        tag = err["ctx"]["tag"]
        loc, message = (*loc, "class"), f"unknown strategy class {tag!r}"
        hint = did_you_mean(tag, CLASSES) or f"known classes: {', '.join(CLASSES)}"
    where = ".".join(map(str, loc))
    return Diagnostic(_position(path, data, loc), Severity.ERROR, "STRATEGY", f"{where}: {message}", hint=hint)


def _position(path: Path, data: Any, loc: tuple) -> "Pos":
    """The position of the deepest YAML key on `loc` that exists."""
    from engine.diagnostics import Pos

    line, col, node = 0, 0, data
    for key in loc:
        lc = getattr(node, "lc", None)
        try:
            child = node[key]
        except (KeyError, IndexError, TypeError):
            break
        if lc is not None:
            line, col = (lc.key(key) if isinstance(key, str) else lc.item(key))[:2]
            line, col = line + 1, col + 1
        node = child
    return Pos(str(path), line, col)
