"""Safety invariants of `engine run`, checked on every event of real replays.

Each example is a real run (bundled data, the stage's machines, the risk chain, the
paper venue, SQLite) of a few hundred bars. Hypothesis varies what can break safety:
the dataset and slice, the venue's seed, partial fills (0..0.8) and slippage, kill
commands posted to the operator channel at random bars (close_only, flatten, halt,
resume), max hold, stop moves requested at random bars, the brackets' breakeven and
trailing updates, the sizing (so that the caps bind), durability, and, to see many
entries in few bars, a seeded random target in place of the strategy's.

The checks (tests/run_support.py) run after every audit record of every machine and
around every venue call; the store is audited after every step with a fill and every
checkpoint. Each test asserts one rule; the message lists the events before the
first violation.

Scenarios that once broke a rule are pinned with @example (a reversal whose netted
entry left legs with no position, legs a lot step short, a partly filled stop
resized below its position, a stop widened by a resize, a fill lost when its
bracket retired in the same bar, a flatten that never finished across a gap
in the data, and a trade recorded before its late entry fill's close-out); others make a rule
bind that random draws seldom reach (a close-only while entries work, funding, the daily
budget, sector and portfolio caps, a venue funds check behind a loosened chain), and fail
if they stop reaching it.
"""
from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from run_support import WRITE_AHEAD_READS, Scenario, drive, write_env_override

# Datasets that share dates (several series in one run trade side by side; series years
# apart make the replay clock jump years, see test_a_flatten_across_a_data_gap_terminates).
SPOT = ("crypto_spot/ETH_BTC-5m", "crypto_spot/LTC_BTC-5m", "crypto_spot/ADA_BTC-5m")  # Jan 2018
# XRP-PERP: real funding rates fall due from its 288th bar on (offsets reach past it).
ERAS = (SPOT, ("crypto_perp/BTC-PERP-1m",), ("crypto_perp/XRP-PERP-5m",), ("forex/GBPUSD-1m",), ("forex/USDJPY-1m",))
KILL_COMMANDS = ("close_only", "flatten", "halt", "resume")
HOUR = 3600.0
SHM = Path("/dev/shm")
NO_SHRINK = (Phase.explicit, Phase.generate)  # shrinking a whole run costs minutes


@pytest.fixture(scope="module")
def overrides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_env_override(tmp_path_factory.mktemp("specs"), wallet=1_000_000.0)


@st.composite
def scenarios(draw, *, commands: tuple[int, int] = (0, 3), moves: tuple[int, int] = (0, 4),
              flips: tuple[int, ...] = (0, 3, 6, 12), sizes: tuple[float | None, ...] = (None,),
              durability: tuple[str, ...] = ("batch",), price_updates: tuple[bool, ...] = (False, True),
              concurrency: tuple[int | None, ...] = (None,), max_series: int = 2) -> Scenario:
    stage = draw(st.sampled_from((1, 3)))
    era = SPOT if stage == 1 else draw(st.sampled_from(ERAS))  # stage 1 trades crypto spot only
    datasets = tuple(draw(st.lists(st.sampled_from(era), min_size=1, max_size=max_series, unique=True)))
    bars = draw(st.integers(120, 240))
    at = st.integers(0, bars * len(datasets) - 1)
    return Scenario(
        stage=stage, datasets=datasets, offset=draw(st.integers(0, 600)), bars=bars,
        seed=draw(st.integers(0, 2**16)),
        partial_fill_prob=draw(st.one_of(st.just(0.0), st.floats(0.0, 0.8))),
        slippage_bps=draw(st.floats(0.0, 30.0)),
        max_hold_s=draw(st.integers(1, 48)) * HOUR,
        commands=tuple(sorted(draw(st.lists(st.tuples(at, st.sampled_from(KILL_COMMANDS)),
                                            min_size=commands[0], max_size=commands[1])))),
        stop_moves=tuple(sorted(draw(st.lists(st.tuples(at, st.floats(-0.8, 0.8)),
                                              min_size=moves[0], max_size=moves[1])))),
        price_updates=draw(st.sampled_from(price_updates)),
        size_pct=draw(st.sampled_from(sizes)),
        max_concurrent=draw(st.sampled_from(concurrency)),
        durability=draw(st.sampled_from(durability)),
        flip_every=draw(st.sampled_from(flips)))


# A pinned scenario that is there to make a rule bind names the count that shows it did: a
# scenario that stops reaching its rule (a change of data, sizing or defaults) fails, rather
# than passing on a check it no longer makes.
MUST_REACH: list[tuple[Scenario, str]] = []  # (a list: a scenario's limits may hold a dict)


def reaching(sc: Scenario, count: str) -> Scenario:
    MUST_REACH.append((sc, count))
    return sc


def run(sc: Scenario, overrides: Path):
    with tempfile.TemporaryDirectory(dir=SHM if SHM.is_dir() else None) as work:  # tmpfs: fsync is free
        checker = drive(sc, Path(work), overrides)
    assert checker.counts["bars"] > 0 and checker.counts["events"] > 0, "the run did nothing to check"
    return checker


def reached(sc: Scenario, checker) -> None:
    """After the rule's own assertion: a pinned scenario still reaches what it is there for."""
    for count in (c for s, c in MUST_REACH if s == sc):
        assert checker.counts.get(count, 0) > 0, f"the scenario no longer reaches {count!r}"


# -- invariants that hold ----------------------------------------------------------------
# Three spot pairs on one clock, random targets, a close-only (then a resume) every 30 bars: an
# entry sent on one pair's bar still works when the close-only comes, and must not fill.
CLOSE_ONLY_WORKING = Scenario(stage=1, datasets=SPOT, offset=0, bars=150, seed=3, partial_fill_prob=0.0,
                              slippage_bps=0.0, max_hold_s=HOUR, flip_every=2,
                              commands=tuple(c for b in range(20, 450, 30)
                                             for c in ((b, "close_only"), (b + 6, "resume"))))


@settings(max_examples=30, deadline=None)
@example(sc=CLOSE_ONLY_WORKING)
@given(sc=scenarios(commands=(1, 5), moves=(0, 0), flips=(2, 4, 8)))
def test_close_only_never_sends_an_entry(sc: Scenario, overrides: Path) -> None:
    """While the kill machine's state lacks `opens_risk`, no ENTRY order reaches the venue; and
    while it is in a state that cancels entries (close-only, flatten, halted) none that was
    working before fills."""
    checker = run(sc, overrides)
    assert "close_only" not in checker.violations, checker.report("close_only")


# Three spot pairs on one clock, random targets, one position allowed: an entry sent on one
# pair's bar still works (it fills at that pair's next bar) when the next pair's bar decides.
WORKING_ENTRIES = Scenario(stage=1, datasets=SPOT, offset=0, bars=150, seed=3, partial_fill_prob=0.0,
                           slippage_bps=0.0, max_hold_s=HOUR, flip_every=3, max_concurrent=1)


# The same pairs with a daily risk budget, then a sector cap, small enough to bind (the
# default ones do not in a few hundred bars): the entry that would cross it is refused.
DAILY_BUDGET = reaching(replace(WORKING_ENTRIES, flip_every=2, max_concurrent=None,
                                limits=(("daily_risk_budget_pct", 0.001),)), "refused: daily_risk_budget")
SECTOR_CAP = reaching(replace(WORKING_ENTRIES, flip_every=2, max_concurrent=None,
                              limits=(("sector_risk_pct", 0.0005),)), "refused: sector_risk")
# Entries of 12% each (under the 15% pair cap), the daily budget out of the way: a third pair's
# entry would take the book past the 30% portfolio cap, and is refused.
PORTFOLIO_CAP = reaching(replace(WORKING_ENTRIES, flip_every=12, max_concurrent=None, size_pct=0.12,
                                 max_hold_s=48 * HOUR, bars=240, limits=(("daily_risk_budget_pct", 1.0),)),
                         "refused: exposure_portfolio")


@settings(max_examples=30, deadline=None)
@example(sc=WORKING_ENTRIES)
@example(sc=DAILY_BUDGET)
@example(sc=SECTOR_CAP)
@example(sc=PORTFOLIO_CAP)
@given(sc=scenarios(sizes=(None, 0.1, 0.12, 0.14, 0.16, 0.3), flips=(2, 4, 8), concurrency=(None, 1, 2),
                    max_series=3))
def test_every_approved_entry_respects_budget_and_exposure_caps(sc: Scenario, overrides: Path) -> None:
    """At each entry sent: notional within the size budget, pair and portfolio exposure and
    leverage within specs/risk/risk.yaml's limits, at most max_concurrent_positions; entries
    still working at the venue count as the positions they will be. The day's entries' risk
    at the stop within the daily risk budget, and the entry's sector's open risk within the
    sector cap."""
    checker = run(sc, overrides)
    assert "caps" not in checker.violations, checker.report("caps")
    reached(sc, checker)


# Two spot series whose lengths differ: the quiet screen once read one symbol's closes at the
# other's row numbers (IndexError past the shorter series).
TWO_SERIES_MARKS = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m", "crypto_spot/ADA_BTC-5m"), offset=0,
                            bars=120, seed=0, partial_fill_prob=0.0, slippage_bps=0.0, max_hold_s=HOUR,
                            flip_every=3)


# XRP-PERP across its funding times: funding is paid from (and to) the perp wallet alone.
FUNDING = Scenario(stage=3, datasets=("crypto_perp/XRP-PERP-5m",), offset=100, bars=240, seed=1,
                   partial_fill_prob=0.3, slippage_bps=5.0, max_hold_s=24 * HOUR, flip_every=6)
# Large entries held long, the chain's caps loosened so that only the venue's own funds check
# stands between them and a wallet committing more than it holds: the venue refuses some.
UNFUNDED = reaching(Scenario(stage=1, datasets=SPOT, offset=0, bars=150, seed=3, partial_fill_prob=0.0,
                             slippage_bps=0.0, max_hold_s=48 * HOUR, flip_every=8, size_pct=2.0,
                             limits=(("leverage_caps", {"crypto_spot": 10, "crypto_perp": 3, "forex": 10,
                                                        "forex_options": 1}),
                                     ("exposure_pair_pct", 10.0), ("exposure_portfolio_pct", 20.0),
                                     ("daily_risk_budget_pct", 1.0), ("sector_risk_pct", 1.0))),
                    "venue refused")


@settings(max_examples=30, deadline=None)
@example(sc=TWO_SERIES_MARKS)
@example(sc=FUNDING)
@example(sc=UNFUNDED)
@given(sc=scenarios(durability=("batch", "full")))
def test_wallets_never_go_negative_nor_take_another_domains_money(sc: Scenario, overrides: Path) -> None:
    """Venue cash, in-memory books and stored wallets stay >= 0; a venue call for one symbol
    (its bar, its funding, a submit) moves only its own domain's cash; the venue takes no
    entry its wallet cannot fund; each stored credit cites a fill of its own domain and moves
    exactly its P&L; each stored wallet equals its start plus its own fills' P&L; a domain
    not in the run keeps its venue cash."""
    checker = run(sc, overrides)
    assert "wallet" not in checker.violations, checker.report("wallet")
    reached(sc, checker)


# -- stops -------------------------------------------------------------------------------
# Scenarios that broke a rule (kept as explicit examples: each runs first, every time).
STOP_RESIZED_SHORT = Scenario(stage=1, datasets=("crypto_spot/LTC_BTC-5m",), offset=0, bars=400, seed=7,
                              partial_fill_prob=0.3, slippage_bps=8.0, max_hold_s=48 * HOUR, flip_every=8)
REVERSAL_BARE = Scenario(stage=3, datasets=("forex/GBPUSD-1m",), offset=426, bars=200, seed=857,
                         partial_fill_prob=0.7, slippage_bps=8.0, max_hold_s=48 * HOUR, flip_every=4)
SNAPPED_SHORT = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=373, bars=206, seed=59155,
                         partial_fill_prob=0.4, slippage_bps=8.0, max_hold_s=48 * HOUR, flip_every=12)
STOP_WIDENED = Scenario(stage=3, datasets=("crypto_spot/ADA_BTC-5m",), offset=242, bars=250, seed=76,
                        partial_fill_prob=0.6594119620329015, slippage_bps=8.0, max_hold_s=48 * HOUR,
                        price_updates=True, flip_every=8)
FILL_LOST = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=561, bars=195, seed=4673,
                     partial_fill_prob=0.33, slippage_bps=11.0, max_hold_s=40 * HOUR, flip_every=6)
AMEND_SHORT = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m", "crypto_spot/LTC_BTC-5m"), offset=0, bars=600,
                      seed=4, partial_fill_prob=0.6, slippage_bps=8.0, max_hold_s=48 * HOUR, flip_every=20,
                      stop_moves=tuple((b, -0.5) for b in range(10, 600, 7))
                      + tuple((b, 0.3) for b in range(13, 600, 11)),
                      price_updates=True)  # a resized leg's float total, rounded down by the venue, a lot short
GAP_FLATTEN = Scenario(stage=3, datasets=("crypto_spot/ADA_BTC-5m", "forex/GBPUSD-1m"), offset=67, bars=218,
                       seed=132, partial_fill_prob=0.7157043509114738, slippage_bps=18.8233533405175,
                       max_hold_s=42 * HOUR, commands=((200, "flatten"),), flip_every=3)


@settings(max_examples=15, deadline=None)
@example(sc=replace(STOP_WIDENED, durability="batch"))  # trailing stops and resized legs: amends
@example(sc=replace(STOP_WIDENED, durability="full"))
@given(sc=scenarios(durability=("batch", "full")))
def test_stored_order_statuses_follow_the_venue(sc: Scenario, overrides: Path) -> None:
    """Canceled and expired orders (OCO legs, cancelled entries) are stored as such, not left
    `accepted` for `engine status` and reconciliation to mistake for working orders; amended
    and clamped orders are stored with the venue's qty and price."""
    checker = run(sc, overrides)
    assert "store_orders" not in checker.violations, checker.report("store_orders")
    assert "write-ahead" not in checker.violations, checker.report("write-ahead")


@pytest.mark.parametrize("durability", ["full", "batch"])
def test_the_venue_hears_of_an_order_only_once_its_intent_is_recorded(durability: str, overrides: Path) -> None:
    """Write-ahead (issue 3 s8): with durability `full` the order's row and its `intent` journal
    entry are committed (a second connection sees them) before the venue's submit is called; with
    `batch`, which commits only at checkpoints (engine/exec/ledger.py), the intent is in the
    ledger's buffer by then. Checked by the Checker (tests/run_support.py check_write_ahead)."""
    checker = run(replace(STOP_WIDENED, durability=durability), overrides)
    assert "write-ahead" not in checker.violations, checker.report("write-ahead")
    assert checker.counts["write-ahead checks"] > 0
    assert checker.write_ahead_reads == (min(checker.counts["write-ahead checks"], WRITE_AHEAD_READS)
                                         if durability == "full" else 0)


@settings(max_examples=20, deadline=None, phases=NO_SHRINK)
@example(sc=STOP_RESIZED_SHORT)
@example(sc=REVERSAL_BARE)
@example(sc=SNAPPED_SHORT)
@example(sc=AMEND_SHORT)
@given(sc=scenarios())
def test_every_open_position_has_a_working_stop(sc: Scenario, overrides: Path) -> None:
    """Grace (two-step placement): a position whose entry filled in this bar's venue.on_bar, or whose
    stop the engine is cancelling to exit, may lack cover until the end of the bar's step.
    Otherwise, and always at the end of a step, working reduce-only stop-loss (or market
    exit) orders on the closing side cover the whole venue position. And one cancels the other:
    at the end of a step, no leg works on whose sibling filled in full."""
    checker = run(sc, overrides)
    assert "stop" not in checker.violations, checker.report("stop")
    assert "oco" not in checker.violations, checker.report("oco")


def test_one_step_placement_protects_every_position(tmp_path: Path) -> None:
    """With `two_step_placement: false` the legs go with the entry as contingent orders: the
    venue holds them until the entry fills, refuses none, and they cover every position."""
    one_step = write_env_override(tmp_path / "ovr", wallet=1_000_000.0,
                                  values={"bracket": {"two_step_placement": False}})
    checker = run(replace(AMEND_SHORT, stop_moves=()), one_step)
    assert "stop" not in checker.violations, checker.report("stop")
    assert checker.counts["trades"] > 0 and checker.counts["venue refused"] == 0


@settings(max_examples=20, deadline=None)
@example(sc=STOP_WIDENED)
@given(sc=scenarios(moves=(0, 6), price_updates=(True,)))
def test_a_stop_is_never_widened(sc: Scenario, overrides: Path) -> None:
    """Every working stop-loss order's trigger, as the venue holds it after each submit and
    amend, only rises for a long (a sell stop) and only falls for a short (a buy stop).
    Requests to widen come with the scenario's stop moves; breakeven and trailing tighten."""
    checker = run(sc, overrides)
    assert "stop_widened" not in checker.violations, checker.report("stop_widened")


@settings(max_examples=20, deadline=None)
@example(sc=FILL_LOST)
@given(sc=scenarios())
def test_the_engine_books_every_fill_the_venue_makes(sc: Scenario, overrides: Path) -> None:
    """At the end of every step the in-memory books hold the venue's positions and cash."""
    checker = run(sc, overrides)
    assert "ledger" not in checker.violations, checker.report("ledger")


# -- trades ------------------------------------------------------------------------------
# An entry's last part fill in the bar its stop filled: the bracket closed, the late units left
# at market a bar later, and the trade was recorded before (without them, their exit, its fee).
LATE_ENTRY_FILL = Scenario(stage=1, datasets=("crypto_spot/ADA_BTC-5m",), offset=74, bars=240, seed=35,
                           partial_fill_prob=0.6, slippage_bps=8.0, max_hold_s=48 * HOUR, flip_every=4,
                           commands=((200, "flatten"),), late_reports=True)


@st.composite
def ending_flat(draw) -> Scenario:
    """Part fills and flips, and a flatten near the end: the last checkpoints see nothing open."""
    sc = draw(scenarios(commands=(0, 0), moves=(0, 2), flips=(2, 4, 8)))
    end = sc.bars * len(sc.datasets)
    return replace(sc, partial_fill_prob=draw(st.floats(0.2, 0.8)), commands=((end - 30, "flatten"),))


def test_an_entry_filled_at_the_open_is_covered_by_its_stop(overrides: Path) -> None:
    """QA D1: the paper venue worked a bracket's stop before its entry's last part, which filled
    at the bar's open: those units came after the stop-out, with no stop. In time order (the
    open's fills answered first) the stop covers them: the same run has no late entry fill."""
    checker = run(replace(LATE_ENTRY_FILL, late_reports=False), overrides)
    assert checker.counts["trades"] > 0 and checker.counts.get("late entry fills", 0) == 0
    assert "stop" not in checker.violations, checker.report("stop")


def test_a_stop_reported_before_the_entry_fill_it_covers_books_that_fill_first(overrides: Path) -> None:
    """The venue reports a bar's exits before its entries: a stop's fill comes before the entry's
    last fill it covered. That fill came after the bracket closed, and was closed out at market
    (`late_entry_fill`, 3 here); the venue's fills of the entry are now booked before the stop's
    (Execution._entry_first): no late entry fill, and the trades add up to the wallet. (The
    close-out of a true late entry fill: tests/test_exec_overfill.py.)"""
    checker = run(LATE_ENTRY_FILL, overrides)
    assert checker.counts.get("late entry fills", 0) == 0 and checker.counts.get("flat checkpoints", 0) > 0
    assert "trades" not in checker.violations, checker.report("trades")
    assert "stop" not in checker.violations, checker.report("stop")


@settings(max_examples=15, deadline=None, phases=NO_SHRINK)
@given(sc=ending_flat())
def test_every_trade_is_its_brackets_fills(sc: Scenario, overrides: Path) -> None:
    """Each closed trade's units, fees and P&L are those of its bracket's fills (late entry
    fills and their close-out included) less its funding; with nothing open, the trades'
    P&L is what each wallet moved by."""
    checker = run(sc, overrides)
    assert "trades" not in checker.violations, checker.report("trades")
    assert "flattened" not in checker.violations, checker.report("flattened")


def test_a_flatten_waits_for_a_late_entry_fills_close_out(overrides: Path) -> None:
    """A flatten sent while the venue reports exits before entries: `flattened` only once every
    unit is out (a late entry fill's close-out included, where one comes)."""
    checker = run(replace(LATE_ENTRY_FILL, commands=((190, "flatten"),)), overrides)
    assert "flattened" not in checker.violations, checker.report("flattened")


def test_a_flatten_closes_every_position_in_every_domain(overrides: Path) -> None:
    """A flatten with spot and forex positions open: from the step after it began, every
    position left is being closed (a working exit, or its bracket flattening)."""
    sc = replace(GAP_FLATTEN, partial_fill_prob=0.3, slippage_bps=5.0, commands=((150, "flatten"),))
    checker = run(sc, overrides)
    assert checker.counts["trades"] > 0
    assert "flattened" not in checker.violations, checker.report("flattened")


def test_a_flatten_across_a_data_gap_terminates(overrides: Path) -> None:
    """A flatten reaches `flattened` (then `halted`) instead of re-arming its retry timer for ever."""
    checker = run(GAP_FLATTEN, overrides)
    assert "flattened" not in checker.violations, checker.report("flattened")
