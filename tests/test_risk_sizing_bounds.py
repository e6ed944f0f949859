"""The sizing rules at their boundaries (seeds 000/001/004), thresholds read from the shipped
risk spec: the canary's trade count and days, the equity ladder's clamp, and the drawdown at
which recovery sizing starts. Each test sits on the edge a one-off mutant of
engine/risk/sizing.py moves (QA mutation run mut2: S02/S03, S04/S05, S07/S08)."""
from __future__ import annotations

import pydantic
import pytest

from engine.risk.config import LadderStep, RiskConfig
from engine.risk.sizing import Sizer
from test_risk_chain import book, config, intent  # noqa: F401  (config: the shipped spec's fixture)
from test_risk_config import spec_data

DAY = 86400.0


def sized(cfg: RiskConfig, **kw):
    """A wide stop (0.05 on 1.10) so the wallet fraction, not the per-trade risk cap, sets the size."""
    return Sizer(cfg.sizing)(intent(stop_dist=0.05), book(**kw), "forex")


# -- S02/S03: "first N trades or D days" - canary until both are behind -----------------------
def test_canary_holds_until_the_last_canary_trade_closes(config: RiskConfig) -> None:
    c, days = config.sizing.canary, config.sizing.canary.days / DAY
    assert c.trades > 0 and c.size_pct != config.sizing.base_size_pct
    one_short = sized(config, trades_closed=c.trades - 1, days_active=days * 10)
    done = sized(config, trades_closed=c.trades, days_active=days * 10)
    assert one_short.canary and one_short.size_pct == c.size_pct
    assert not done.canary and done.size_pct == config.sizing.base_size_pct


@pytest.mark.parametrize("short_by", [1.0, 0.5 * DAY, DAY - 1.0])  # seconds short of the canary days
def test_canary_holds_until_the_canary_days_pass(config: RiskConfig, short_by: float) -> None:
    c = config.sizing.canary
    assert c.days > DAY
    early = sized(config, trades_closed=c.trades * 10, days_active=(c.days - short_by) / DAY)
    on_time = sized(config, trades_closed=c.trades, days_active=c.days / DAY)
    assert early.canary and early.size_pct == c.size_pct
    assert not on_time.canary and on_time.size_pct == config.sizing.base_size_pct


def test_early_profit_does_not_raise_a_canarys_size(config: RiskConfig) -> None:
    """Seed 001's canary is 2% of the wallet: a profitable first week (the ladder at 2x) leaves it
    at 2%, in its wallet fraction and in its risk cap; once the canary is over the ladder applies."""
    c, top = config.sizing.canary, config.sizing.ladder.steps[-1]
    rich = dict(pnl_window=top.profit_usd, days_active=c.days / DAY)
    canary = sized(config, trades_closed=c.trades - 1, **rich)
    after = sized(config, trades_closed=c.trades, **rich)
    assert canary.canary and canary.ladder == 1.0 and canary.size_pct == c.size_pct
    assert not after.canary and after.ladder == top.multiplier > 1.0
    assert canary.risk_cap == pytest.approx(after.risk_cap / top.multiplier)


# -- S04/S05: the ladder's multiplier stays inside its clamp -----------------------------------
def clamped(clamp: list[float], steps: list[dict] | None = None) -> Sizer:
    data = spec_data()
    ladder = data["sizing"]["ladder"]
    ladder["clamp"] = clamp
    if steps is not None:
        ladder["steps"] = steps
    return Sizer(RiskConfig.model_validate(data).sizing)


def test_no_step_reached_is_raised_to_a_clamp_above_one() -> None:
    s = clamped([1.2, 5.0])  # the shipped steps (1.2, 1.5, 2.0) fit inside
    assert s.ladder(0.0) == 1.2 and s.ladder(-500.0) == 1.2
    assert s.ladder(1000.0) == 2.0


def test_no_step_reached_is_lowered_to_a_clamp_below_one() -> None:
    s = clamped([0.5, 0.9], [{"profit_usd": 200, "multiplier": 0.7}])
    assert s.ladder(0.0) == 0.9 and s.ladder(-500.0) == 0.9
    assert s.ladder(200.0) == 0.7


@pytest.mark.parametrize("clamp,m", [([0.5, 5.0], 6.0), ([0.5, 5.0], 0.4), ([1.2, 5.0], 1.1)])
def test_a_step_outside_the_clamp_is_refused(clamp: list[float], m: float) -> None:
    with pytest.raises(pydantic.ValidationError, match="outside the clamp"):
        clamped(clamp, [{"profit_usd": 200, "multiplier": m}])


def test_sizer_clamps_a_step_that_skipped_validation(config: RiskConfig) -> None:
    """The config refuses such a step; the sizer still bounds one built around it (fail closed)."""
    lo, hi = config.sizing.ladder.clamp
    steps = [LadderStep.model_construct(profit_usd=200.0, multiplier=lo / 10),
             LadderStep.model_construct(profit_usd=500.0, multiplier=hi * 10)]
    ladder = config.sizing.ladder.model_copy(update={"steps": steps})
    s = Sizer(config.sizing.model_copy(update={"ladder": ladder}))
    assert s.ladder(200.0) == lo and s.ladder(500.0) == hi


# -- S07/S08: recovery sizing from the drawdown threshold on -----------------------------------
def test_recovery_starts_at_the_drawdown_threshold(config: RiskConfig) -> None:
    r = config.sizing.drawdown_recovery
    assert 0 < r.multiplier < 1 and 0.005 < r.from_drawdown < 0.5
    peak, pct = 1000.0, config.sizing.base_size_pct
    below_eq = peak * (1 - (r.from_drawdown - 0.001))  # 1.9% with the shipped 2%
    below = sized(config, equity=below_eq, peak_equity=peak)
    assert below.recovery == 1.0 and below.notional == pytest.approx(below_eq * pct)
    for dd in (r.from_drawdown, r.from_drawdown + 0.005, r.from_drawdown * 2):
        equity = peak * (1 - dd)
        assert 1 - equity / peak >= r.from_drawdown  # the drawdown the sizer computes reaches it
        s = sized(config, equity=equity, peak_equity=peak)
        assert s.recovery == r.multiplier, dd
        assert s.notional == pytest.approx(equity * pct * r.multiplier), dd


def test_a_drawdown_exactly_at_the_threshold_recovers() -> None:
    """`from_drawdown` is where recovery starts, that drawdown included. The shipped 2% is no
    binary fraction, so 1 - equity / peak never lands on it exactly: a threshold of 1/4 does."""
    data = spec_data()
    data["sizing"]["drawdown_recovery"]["from_drawdown"] = 0.25
    cfg = RiskConfig.model_validate(data)
    peak = 1024.0
    assert 1 - 768.0 / peak == 0.25
    at = sized(cfg, equity=768.0, peak_equity=peak)
    under = sized(cfg, equity=768.0 + 1 / 64, peak_equity=peak)
    assert at.recovery == cfg.sizing.drawdown_recovery.multiplier and under.recovery == 1.0


def test_recovery_and_kelly_shrink_the_lot_when_the_risk_cap_binds(config: RiskConfig) -> None:
    """A stop this wide (0.3 on 1.10) makes the per-trade risk cap, not the wallet fraction, set
    the lot: recovery and the Kelly floor must shrink it all the same ("automatic lot reduction",
    seed 000), not only the wallet fraction that no longer binds."""
    k, r = config.sizing.kelly, config.sizing.drawdown_recovery
    s, wide = Sizer(config.sizing), intent(stop_dist=0.3)
    full = s(wide, book(), "forex")
    assert full.qty * full.per_unit.total == pytest.approx(full.risk_cap)  # the cap binds,
    assert full.qty < 1000.0 * full.size_pct / wide.entry  # not the wallet fraction
    drawn = s(wide, book(equity=1000.0, peak_equity=1000.0 / (1 - 2 * r.from_drawdown)), "forex")
    losing = s(wide, book(win_rate=0.1, payoff_ratio=0.5, trades_closed=k.min_trades), "forex")
    assert drawn.qty == pytest.approx(full.qty * r.multiplier)
    assert losing.kelly == k.floor and losing.qty == pytest.approx(full.qty * k.floor)


# -- mut5f S17-S20: seed 004's per-trade risk cap, B x r_A x ladder up to the $1000 threshold T,
# then max(T, B x q_A x ladder); T in the wallet's currency (crypto_spot: r 2%, q 0.75%) --------
def test_the_risk_cap_below_the_threshold_is_scaled_by_the_ladder(config: RiskConfig) -> None:
    assert Sizer(config.sizing).risk_cap(20_000.0, "crypto_spot", 2.0) == pytest.approx(800.0)  # 20k x 2% x 2


def test_the_percent_sizing_above_the_threshold_never_drops_below_it(config: RiskConfig) -> None:
    """Just past T (60k x 2% = 1,200 > 1,000), q_A alone would give 450: the cap stays at T."""
    assert Sizer(config.sizing).risk_cap(60_000.0, "crypto_spot", 1.0) == pytest.approx(1000.0)


def test_the_percent_sizing_above_the_threshold_is_scaled_by_the_ladder(config: RiskConfig) -> None:
    assert Sizer(config.sizing).risk_cap(200_000.0, "crypto_spot", 2.0) == pytest.approx(3000.0)  # 200k x 0.75% x 2


def test_the_threshold_is_compared_in_the_wallets_currency(config: RiskConfig) -> None:
    """A BTC wallet at $50,000/BTC: T is 0.02 BTC, so 1.5 BTC x 2% = 0.03 BTC is past it and capped
    at max(0.02, 1.5 x 0.75%) = 0.02 BTC, not left at 0.03 as if T were 1,000 BTC."""
    s = Sizer(config.sizing, {"crypto_spot": 50_000.0})
    assert s.risk_cap(1.5, "crypto_spot", 1.0) == pytest.approx(0.02)
