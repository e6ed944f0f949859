"""Strategy class names (as written in specs) -> implementation, imported only when built.

The name table and the parameter models are pandas-free so that `engine
validate` can check a strategy file; `build` imports the model code lazily.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Mapping

from pydantic import BaseModel

from strategies import params as p

if TYPE_CHECKING:
    from strategies.base import Strategy
    from strategies.config import StrategyEntry

# name -> (module:attribute, parameter model). Names are the seed 003 class names.
CLASSES: dict[str, tuple[str, type[BaseModel]]] = {
    "VolScaleStrategy": ("strategies.family.volscale:VolScaleStrategy", p.VolScaleParams),
    "WedThuStrategy": ("strategies.family.calendar:WedThuStrategy", p.WedThuParams),
    "EmaVolStrategy": ("strategies.family.trend:EmaVolStrategy", p.EmaVolParams),
    "AccelVolStrategy": ("strategies.family.trend:AccelVolStrategy", p.AccelVolParams),
    "BreakVolStrategy": ("strategies.family.breakout:BreakVolStrategy", p.BreakVolParams),
    "BlockVolStrategy": ("strategies.family.breakout:BlockVolStrategy", p.BlockVolParams),
    "BuySellVolStrategy": ("strategies.family.flow:BuySellVolStrategy", p.BuySellVolParams),
    "RevStrategy": ("strategies.family.reversal:RevStrategy", p.RevParams),
    "OrthAlphaStrategy": ("strategies.family.orthalpha:OrthAlphaStrategy", p.OrthAlphaParams),
    "WeightedOrthAlphaStrategy": ("strategies.family.orthalpha:WeightedOrthAlphaStrategy",
                                  p.WeightedOrthAlphaParams),
}


def strategy_class(name: str) -> type["Strategy"]:
    try:
        target = CLASSES[name][0]
    except KeyError:
        raise KeyError(f"unknown strategy class {name!r}; known: {', '.join(sorted(CLASSES))}") from None
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def build(entry: "StrategyEntry | Mapping[str, Any]") -> "Strategy":
    """A fresh, unfitted strategy from one spec entry (`class`, `params`, `weight`, `id`)."""
    from strategies.config import StrategyEntry, entry_adapter

    if not isinstance(entry, BaseModel):
        entry = entry_adapter().validate_python(dict(entry))
    assert isinstance(entry, StrategyEntry)
    cls = strategy_class(entry.class_)
    return cls(entry.params, weight=entry.weight, name=entry.id)
