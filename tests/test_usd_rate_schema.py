"""A `usd_rates` rate is a YAML number and nothing else: `true` read as 1.0 (pydantic's lax
coercion) funded a 1,000 BTC wallet from $1,000, and `"13853"` passed as the number; a guessed
rate is refused at its line with a hint. A rate missing a key says what to add."""
from __future__ import annotations

import pytest

from engine.spec.loader import load_specs
from test_risk_config import edited, line_of

RATE = "    usd: 13853\n"
SOURCE = """    source: >-
      Binance BTC/USDT opening price of 2018-01-01 00:00 CET (github.com/tomwijnroks/peildatum,
      sources/binance.md); BTC traded between about 10,000 and 15,000 USD over the bundled days
"""


@pytest.mark.parametrize("old,new,at,message,hint", [
    (RATE, "    usd: true\n", "usd: true", "`usd_rates.BTC.usd`: `true` is a yes/no value, not a rate",
     "write the rate as a number"),
    (RATE, '    usd: "13853"\n', 'usd: "13853"', "`usd_rates.BTC.usd`: `13853` is text, not a number",
     "no quotes"),
    (RATE, '    usd: "abc"\n', 'usd: "abc"', "`usd_rates.BTC.usd`: `abc` is text, not a number", "no quotes"),
    (RATE, "    usd: [13853]\n", "usd: [13853]", "`usd_rates.BTC.usd`: the rate is not a number",
     "such as 13853 for BTC"),
    (SOURCE, "", RATE.strip(), "`usd_rates.BTC`: the rate has no `source`", "where the figure is from"),
    (RATE, "", SOURCE.split("\n")[0].strip(), "`usd_rates.BTC`: the rate has no `usd`", "US dollars per one unit"),
])
def test_a_rate_that_is_not_a_number_or_lacks_a_key_is_an_error_with_a_hint(tmp_path, old, new, at, message,
                                                                           hint) -> None:
    path = edited(tmp_path, old, new)
    _, diags = load_specs([tmp_path / "specs"])
    [error] = [d for d in diags if d.severity.name == "ERROR"]
    assert error.message == message
    assert str(error.pos).startswith(f"{path}:{line_of(path, at)}:") and error.pos.col > 0
    assert hint in (error.hint or "")


def test_a_whole_number_rate_is_still_a_rate(tmp_path) -> None:
    edited(tmp_path, RATE, "    usd: 20000\n")
    specs, diags = load_specs([tmp_path / "specs"])
    assert not diags
    assert specs.extra["risk"].usd_rates["BTC"].usd == 20000.0


def test_a_rate_lacking_both_keys_names_both_in_one_run(tmp_path) -> None:
    """Not `usd` now and `source` after the user added it: every fix in one run."""
    path = edited(tmp_path, RATE + SOURCE, "")
    path.write_text(path.read_text().replace("  BTC:  #", "  BTC: {}  #", 1))
    _, diags = load_specs([tmp_path / "specs"])
    [error] = [d for d in diags if d.severity.name == "ERROR"]
    assert error.message == "`usd_rates.BTC`: the rate has no `usd` and no `source`"
    assert "US dollars per one unit" in (error.hint or "") and "where the figure is from" in (error.hint or "")
