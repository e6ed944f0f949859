"""The `kind: strategy` spec document (specs/strategies/*.yaml), as pydantic v2 models.

Importable without pandas: the spec linter validates these files through
`strategies.config:StrategyFile`. Each entry's `params` are checked against the
parameter model of its `class`, so a typo in a parameter name fails validation
at its line instead of surfacing at run time.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model, model_validator

from strategies.params import MAX_WINDOW
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
    tune: BaseModel | None = None

    @property
    def grid(self) -> dict[str, list[Any]]:
        """The `tune:` grid as parameter -> candidate values (empty without one)."""
        return {} if self.tune is None else self.tune.model_dump(exclude_none=True)

    @model_validator(mode="after")
    def _tuned_are_set(self) -> "StrategyEntry":
        # The run trades `params`: a tuned parameter left to its default there would be a value
        # no spec states, and `engine tune --write` would have no place to put the winner.
        if self.tune is not None and not self.grid:
            raise ValueError(f"{self.id}: `tune:` names no candidates: list a parameter's candidates there "
                             "(e.g. `slow_ema_multiplier: [2, 3, 4]`), or remove it")
        unset = [key for key in self.grid if key not in self.params.model_fields_set]
        if unset:
            raise ValueError(f"{self.id}: tuned parameter(s) {', '.join(unset)} not set in `params`: write "
                             "the value the run uses there, as a candidate of `tune:` or not")
        return self


class Tuning(BaseModel):
    """How `engine tune` cross-validates the `tune:` grids (seed 003 strat_cv): blocks of
    contiguous bars, so that serial dependence survives inside a block."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    method: Literal["bootstrap", "permutation"] = Field(
        description="bootstrap: score on the blocks a draw with replacement left out; permutation: "
                    "shuffled blocked k-fold")
    splits: int = Field(ge=2, le=1000, description="Draws (bootstrap) or folds (permutation).")
    block_size: int = Field(ge=2, le=MAX_WINDOW, description="Bars per block.")
    seed: int = Field(ge=0, description="Every split is reproducible from it.")
    scorer: Literal["pearson", "sharpe"] = Field(
        description="pearson: correlation of the position with the next bar's return (seed 003 "
                    "strat_scorer); sharpe: per-bar Sharpe of the position's PnL")


def _grid_model(name: str, params_model: type[BaseModel]) -> type[BaseModel]:
    """`tune:` of a `name` entry: a list of candidates per parameter, each checked as the
    parameter itself is (type and bounds), so a bad candidate fails validation at its line."""
    fields: dict[str, Any] = {}
    for key, info in params_model.model_fields.items():
        item = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[key] = (list[item] | None, Field(None, min_length=1))  # type: ignore[valid-type]
    return create_model(f"{name}Grid", __config__=ConfigDict(extra="forbid", frozen=True, strict=True),
                        **fields)


def _entry_model(name: str, params_model: type[BaseModel]) -> type[StrategyEntry]:
    return create_model(  # type: ignore[call-overload]
        f"{name}Entry",
        __base__=StrategyEntry,
        class_=(Literal[name], Field(alias="class")),
        params=(params_model, Field(default_factory=params_model)),
        tune=(_grid_model(name, params_model) | None, Field(
            None, description="Candidates per parameter that `engine tune` cross-validates "
                              "(the file's `tuning:` section says how)")),
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
    tuning: Tuning | None = None
    strategies: list[AnyEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> "StrategyFile":
        seen: set[str] = set()
        for e in self.strategies:
            if e.id in seen:
                raise ValueError(f"duplicate strategy id {e.id!r}")
            seen.add(e.id)
        return self

    @model_validator(mode="after")
    def _tuned_how(self) -> "StrategyFile":
        tuned = [e.id for e in self.strategies if e.tune is not None]
        if tuned and self.tuning is None:
            raise ValueError(f"{', '.join(tuned)} carry `tune:` grids but the file has no `tuning:` section "
                             "(method, splits, block_size, seed, scorer) to say how `engine tune` scores them")
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
