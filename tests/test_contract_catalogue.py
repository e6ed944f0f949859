"""The paper venue's contract catalogue (adapters/paper/contracts.yaml), which hints tell users to
edit, is checked against its schema: a QA pass's six mistakes there (a negative tick, a zero step,
a misspelt domain, a symbol written twice, a tick in words, an unclosed `[`) passed `engine
validate` with 0 errors, and `engine run` and `engine data import` then died with a traceback.
Now validate reports each at its `file:line:col` with a hint, and those commands stop with the
same diagnostics before writing anything."""
from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import adapters.paper.catalogue as catalogue_module
from adapters.paper.catalogue import DEFAULT_PATH, Catalogue
from cli_support import ROOT, cli
from engine.commands.validate import validate
from engine.contracts import Contract, Kind, check, read
from engine.diagnostics import Diagnostic, Severity, SpecError
from engine.domain import Domain
from engine.spec import files as spec_files
from engine.spec.models import DomainName

pytestmark = pytest.mark.usefixtures("at_root")
SHIPPED = DEFAULT_PATH.read_text(encoding="utf-8")
ETH_BTC = "tick: 0.000001, step: 0.001"  # the first contract's, ETH/BTC at line 7
DUPLICATE = ("ETH/BTC:  {domain: crypto_spot, kind: spot, quote: BTC, tick: 0.00001, step: 0.001, "
             "min_notional: 0.001}\n")


def _edit(old: str, new: str) -> str:
    assert old in SHIPPED
    return SHIPPED.replace(old, new, 1)


def _at(text: str, mark: str, start: int = 0) -> tuple[int, int]:
    """1-based line and column of the `|` in `mark`, a text found in `text` (from `start`) with one `|` added."""
    i = text.index(mark.replace("|", ""), start) + mark.index("|")
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


# name: (catalogue text, code, where it points (`|` in a text of the catalogue; on the syntax
# error's line only: where libyaml notices it), words of the message, words of the hint)
MISTAKES = {
    "negative tick": (_edit(ETH_BTC, "tick: -0.000001, step: 0.001"), "SCHEMA_VALUE", "tick: |-0.000001",
                      "`ETH/BTC.tick`: `-1e-06` is out of bounds: it must be above 0", "smallest price increment"),
    "zero step": (_edit(ETH_BTC, "tick: 0.000001, step: 0"), "SCHEMA_VALUE", "step: |0,",
                  "`ETH/BTC.step`: `0` is out of bounds: it must be above 0", "smallest quantity increment"),
    "misspelt domain": (_edit("ETH/BTC:  {domain: crypto_spot", "ETH/BTC:  {domain: crypto_spt"), "SCHEMA_VALUE",
                        "|crypto_spt", "`ETH/BTC.domain`: `crypto_spt` is not one of", "did you mean `crypto_spot`?"),
    "symbol twice": (SHIPPED + DUPLICATE, "YAML_DUPLICATE_KEY", "|" + DUPLICATE, "duplicate key `ETH/BTC`",
                     "first defined at line 7"),
    "tick in words": (_edit(ETH_BTC, "tick: abc, step: 0.001"), "SCHEMA_TYPE", "tick: |abc",
                      "`ETH/BTC.tick` must be a number above 0, not the string `abc`", "smallest price increment"),
    "unclosed bracket": (_edit(ETH_BTC, "tick: [0.000001, step: 0.001"), "YAML_SYNTAX", "tick: |[",
                         "invalid YAML", "check indentation"),
}


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Point validate (engine.spec.files.contracts_path) and every loader of the catalogue at a copy holding `text`."""
    def write(text: str) -> Path:
        path = tmp_path / "contracts.yaml"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setattr(spec_files, "contracts_path", lambda: path)
        monkeypatch.setattr(catalogue_module, "DEFAULT_PATH", path)
        return path
    return write


def _errors(diags: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diags if d.severity is Severity.ERROR]


@pytest.mark.parametrize("name", MISTAKES)
def test_validate_reports_each_mistake_at_its_line_with_a_hint(name: str, broken) -> None:
    text, code, where, message, hint = MISTAKES[name]
    path = broken(text)
    [d] = _errors(validate([str(ROOT / "specs")])[0])
    line, col = _at(text, where)
    col = d.pos.col if code == "YAML_SYNTAX" else col
    assert (d.code, d.pos.file, d.pos.line, d.pos.col) == (code, str(path), line, col), d.text()
    assert message in d.message and hint in (d.hint or ""), d.text()
    with pytest.raises(SpecError) as raised:  # the venue, a run, an import: the same diagnostics
        Catalogue.load()
    assert raised.value.diagnostics == [d]


@pytest.mark.parametrize("name", MISTAKES)
def test_run_and_data_import_stop_with_the_same_error_and_write_nothing(name: str, broken, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    broken(MISTAKES[name][0])
    [d] = _errors(validate([str(ROOT / "specs")])[0])
    db, run_dir, store = tmp_path / "engine.db", tmp_path / "runs", tmp_path / "store"
    rc, _, err = cli(capsys, "run", "--stage", "1", "--max-bars", "5", "--no-progress", "--db", str(db),
                     "--run-dir", str(run_dir))
    assert rc == 1 and d.text() in err, err
    bars = tmp_path / "bars.csv"
    bars.write_text("timestamp,open,high,low,close,volume\n2024-01-02 00:00:00,1.0,1.2,0.9,1.1,10\n")
    rc, _, err = cli(capsys, "data", "import", str(bars), "--symbol", "ETH/BTC", "--tf", "5m", "--store", str(store))
    assert rc == 1 and d.text() in err, err
    assert not [p for p in (db, run_dir, store) if p.exists()]


def test_the_shipped_catalogue_passes_and_names_the_engine_s_domains_and_kinds() -> None:
    contracts, problems, _ = read(DEFAULT_PATH)
    assert problems == [] and contracts and set(contracts) == {i.symbol for i in Catalogue.load()}
    assert set(typing.get_args(DomainName)) == {d.value for d in Domain}
    assert {"perp", "future", "option"} <= set(typing.get_args(Kind))  # what the venue and the run compare


# -- any contract, any field: a value the schema refuses is one error at that value --------------
SYMBOLS = re.findall(r"^(\S+):", SHIPPED, flags=re.M)
POSITIVE = ("tick", "step", "multiplier")


def _set(text: str, symbol: str, key: str, value: str) -> tuple[str, tuple[int, int]]:
    """`text` with `symbol`'s `key` written as `value` (added at the end of its mapping when absent),
    and the line and column the value is at."""
    start = text.index(f"{symbol}:")
    end = text.index("}", start)
    entry = text[start:end]
    found = re.search(rf"\b{key}: [^,}}\n]*", entry)
    edited = (entry[:found.start()] + f"{key}: {value}" + entry[found.end():] if found
              else f"{entry}, {key}: {value}")
    out = text[:start] + edited + text[end:]
    return out, _at(out, f"{key}: |{value}", start)


numbers = st.one_of(st.integers(-10**6, 0).map(str),
                    st.floats(max_value=0, allow_nan=False, allow_infinity=False).map(repr),
                    st.sampled_from(["abc", "true", "null", '"0.5"', "[1]", "{}"]))


@settings(max_examples=60, deadline=None)
@given(symbol=st.sampled_from(SYMBOLS), key=st.sampled_from(POSITIVE), value=numbers)
def test_a_non_positive_or_non_number_increment_is_one_error_at_it(symbol: str, key: str, value: str) -> None:
    text, (line, col) = _set(SHIPPED, symbol, key, value)
    contracts, problems, _ = check(text, "contracts.yaml")
    assert contracts is None
    [d] = problems
    assert d.code in ("SCHEMA_VALUE", "SCHEMA_TYPE") and (d.pos.line, d.pos.col) == (line, col), d.text()
    assert f"`{symbol}.{key}`" in d.message and d.hint, d.text()


# Words YAML reads as no text are the YAML checks' (YAML_IMPLICIT_SCALAR) or a type error.
NOT_TEXT = ("y", "n", "yes", "no", "on", "off", "true", "false", "null")
words = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz_"), min_size=1, max_size=14).filter(
    lambda w: w not in NOT_TEXT)


@settings(max_examples=60, deadline=None)
@given(symbol=st.sampled_from(SYMBOLS), key=st.sampled_from(["domain", "kind"]), value=words)
def test_a_domain_or_kind_not_the_engine_s_is_one_error_with_a_suggestion(symbol: str, key: str, value: str) -> None:
    allowed = typing.get_args(DomainName if key == "domain" else Kind)
    assume(value not in allowed)
    text, (line, col) = _set(SHIPPED, symbol, key, value)
    [d] = check(text, "contracts.yaml").problems
    assert (d.code, d.pos.line, d.pos.col) == ("SCHEMA_VALUE", line, col), d.text()
    assert d.hint and (d.hint.startswith("did you mean") or all(a in d.hint for a in allowed)), d.text()


def test_a_contract_model_is_what_the_venue_builds_its_instrument_from() -> None:
    """Every key the catalogue may write becomes the instrument's (none is read and dropped)."""
    from engine.domain import Instrument

    assert set(Contract.model_fields) == set(Instrument.__dataclass_fields__) - {"symbol"}


@pytest.mark.parametrize("line, said", [
    ("X: {domain: forex, quote: USD, tick: 1, step: 1, multiplier: 50, expiry: 1710771360}",
     "1:4: error SCHEMA_MISSING missing required key `kind` in `X`"),
    ("X: {domain: forex, kind: spot, quote: USD, tick: 1, step: 1, expiry: 1710771360}",
     "error SCHEMA_VALUE `X.expiry`: `expiry` belongs to a future or an option, and this contract is of kind spot"),
    ("X: {domain: forex, kind: future, quote: USD, tick: 1, step: 1}",
     "error SCHEMA_VALUE `X`: a contract of kind future needs `expiry`"),
    ("X: {domain: forex_options, kind: option, quote: USD, tick: 1, step: 1, expiry: 1710771360, strike: 1.1}",
     "error SCHEMA_VALUE `X`: a contract of kind option needs `option_right`"),
])
def test_an_expiring_contract_cannot_pass_for_one_that_never_expires(line: str, said: str) -> None:
    """A contract with an expiry and no kind was read as spot: a run traded it, and nothing closed it
    at expiry (runs refuse futures and options only by kind)."""
    problems = check(line + "\n", "c.yaml").problems
    assert any(said in d.text() for d in problems), [d.text() for d in problems]
