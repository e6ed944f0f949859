"""What a run reads from a registered model's manifest.json, checked when the model is loaded.

The trainer writes more (params, data hashes, walk-forward settings); these are the fields a run
acts on. A manifest that lacks one, or holds a value no trainer writes (a threshold under 0.5
passes a probability as both BUY and SELL; NaN is no threshold), is refused at the start, naming
the field, rather than met as a traceback after a replay or trusted as it is.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from strategies.ml.config import LabelConfig, Threshold


def _iso_time(text: str) -> str:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not an ISO 8601 time") from None  # pydantic reports it at the field
    return text


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _Overall(_Open):
    precision: float  # NaN when validation traded nothing: the decay check has no baseline then
    brier: float


class _Metrics(_Open):
    overall: _Overall


class _Data(_Open):
    end: Annotated[str, AfterValidator(_iso_time)] | None = None  # absent: the run refuses or judges every bar


class Manifest(_Open):
    features: list[str] = Field(min_length=1)
    threshold: Annotated[Threshold, Field(allow_inf_nan=False)]  # as the threshold spec bounds it
    labels: LabelConfig
    metrics: _Metrics
    data: _Data | None = None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def manifest_problem(found: dict[str, Any]) -> str | None:
    """The first thing wrong with a manifest a run would read, as `field: what`; None when none is."""
    try:
        Manifest.model_validate(found)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        given = "" if err["type"] == "missing" else f" (it is {_short(err['input'])})"
        return f"{where}: {err['msg']}{given}"
    return None
