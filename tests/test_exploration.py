import random

from strategies.exploration import exploration_rate, explore, split_kpis
from strategies.ml.config import ExplorationConfig

CFG = ExplorationConfig(min_rate=0.10, chop_rate=0.25, chop_regimes=("RANGE",), tag="exploration")


def test_rates_floor_and_chop():
    assert exploration_rate("TREND_UP", CFG) == 0.10
    assert exploration_rate("RANGE", CFG) == 0.25



def test_a_chop_rate_below_the_minimum_explores_at_the_minimum():
    """Seed 001: at least 10% of entries explore in EVERY regime; a chop rate set below the
    minimum (ExplorationConfig allows it; Decider.use_rates passes it on) never lowers it."""
    low_chop = CFG.model_copy(update={"chop_rate": 0.02})
    assert exploration_rate("RANGE", low_chop) == 0.10
    assert exploration_rate("TREND_UP", low_chop) == 0.10

def test_seeded_decisions_replay_and_match_rates():
    a = [explore(random.Random(7), "RANGE", CFG) for _ in range(3)]
    assert a == [explore(random.Random(7), "RANGE", CFG) for _ in range(3)]
    rng = random.Random(1)
    trend = sum(explore(rng, "TREND_UP", CFG) for _ in range(20_000)) / 20_000
    chop = sum(explore(rng, "RANGE", CFG) for _ in range(20_000)) / 20_000
    assert abs(trend - 0.10) < 0.01 and abs(chop - 0.25) < 0.015


def test_kpis_are_split_by_tag():
    trades = [{"pnl": 1.0, "tags": ()}, {"pnl": -5.0, "tags": (CFG.tag,)},
              {"pnl": 2.0, "tags": ()}]
    kpis = split_kpis(trades, lambda ts: {"n": len(ts), "pnl": sum(t["pnl"] for t in ts)}, CFG)
    assert kpis == {"exploitation": {"n": 2, "pnl": 3.0}, "exploration": {"n": 1, "pnl": -5.0}}
