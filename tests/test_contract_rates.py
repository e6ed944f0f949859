"""`engine validate` reads the paper venue's contract catalogue: a contract whose quote currency
has no USD rate (none in the risk spec's usd_rates, none a run could take from its own bars) was
found only when a run that traded it refused to start."""
from __future__ import annotations

import re
from pathlib import Path

from adapters.paper.catalogue import DEFAULT_PATH
from engine.commands.validate import validate
from engine.diagnostics import Severity
from engine.spec import files as spec_files
from engine.spec.lint import rates
from engine.spec.loader import load_specs

ROOT = Path(__file__).resolve().parents[1]


def _line_of(path: Path, symbol: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text.startswith(f"{symbol}:"))


ETH_RATE = re.compile(r"^  ETH:.*?\n(?=  \S)", re.S | re.M)  # the risk spec's usd_rates.ETH entry


def without_eth_rate(specs: Path) -> Path:
    """A copy of the shipped specs at `specs` whose usd_rates has no ETH entry: XRP/ETH unrated."""
    import shutil

    shutil.copytree(ROOT / "specs", specs)
    risk = specs / "risk" / "risk.yaml"
    text, n = ETH_RATE.subn("", risk.read_text())
    assert n == 1
    risk.write_text(text)
    return specs


def test_every_shipped_contract_has_a_usd_rate() -> None:
    """`engine validate --strict specs` passes on the shipped tree: ETH (XRP/ETH) has a sourced rate."""
    assert [d for d in validate([str(ROOT / "specs")])[0] if d.code == "CONTRACT_NO_RATE"] == []


def test_validate_reports_a_contract_no_run_could_fund(tmp_path: Path) -> None:
    found = [d for d in validate([str(without_eth_rate(tmp_path / "specs"))])[0] if d.code == "CONTRACT_NO_RATE"]
    [d] = found  # XRP/ETH: ETH is in no usd_rates entry and no USD/ETH contract exists
    assert d.severity is Severity.WARNING and Path(d.pos.file).resolve() == DEFAULT_PATH.resolve()
    line = _line_of(DEFAULT_PATH, "XRP/ETH")
    assert (d.pos.line, d.pos.col) == (line, DEFAULT_PATH.read_text().splitlines()[line - 1].index("ETH, tick") + 1)
    assert "XRP/ETH quotes in ETH" in d.message and "no run can take a rate from its own data" in d.message
    assert "`ETH: {usd:" in d.hint and "usd_rates" in d.hint


def test_a_currency_a_run_may_rate_from_its_own_bars_is_a_warning_that_says_so(tmp_path: Path) -> None:
    """EUR/JPY beside USD/JPY in forex: rated only if the run config trades USD/JPY beside it, which
    the specs cannot know; USD/JPY itself always has its own bars' rate; a rated quote is silent."""
    catalogue = tmp_path / "contracts.yaml"
    catalogue.write_text(
        "USD/JPY: {domain: forex, kind: fx, quote: JPY, tick: 0.001, step: 1000, min_notional: 100000}\n"
        "EUR/JPY: {domain: forex, kind: fx, quote: JPY, tick: 0.001, step: 1000, min_notional: 100000}\n"
        "ETH/BTC: {domain: crypto_spot, kind: spot, quote: BTC, tick: 0.000001, step: 0.001, min_notional: 0.001}\n"
        "GBP/CHF: {domain: forex, kind: fx, quote: CHF, tick: 0.00001, step: 1000, min_notional: 1000}\n")
    specs, _ = load_specs([ROOT / "specs"])
    found = {d.pos.line: d for d in rates.check(specs, catalogue)}
    assert sorted(found) == [2, 4] and all(d.severity is Severity.WARNING for d in found.values())
    assert "only if it also trades USD/JPY in forex" in found[2].message and "run config decides" in found[2].message
    assert "trade USD/JPY in forex beside EUR/JPY" in found[2].hint
    assert "no USD/CHF contract in forex" in found[4].message


def test_a_spec_set_without_a_risk_document_has_nothing_to_compare() -> None:
    specs, _ = load_specs([ROOT / "specs" / "kill"])
    assert list(rates.check(specs, DEFAULT_PATH)) == []


def test_a_catalogue_its_schema_refuses_is_left_to_the_schema_check(tmp_path: Path) -> None:
    """Unclosed YAML, or a contract without a quote: engine/spec/lint/contracts.py reports the
    error at its line; no CONTRACT_NO_RATE guesses at the rest (no run could load the file)."""
    specs, _ = load_specs([ROOT / "specs"])
    for text in ("ETH/BTC: {domain: crypto_spot, quote: BTC\n",
                 "GBP/CHF: {domain: forex, kind: fx, tick: 0.00001, step: 1000, min_notional: 1000}\n"):
        catalogue = tmp_path / "contracts.yaml"
        catalogue.write_text(text)
        assert list(rates.check(specs, catalogue)) == []


def test_the_catalogue_linted_is_the_one_a_run_loads() -> None:
    assert spec_files.contracts_path().resolve() == DEFAULT_PATH.resolve()


def test_an_edit_of_the_catalogue_is_a_cache_miss(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ENGINE_CACHE_DIR", str(tmp_path / "cache"))
    catalogue = tmp_path / "contracts.yaml"
    catalogue.write_text(DEFAULT_PATH.read_text())
    monkeypatch.setattr(spec_files, "contracts_path", lambda: catalogue)
    before = validate([str(ROOT / "specs")], use_cache=True)[0]
    catalogue.write_text(catalogue.read_text() + "GBP/CHF: {domain: forex, kind: fx, quote: CHF, tick: 0.00001, "
                                                  "step: 1000, min_notional: 1000}\n")
    after = validate([str(ROOT / "specs")], use_cache=True)[0]
    rated = [d for d in after if d.code == "CONTRACT_NO_RATE"]  # (RISK_SECTOR_MISSING names GBP/CHF too)
    assert [d for d in rated if re.search(r"GBP/CHF quotes in CHF", d.message)]
    assert len(rated) == len([d for d in before if d.code == "CONTRACT_NO_RATE"]) + 1


def test_the_hint_names_the_risk_spec_file_loaded(tmp_path: Path) -> None:
    """Validating another spec folder: the hint names its risk file, not specs/risk/risk.yaml."""
    import shutil

    specs = tmp_path / "mine"
    shutil.copytree(ROOT / "specs", specs)
    catalogue = tmp_path / "contracts.yaml"
    catalogue.write_text(
        "GBP/CHF: {domain: forex, kind: fx, quote: CHF, tick: 0.00001, step: 1000, min_notional: 1000}\n")
    loaded, _ = load_specs([specs])
    [found] = rates.check(loaded, catalogue)
    assert f"`usd_rates` ({specs / 'risk' / 'risk.yaml'})" in found.hint and "specs/risk" not in found.hint
