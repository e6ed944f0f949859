"""Document kinds beyond machines, catalogue and overrides, validated by the package that owns them.

To add one, register `kind -> "module:PydanticModel"` below, e.g.

    DOCUMENT_KINDS["risk"] = "engine.risk.config:RiskConfig"
    DOCUMENT_KINDS["strategy"] = "strategies.config:StrategyFile"

(edit this dict in place; ask its owner). The model's module is imported only
when a file of that kind is loaded, so keep it light (pydantic only). The model
receives the whole document; if it has no `kind` field, `kind` is removed first.
Files live in `specs/<kind>/`. A validated instance lands in `SpecSet.extra`
under the document's `name` (the file's stem when it has none).
"""
from __future__ import annotations

import importlib
from functools import cache
from typing import Any

DOCUMENT_KINDS: dict[str, str] = {
    "risk": "engine.risk.config:RiskConfig",
    "strategy": "strategies.config:StrategyFile",
    "ml": "strategies.ml.config:MLConfig",
    "ensemble": "strategies.ml.config:EnsembleConfig",
    "regime": "strategies.ml.config:RegimeConfig",
    "allowlists": "strategies.ml.config:AllowlistsConfig",
    "selection": "strategies.ml.config:SelectionConfig",
    "exploration": "strategies.ml.config:ExplorationSpec",
    "environments": "engine.spec.models:EnvironmentsModel",
}


@cache
def document_model(kind: str) -> Any:
    """The pydantic model registered for `kind` (imported on first use)."""
    module, _, attr = DOCUMENT_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), attr)


def prepare(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    """The document as the model expects it: without `kind` unless the model declares it."""
    if "kind" in getattr(model, "model_fields", {}):
        return data
    return {k: v for k, v in data.items() if k != "kind"}
