"""Exploration (seed 001): at least `exploration_min` of eligible entries explore (10% in the
rollout spec), `exploration_max_chop` in chop (25%); each stage may override both.

`explore(rng, regime)` is a seeded Bernoulli draw (pass a `random.Random` or a
numpy Generator seeded by the run, so a replay makes the same choices).
Exploration trades carry the tag from specs/ml/exploration.yaml; `split_kpis`
keeps their KPIs apart so exploration never flatters or drags the exploitation
figures that promotion gates read.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, TypeVar

from strategies.ml.config import ExplorationConfig

if TYPE_CHECKING:
    from engine.spec.ir import SpecSet

T = TypeVar("T")


class RNG(Protocol):
    def random(self) -> float: ...


def exploration_config(specs: "SpecSet", stage: int, env: str) -> ExplorationConfig:
    """What a run in `stage` and `env` explores with, bound once at load: the rates are the rollout's
    `exploration_min` / `exploration_max_chop` as that stage and env override them; the chop
    regimes and the tag are specs/ml/exploration.yaml's."""
    from engine.spec.params import effective_params

    params = effective_params(specs, "rollout", stage=stage, env=env)
    doc = specs.extra["exploration"]  # the set's (--specs), whose presence a run checked (signals.ml_spec)
    return ExplorationConfig(min_rate=params["exploration_min"], chop_rate=params["exploration_max_chop"],
                             chop_regimes=tuple(doc.chop_regimes), tag=doc.tag)


def exploration_rate(regime: str, cfg: ExplorationConfig) -> float:
    rate = cfg.chop_rate if str(getattr(regime, "value", regime)) in cfg.chop_regimes else cfg.min_rate
    return max(rate, cfg.min_rate)


def explore(rng: RNG, regime: str, cfg: ExplorationConfig) -> bool:
    return rng.random() < exploration_rate(regime, cfg)


def is_exploration(trade: Mapping[str, Any] | Any, cfg: ExplorationConfig) -> bool:
    tags = trade.get("tags", ()) if isinstance(trade, Mapping) else getattr(trade, "tags", ())
    return cfg.tag in tags


def split_kpis(trades: Iterable[T], kpis: Callable[[list[T]], dict[str, Any]],
               cfg: ExplorationConfig) -> dict[str, dict[str, Any]]:
    """{'exploitation': kpis(untagged trades), 'exploration': kpis(tagged trades)}."""
    trades = list(trades)
    explo = [t for t in trades if is_exploration(t, cfg)]
    exploit = [t for t in trades if not is_exploration(t, cfg)]
    return {"exploitation": kpis(exploit), "exploration": kpis(explo)}
