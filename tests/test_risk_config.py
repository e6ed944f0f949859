"""The risk schema refuses what the run cannot use, at its line, and the kill switch stays on."""
from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from ruamel.yaml import YAML

from engine.cli import main
from engine.domain import Domain
from engine.risk.chain import RiskChain
from engine.risk.config import DOMAINS, RiskConfig
from engine.spec.loader import load_specs
from test_risk_chain import FX, book, intent

SPEC = Path(__file__).resolve().parents[1] / "specs" / "risk" / "risk.yaml"
TEXT = SPEC.read_text()


def edited(tmp_path: Path, old: str, new: str) -> Path:
    assert TEXT.count(old) == 1, old
    path = tmp_path / "specs" / "risk" / "risk.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(TEXT.replace(old, new))
    return path


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# (old text, new text, text on the line the error points at, what the message says)
BAD = [
    ("crypto_spot: 1, crypto_perp: 3", "crypto_spot: 0, crypto_perp: 3", "leverage_caps:",
     "`limits.leverage_caps.crypto_spot`: 0 is outside (0, 100]"),
    ("crypto_spot: 1, crypto_perp: 3", "crypto_spot: 10000, crypto_perp: 3", "leverage_caps:",
     "`limits.leverage_caps.crypto_spot`: 10000 is outside (0, 100]"),
    ("crypto_spot: 1, crypto_perp: 3", "crypto_spot: 1, crypto_perp: -1", "leverage_caps:",
     "`limits.leverage_caps.crypto_perp`: -1 is outside (0, 100]"),
    ("    crypto_perp: 0.01\n    forex: 0.005\n", "    crypto_perp: 0.01\n", "crypto_spot: 0.02",
     "`sizing.per_trade_risk_pct`: no entry for forex"),
    ("    crypto_spot: 0.02\n", "    crypto_spot: 5.0\n", "crypto_spot: 5.0",
     "`sizing.per_trade_risk_pct.crypto_spot`: 5 is outside (0, 1]"),
    ("    crypto_spot: 0.0075\n", "    crypto_spot: 75\n", "crypto_spot: 75",
     "`sizing.percent_sizing_above_threshold.crypto_spot`: 75 is outside (0, 1]"),
    ("clamp: [0.5, 5.0]", "clamp: [-1, 5.0]", "clamp:", "`sizing.ladder.clamp.0`: -1 is outside (0, 10]"),
    ("clamp: [0.5, 5.0]", "clamp: [0.5, 500]", "clamp:", "`sizing.ladder.clamp.1`: 500 is outside (0, 10]"),
    ("multiplier: 2.0}", "multiplier: 7.0}", "profit_usd: 200",
     "`sizing.ladder.steps`: step 3 (profit_usd 1000.0): multiplier 7.0 is outside the clamp [0.5, 5.0]"),
    ("window: 7d", "window: 0s", "window:", "`sizing.ladder.window`: 0s is outside (0s, 366d]"),
    # rev35: a step at a loss sized a small loss down and a larger one back to full size
    ("profit_usd: 200,", "profit_usd: -500,", "profit_usd: -500",
     "`sizing.ladder.steps.0.profit_usd`: profit_usd -500.0 is not a profit: the ladder raises size on 7-day "
     "profit, and below its first step the multiplier is 1.0"),
    # rev35: pydantic's tuple wording ("missing required key `1`", "at most 2 items")
    ("clamp: [0.5, 5.0]", "clamp: [0.5]", "clamp:", "`sizing.ladder.clamp`: [0.5] is not a [low, high] pair of multipliers"),
    ("clamp: [0.5, 5.0]", "clamp: [0.5, 1.0, 5.0]", "clamp:",
     "`sizing.ladder.clamp`: [0.5, 1.0, 5.0] is not a [low, high] pair of multipliers"),
    ("clamp: [0.5, 5.0]", "clamp: 5", "clamp:", "`sizing.ladder.clamp`: 5 is not a [low, high] pair of multipliers"),
    ("floor: 0.25", "floor: 0", "floor:", "`sizing.kelly.floor`: 0 is outside (0, 1]"),
    ("stop_atr: {crypto_spot: 1.5", "stop_atr: {crypto_spot: -1.5", "stop_atr:",
     "`brackets.stop_atr.crypto_spot`: -1.5 is outside (0, 20]"),
    ("take_profit_atr: {crypto_spot: 3.0, ", "take_profit_atr: {", "take_profit_atr:",
     "`brackets.take_profit_atr`: no entry for crypto_spot"),
    ("    crypto_spot: 25\n", "    crypto_spot: -25\n", "crypto_spot: -25",
     "`limits.spread_max_bps.crypto_spot`: -25 is outside [0, 10000]"),
    ("max_hold: 2d", "max_hold: 400d", "max_hold:", "`limits.max_hold`: 400d is outside (0s, 366d]"),
    ("forex: {weekdays: [0, 1, 2, 3, 4]", "forex: {weekdays: [0, 1, 2, 3, 9]", "forex: {weekdays",
     "`limits.sessions.forex.weekdays.4`: 9 is outside [0, 6]"),
    ("forex: {weekdays: [0, 1, 2, 3, 4]", "forex: {weekdays: []", "forex: {weekdays",
     "`limits.sessions.forex.weekdays`: no weekday listed"),
    # mut7b S06: 24:00 is no time of a Friday (the weekly cutoff would fall on Saturday 00:00).
    ('forex: {weekdays: [0, 1, 2, 3, 4], friday_close_utc: "21:00"}',
     'forex: {weekdays: [0, 1, 2, 3, 4], friday_close_utc: "24:00"}', "forex: {weekdays",
     '`limits.sessions.forex.friday_close_utc`: `24:00` is not a time of day'),
    # rev23 F3b: quoted already, it was told to quote it, with no hint; one rule with trading_day.starts
    ('forex: {weekdays: [0, 1, 2, 3, 4], friday_close_utc: "21:00"}',
     'forex: {weekdays: [0, 1, 2, 3, 4], friday_close_utc: "9:00"}', "forex: {weekdays",
     '`limits.sessions.forex.friday_close_utc`: `9:00` is not a time of day'),
    ("max_concurrent_positions: 8", "max_concurrent_positions: 0", "max_concurrent_positions:",
     "`limits.max_concurrent_positions`: 0 is outside [1, 1000]"),
    ("atr_window: 14", "atr_window: 1", "atr_window:", "`brackets.atr_window`: 1 is outside [2, 1000]"),
    ("  - kill_mode\n", "", "- no_short", "`guards`: the chain must start with `kill_mode`"),
    ("  - kill_mode\n  - no_short\n", "  - no_short\n  - kill_mode\n", "- no_short",
     "`guards`: the chain must start with `kill_mode`"),
    ("guards:\n  - kill_mode\n", "guards: []\nx:\n  - kill_mode\n", "guards: []",
     "`guards`: the chain must start with `kill_mode`"),
]


@pytest.mark.parametrize("old,new,at,message", BAD, ids=[b[3].split("`")[1] + ":" + b[1][:20] for b in BAD])
def test_a_value_the_run_cannot_use_is_an_error_at_its_line(tmp_path, old, new, at, message) -> None:
    path = edited(tmp_path, old, new)
    _, diags = load_specs([tmp_path / "specs"])
    errors = [d for d in diags if d.code == "SCHEMA_VALUE"]
    assert [d.message for d in errors] == [message]
    assert str(errors[0].pos).startswith(f"{path}:{line_of(path, at)}:") and errors[0].pos.col > 0


def test_engine_validate_prints_file_line_col(tmp_path, capsys) -> None:
    path = edited(tmp_path, "crypto_spot: 1, crypto_perp: 3", "crypto_spot: 0, crypto_perp: 3")
    assert main(["validate", str(tmp_path / "specs")]) == 1
    out = capsys.readouterr().out
    assert f"{path}:{line_of(path, 'leverage_caps:')}:32: error SCHEMA_VALUE `limits.leverage_caps.crypto_spot`" in out


def spec_data() -> dict:
    return YAML(typ="safe").load(TEXT)


@pytest.mark.parametrize("where,key,value,hint", [
    (("limits", "leverage_caps"), "crypto_spot", 0, "a multiple of equity: 1 is unlevered, 10 is 10:1"),
    (("sizing", "per_trade_risk_pct"), "crypto_spot", 5.0, "a fraction: 0.02 is 2%"),
    (("limits", "spread_max_bps"), "forex", -1, "basis points of the mid price: 25 is 0.25%"),
    (("limits",), "max_concurrent_positions", 0, "positions open at once in a domain: seed 004 says 5"),
])
def test_every_bound_carries_a_hint(where, key, value, hint) -> None:
    """The hint rides in the error's ctx, where engine/spec/models.py can show it."""
    data = spec_data()
    node = data
    for k in where:
        node = node[k]
    node[key] = value
    with pytest.raises(ValidationError) as err:
        RiskConfig.model_validate(data)
    assert [e["ctx"]["hint"] for e in err.value.errors()] == [hint]


PER_DOMAIN = [("sizing", "per_trade_risk_pct"), ("sizing", "percent_sizing_above_threshold"),
              ("limits", "short_allowed"), ("limits", "leverage_caps"), ("limits", "spread_max_bps"),
              ("brackets", "stop_atr"), ("brackets", "take_profit_atr")]


@pytest.mark.parametrize("section,field", PER_DOMAIN)
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_per_domain_map_names_every_domain(section, field, domain) -> None:
    data = spec_data()
    del data[section][field][domain]
    with pytest.raises(ValidationError) as err:
        RiskConfig.model_validate(data)
    (e,) = err.value.errors()
    assert e["loc"] == (section, field) and e["msg"] == f"no entry for {domain}"
    assert domain in e["ctx"]["hint"]


def test_the_kill_switch_blocks_entries_whatever_the_guard_list_says() -> None:
    """A config built in code is not validated: the chain still checks the kill switch first."""
    config = RiskConfig.model_validate(spec_data())
    for guards in ([], ["no_short", "max_concurrent"], ["max_concurrent", "kill_mode"]):
        chain = RiskChain(config.model_copy(update={"guards": guards}))
        d = chain.evaluate(intent(), book(domain=Domain.FOREX, open_positions=99), FX, kill_mode="halted",
                           entries_allowed=False, active_symbols=None)
        assert d.rejection is not None and d.rejection.rule == "kill_mode", guards
