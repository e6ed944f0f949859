import json
import math

import pytest

from strategies.ml.config import SelectionConfig
from strategies.selection import (build_active_set, composite_score, exposure, normalised_weights,
                                  parse_active_set, rank, read_active_set, top_k, trade_metrics,
                                  write_active_set)

CFG = SelectionConfig(kind="selection")


def _row(symbol, sharpe, pf, dd, trades=50, tf="1h", wr=0.5):
    return {"symbol": symbol, "tf": tf, "trades": trades, "sharpe": sharpe, "profit_factor": pf,
            "max_drawdown": dd, "winrate": wr}


def test_trade_metrics_by_hand():
    rets = [math.log(1.1), math.log(0.9), math.log(1.1)]
    m = trade_metrics(rets, span_seconds=365.25 * 86400)
    assert m["trades"] == 3 and math.isclose(m["winrate"], 2 / 3)
    assert math.isclose(m["profit_factor"], 0.2 / 0.1)
    assert math.isclose(m["max_drawdown"], 0.1)
    assert math.isclose(m["total_return"], 1.1 * 0.9 * 1.1 - 1)
    assert math.isclose(m["avg_trade"], 0.1 / 3)
    assert m["sharpe"] > 0 and m["sortino"] > m["sharpe"]
    assert trade_metrics([], 1.0)["trades"] == 0
    assert trade_metrics([0.01, 0.02], 1e6)["profit_factor"] == 100.0  # no loss: capped


def test_exposure_is_the_union_of_holding_intervals():
    assert exposure([(0, 10), (5, 20), (30, 40)], 100) == 0.3


def test_composite_clamps_and_normalises():
    assert normalised_weights({"sharpe": 2, "profit_factor": -1, "max_drawdown": 2, "winrate": 0}) == \
        {"sharpe": 0.5, "profit_factor": 0.0, "max_drawdown": 0.5, "winrate": 0.0}
    best = composite_score(_row("A", 99, 99, 0.0), CFG)
    assert math.isclose(best, 0.8)  # sharpe and PF clamp at 1; no drawdown penalty
    assert math.isclose(composite_score(_row("B", -99, 0, 9.0), CFG), -0.2)
    with pytest.raises(ValueError):
        normalised_weights({"sharpe": 0, "profit_factor": 0})


def test_rank_filters_min_trades_and_keeps_best_row_per_symbol():
    rows = [_row("A", 2.0, 1.5, 0.1), _row("B", 1.0, 1.2, 0.1), _row("C", 3.0, 3.0, 0.0, trades=5),
            _row("A", 0.5, 1.0, 0.3, tf="5m"), _row("D", 0.1, 1.0, 0.2)]
    ranked = rank(rows, CFG, min_trades=25)
    assert [r.symbol for r in ranked][-1] == "C" and not ranked[-1].eligible
    chosen = top_k(ranked, 2)
    assert [(r.symbol, r.tf) for r in chosen] == [("A", "1h"), ("B", "1h")]


def test_active_set_semantics_and_persistence(tmp_path):
    chosen = top_k(rank([_row("A", 2, 2, 0.1)], CFG), 5)
    active = build_active_set(chosen, CFG, 5, 25, now=0.0)
    assert active.symbols == ("A",)
    path = tmp_path / "active.json"
    write_active_set(active, CFG, fallback=path)
    data = json.loads(path.read_text())
    assert data["symbols"] == ["A"] and data["criteria"]["min_trades"] == 25 and data["generated_at"]
    assert read_active_set(CFG, fallback=path) == active
    assert parse_active_set(active.as_dict(), "an active set") == active
    assert read_active_set(CFG, fallback=tmp_path / "missing.json") is None  # no selection made


def test_a_range_left_out_keeps_its_default():
    """Overriding only `ranges.sharpe` dropped the others while the default weights still named
    them: validate passed and `engine select` failed with a KeyError on profit_factor."""
    cfg = SelectionConfig.model_validate({"kind": "selection", "ranges": {"sharpe": {"lo": -2.0, "hi": 4.0}}})
    assert (cfg.ranges["sharpe"].lo, cfg.ranges["profit_factor"]) == (-2.0, CFG.ranges["profit_factor"])
    row = {"trades": 30, "winrate": 0.5, "profit_factor": 1.5, "sharpe": 1.0, "max_drawdown": 0.1}
    assert math.isfinite(composite_score(row, cfg))
