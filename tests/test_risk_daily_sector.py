"""Seed 000's daily risk budget and sector limit (guards `daily_risk_budget`, `sector_risk`):
the risk at the stop of a domain's entries of the day within 3.5% of its start-of-day equity,
the open risk of a sector within 1.5% of its equity; and `engine validate` on their keys."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from engine.cli import main
from engine.domain import Domain, Instrument
from engine.risk.chain import RiskChain
from engine.risk.config import RiskConfig
from engine.spec.loader import load_specs
from run_support import Checker, Scenario, build
from test_risk_chain import FX, book, intent
from test_risk_config import edited, line_of, spec_data

SPOT = ("crypto_spot/ETH_BTC-5m", "crypto_spot/LTC_BTC-5m")
DAY = 86400.0


@pytest.fixture(scope="module")
def config() -> RiskConfig:
    return RiskConfig.model_validate(spec_data())


def _judge(chain: RiskChain, inst: Instrument = FX, **kw):
    return chain.evaluate(intent(stop_dist=0.05), book(**kw), inst, kill_mode="normal", entries_allowed=True,
                          active_symbols=None)


# -- the daily risk budget ----------------------------------------------------------------
def test_the_budget_passes_just_under_and_refuses_just_over(config: RiskConfig) -> None:
    chain = RiskChain(config)
    day = dict(equity=900.0, day_start_equity=1000.0)
    add = _judge(chain, **day).sized.risk_at_stop
    budget = 0.035 * 1000.0  # of the day's start, not of the equity now
    assert add > 0
    assert _judge(chain, **day, day_risk=budget - add - 1e-6).approved
    over = _judge(chain, **day, day_risk=budget - add + 1e-6)
    assert over.rejection is not None and over.rejection.rule == "daily_risk_budget"
    n = over.rejection.numbers
    assert (n["budget"], n["day_start_equity"], n["budget_pct"]) == (pytest.approx(budget), 1000.0, 0.035)
    assert n["spent"] + n["add"] > n["budget"] and n["add"] == pytest.approx(add)


def test_a_book_with_no_day_start_measures_the_budget_from_its_equity(config: RiskConfig) -> None:
    """A book built outside a run (no day roll yet): the day starts now, nothing spent."""
    d = _judge(RiskChain(config), equity=1000.0, day_risk=35.0)
    assert d.rejection is not None and d.rejection.numbers["budget"] == pytest.approx(35.0)


# -- the sector cap -----------------------------------------------------------------------
EUR = Instrument("EUR/USD", Domain.FOREX, tick=1e-5, step=1.0, min_notional=1.0)


def _eur(chain: RiskChain, open_risk: dict[str, float]):
    i = intent(stop_dist=0.05)._replace(symbol="EUR/USD")
    return chain.evaluate(i, book(open_risk=open_risk), EUR, kill_mode="normal", entries_allowed=True,
                          active_symbols=None)


def test_the_sector_cap_counts_the_open_risk_of_the_entry_s_sector_only(config: RiskConfig) -> None:
    chain = RiskChain(config)
    add = _eur(chain, {}).sized.risk_at_stop
    cap = 0.015 * 1000.0
    # USD/JPY and 6EH4 are in usd_fx with EUR/USD; BTC-PERP is not
    assert _eur(chain, {"USD/JPY": cap - add - 1e-6}).approved
    assert _eur(chain, {"BTC-PERP": cap}).approved
    d = _eur(chain, {"USD/JPY": cap - add - 2.0, "6EH4": 2.0 + 1e-6})
    assert d.rejection is not None and d.rejection.rule == "sector_risk"
    assert d.rejection.numbers["sector"] == "usd_fx" and d.rejection.numbers["cap"] == pytest.approx(cap)


def test_a_symbol_in_no_sector_is_capped_as_a_sector_of_its_own(config: RiskConfig) -> None:
    """EURUSD (the test instrument, not the catalogue's EUR/USD) is in no sector: it does not
    escape the cap, and no other symbol's open risk counts against it."""
    chain = RiskChain(config)
    assert _judge(chain, open_risk={"EUR/USD": 14.0, "XYZ": 14.0}).approved
    d = _judge(chain, open_risk={"EURUSD": 15.0})
    assert d.rejection is not None and d.rejection.rule == "sector_risk"
    assert d.rejection.numbers["sector"] == "EURUSD" and "its own" in d.rejection.message


# -- in a run: what the guards read ---------------------------------------------------------
def _run(loose: Path, **limits: float) -> dict:
    """Two spot series over four days, flipping often, with these risk limits."""
    sc = Scenario(1, SPOT, 0, 1100, 3, 0.0, 0.0, 6 * 3600.0, flip_every=12)
    with tempfile.TemporaryDirectory() as work:
        runner = build(sc, Path(work), loose, Checker())
        runner.risk = runner.risk.model_copy(update={"limits": runner.risk.limits.model_copy(update=limits)})
        runner.chain = RiskChain(runner.risk, runner.session.usd_rates)
        seen: list = []
        evaluate = runner.chain.evaluate
        approved: list[float] = []  # the risk each approved entry was sized at, in the order they open
        sized_at: dict[str, float] = {}  # bracket id -> the chain's own figure, not the bracket's copy

        def watched(i, view, *args, **kwargs):
            brackets = runner.session.execution.brackets.values()
            for b in brackets:  # each approval opened the next bracket
                if b.id not in sized_at:
                    sized_at[b.id] = approved.pop(0)
            open_: dict[str, float] = {}
            for b in brackets:
                open_[b.symbol] = open_.get(b.symbol, 0.0) + sized_at[b.id]
            d = evaluate(i, view, *args, **kwargs)
            if d.approved:
                approved.append(d.sized.risk_at_stop)
            seen.append((i.ts, view, d, open_))
            return d

        runner.chain.evaluate = watched
        try:
            runner.run()
        finally:
            runner.session.store.close()
        return {"seen": seen, "rejections": dict(runner.rejections)}


def test_the_budget_is_spent_by_the_day_s_entries_and_renewed_by_the_day_roll(loose: Path) -> None:
    out = _run(loose, daily_risk_budget_pct=0.0004)
    seen = out["seen"]
    assert out["rejections"].get("daily_risk_budget", 0) > 0
    days: dict[int, list] = {}
    for ts, view, d, _ in seen:
        days.setdefault(-int(-ts // DAY) - 1, []).append((view, d))  # a UTC day: (its 00:00, the next 00:00]
    assert len(days) >= 3
    for entries in days.values():
        spent = 0.0
        for view, d in entries:
            assert view.day_risk == pytest.approx(spent, abs=1e-15)  # this day's approved entries only
            assert view.day_start_equity is not None
            if d.approved:
                assert spent + d.sized.risk_at_stop <= 0.0004 * view.day_start_equity * (1 + 1e-12)
                spent += d.sized.risk_at_stop
    refused_days = [day for day, e in days.items() if any(d.rejection and d.rejection.rule == "daily_risk_budget"
                                                          for _, d in e)]
    later = [day for day, e in days.items() if day > refused_days[0] and any(d.approved for _, d in e)]
    assert later, "the day roll renews the budget: entries pass again the next day"


def test_the_sector_cap_reads_the_risk_the_open_brackets_were_sized_at(loose: Path) -> None:
    out = _run(loose, sector_risk_pct=0.0002)
    assert out["rejections"].get("sector_risk", 0) > 0
    for _, view, d, open_ in out["seen"]:
        assert dict(view.open_risk) == pytest.approx(open_)
        if d.approved:
            assert sum(open_.values()) + d.sized.risk_at_stop <= 0.0002 * view.equity * (1 + 1e-12)


# -- engine validate ------------------------------------------------------------------------
LIMIT = "  daily_risk_budget_pct: 0.035\n"
SECTORS = "    usd_fx: [EUR/USD, GBP/USD, USD/JPY, 6EH4]"

# (old text, new text, code, text on the line the error points at, what the message says)
BAD = [
    (LIMIT, '  daily_risk_budget_pct: "3.5%"\n', "SCHEMA_TYPE", "daily_risk_budget_pct:", "daily_risk_budget_pct"),
    (LIMIT, "  daily_risk_budget_pct: 0\n", "SCHEMA_VALUE", "daily_risk_budget_pct:",
     "`limits.daily_risk_budget_pct`: 0 is outside (0, 1]"),
    ("  sector_risk_pct: 0.015\n", "  sector_risk_pct: 1.5\n", "SCHEMA_VALUE", "sector_risk_pct:",
     "`limits.sector_risk_pct`: 1.5 is outside (0, 1]"),
    (LIMIT, LIMIT + "  daily_budget: 0.035\n", "SCHEMA_UNKNOWN_KEY", "daily_budget:", "daily_budget"),
    ("  - sector_risk\n", "  - sector_cap\n", "SCHEMA_VALUE", "- sector_cap", "sector_cap"),
    (SECTORS, "    usd_fx: [EUR/USD, GBP/USD, USD/JPY, 6EH4, BTC-PERP]", "SCHEMA_VALUE", "usd_fx:",
     "`limits.sectors.usd_fx.4`: the symbol BTC-PERP is in sector `crypto_perps` and in `usd_fx`"),
    (SECTORS, "    usd_fx: [EUR/USD, GBP/USD, USD/JPY, EUR/USD]", "SCHEMA_VALUE", "usd_fx:",
     "`limits.sectors.usd_fx.3`: the symbol EUR/USD is listed twice in sector `usd_fx`"),
    (SECTORS, "    usd_fx: []", "SCHEMA_VALUE", "usd_fx:", "`limits.sectors.usd_fx`: the sector lists no symbol"),
    (SECTORS, "    usd_fx: [EUR/USD, GBP/USD, USD/JPY, 6EH4, 7]", "SCHEMA_TYPE", "usd_fx:", "usd_fx"),
    (SECTORS, "    usd_fx: [EURUSD, GBP/USD, USD/JPY, 6EH4]", "RISK_SECTOR_SYMBOL", "usd_fx:",
     "sector `usd_fx` names EURUSD, which the contract catalogue"),
]


@pytest.mark.parametrize("old,new,code,at,message", BAD, ids=[f"{b[2]}:{b[1].strip()[:24]}" for b in BAD])
def test_a_bad_key_is_an_error_at_its_line_with_a_hint(tmp_path, old, new, code, at, message) -> None:
    path = edited(tmp_path, old, new)
    _, diags = load_specs([tmp_path / "specs"])
    if code == "RISK_SECTOR_SYMBOL":
        from engine.commands.validate import validate

        diags, _ = validate([str(tmp_path / "specs")])
    (d,) = [d for d in diags if d.code == code]
    assert message in d.message and d.hint
    assert str(d.pos).startswith(f"{path}:{line_of(path, at)}:") and d.pos.col > 0


def test_engine_validate_prints_a_misspelt_sector_symbol_with_a_did_you_mean(tmp_path, capsys) -> None:
    path = edited(tmp_path, SECTORS, "    usd_fx: [EURUSD, GBP/USD, USD/JPY, 6EH4]")
    assert main(["validate", str(tmp_path / "specs")]) == 1
    out = capsys.readouterr().out
    assert f"{path}:{line_of(path, 'usd_fx:')}:14: error RISK_SECTOR_SYMBOL" in out
    assert "did you mean `EUR/USD`" in out


def test_a_checkpoint_keeps_the_day_s_spent_budget() -> None:
    """A resumed run re-makes the bars after its checkpoint with the budget the day had spent."""
    from engine.run.book import DomainBook
    from engine.run.checkpoint import book_data, book_from

    b = DomainBook(Domain.FOREX, "paper", 1000.0, 990.0, 0.0, 1000.0, 995.0)
    b.day_risk = 12.5
    again = book_from(book_data(b))
    assert (again.day_start_equity, again.day_risk) == (995.0, 12.5)


@pytest.mark.parametrize("new,symbol,message", [
    ("    usd_fx: [EUR/USD, GBP/USD, USD/JPY, 6EH4, BTC-PERP]", "BTC-PERP", "is in sector `crypto_perps` and in `usd_fx`"),
    ("    usd_fx: [EUR/USD, GBP/USD, USD/JPY, GBP/USD]", "GBP/USD", "is listed twice in sector `usd_fx`"),
])
def test_a_symbol_listed_again_is_reported_at_its_second_listing(tmp_path, new: str, symbol: str, message: str) -> None:
    path = edited(tmp_path, SECTORS, new)
    _, diags = load_specs([tmp_path / "specs"])
    (d,) = [d for d in diags if d.code == "SCHEMA_VALUE"]
    line = line_of(path, "usd_fx:")
    assert (d.pos.line, d.pos.col) == (line, path.read_text().splitlines()[line - 1].rindex(symbol) + 1)
    assert f"the symbol {symbol} {message}" in d.message and d.hint


def test_every_symbol_listed_again_is_reported_in_one_run(tmp_path) -> None:
    """Not the first repeat now and the next once it is fixed: each at its second listing."""
    path = edited(tmp_path, SECTORS, "    usd_fx: [EUR/USD, GBP/USD, USD/JPY, 6EH4, BTC-PERP, GBP/USD]")
    _, diags = load_specs([tmp_path / "specs"])
    found = sorted((d.pos.col, d.message) for d in diags if d.code == "SCHEMA_VALUE")
    text = path.read_text().splitlines()[line_of(path, "usd_fx:") - 1]
    assert found == [(text.index("BTC-PERP") + 1, "`limits.sectors.usd_fx.4`: the symbol BTC-PERP is in sector "
                      "`crypto_perps` and in `usd_fx`"),
                     (text.rindex("GBP/USD") + 1, "`limits.sectors.usd_fx.5`: the symbol GBP/USD is listed twice "
                      "in sector `usd_fx`")]


def test_sectors_written_as_a_list_get_a_hint(tmp_path) -> None:
    """`- usd_fx: [...]` items: each a one-key mapping, the list no sector map."""
    path = edited(tmp_path, SECTORS, "    - usd_fx: [EUR/USD, GBP/USD, USD/JPY, 6EH4]")
    path.write_text(path.read_text().replace("    crypto_alts:", "    - crypto_alts:")
                    .replace("    crypto_perps:", "    - crypto_perps:"))
    _, diags = load_specs([tmp_path / "specs"])
    (d,) = [d for d in diags if d.code == "SCHEMA_VALUE"]
    assert d.message.startswith("`limits.sectors`: the sectors are a list, not a mapping")
    assert d.hint and "usd_fx: [EUR/USD, GBP/USD]" in d.hint and d.pos.line == line_of(path, "- crypto_alts:")


def test_a_sector_symbol_in_the_wrong_case_gets_a_did_you_mean(tmp_path, capsys) -> None:
    path = edited(tmp_path, "[ETH/BTC, ADA/BTC", "[eth/btc, ADA/BTC")
    assert main(["validate", str(tmp_path / "specs")]) == 1
    out = capsys.readouterr().out
    assert f"{path}:{line_of(path, 'crypto_alts:')}:19: error RISK_SECTOR_SYMBOL" in out
    assert "did you mean `ETH/BTC`, as the catalogue writes it?" in out
