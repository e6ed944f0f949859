"""The `kind: strategy` spec document (specs/strategies/*.yaml), as pydantic v2 models.

Importable without pandas: the spec linter validates these files through
`strategies.config:StrategyFile`. Each entry's `params` are checked against the
parameter model of its `class`, so a typo in a parameter name fails validation
at its line instead of surfacing at run time.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model, model_validator

from strategies.registry import CLASSES


class StrategyEntry(BaseModel):
    """One fitted model; variants of a class (EmaVol at 24/48/96/192 h) are separate entries."""

    # strict, as the parameters (strategies/params.py): `enabled: "no"` is no boolean.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)

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
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

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
    """Parse and validate a strategy file; bad input raises SpecError with file:line:col.

    Read by the spec loader, as `engine validate` reads it, so that `engine run` refuses a bad
    file with exactly the diagnostics validate prints (one code path, not two)."""
    from engine.diagnostics import Diagnostic, Pos, Severity, SpecError
    from engine.spec.loader import load_file

    loaded = load_file(Path(path))
    if loaded.diags:
        raise SpecError(loaded.diags)
    if loaded.extra is None or loaded.extra[3] != "strategy":
        kind = (loaded.extra[3] if loaded.extra else loaded.machine.kind if loaded.machine
                else "catalogue" if loaded.catalogue else "overrides")
        raise SpecError([Diagnostic(Pos(str(path), 1, 1), Severity.ERROR, "SCHEMA_VALUE",
                                    f"this is a `kind: {kind}` document, not a strategy spec",
                                    "name a strategy spec (kind: strategy), e.g. specs/strategies/seed003.yaml")])
    return loaded.extra[1]
