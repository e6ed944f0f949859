"""Exploration (seed 001): at least 10% of eligible entries explore, 25% in chop.

`explore(rng, regime)` is a seeded Bernoulli draw (pass a `random.Random` or a
numpy Generator seeded by the run, so a replay makes the same choices).
Exploration trades carry the tag from specs/ml/exploration.yaml; `split_kpis`
keeps their KPIs apart so exploration never flatters or drags the exploitation
figures that promotion gates read.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Protocol, TypeVar

from strategies.ml.config import ExplorationConfig, load_spec

T = TypeVar("T")


class RNG(Protocol):
    def random(self) -> float: ...


def load_exploration_config() -> ExplorationConfig:
    return load_spec("exploration", ExplorationConfig)


def exploration_rate(regime: str, cfg: ExplorationConfig | None = None) -> float:
    cfg = cfg or load_exploration_config()
    rate = cfg.chop_rate if str(getattr(regime, "value", regime)) in cfg.chop_regimes else cfg.min_rate
    return max(rate, cfg.min_rate)


def explore(rng: RNG, regime: str, cfg: ExplorationConfig | None = None) -> bool:
    return rng.random() < exploration_rate(regime, cfg)


def tags_for(exploring: bool, cfg: ExplorationConfig | None = None) -> tuple[str, ...]:
    """Order tags (OrderRequest.tags) marking an exploration entry."""
    cfg = cfg or load_exploration_config()
    return (cfg.tag,) if exploring else ()


def is_exploration(trade: Mapping[str, Any] | Any, cfg: ExplorationConfig | None = None) -> bool:
    cfg = cfg or load_exploration_config()
    tags = trade.get("tags", ()) if isinstance(trade, Mapping) else getattr(trade, "tags", ())
    return cfg.tag in tags


def split_kpis(trades: Iterable[T], kpis: Callable[[list[T]], dict[str, Any]],
               cfg: ExplorationConfig | None = None) -> dict[str, dict[str, Any]]:
    """{'exploitation': kpis(untagged trades), 'exploration': kpis(tagged trades)}."""
    cfg = cfg or load_exploration_config()
    trades = list(trades)
    explo = [t for t in trades if is_exploration(t, cfg)]
    exploit = [t for t in trades if not is_exploration(t, cfg)]
    return {"exploitation": kpis(exploit), "exploration": kpis(explo)}
