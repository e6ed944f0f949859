"""Contracts whose quote currency has no USD rate (CONTRACT_NO_RATE), found before a run is.

A domain's wallet counts its contracts' quote currency, and a run converts the specs' USD
figures into it (engine/run/currency.py) at the rate of the domain's own USD/XXX bars when it
trades that series, else at the risk spec's `usd_rates`; a currency with neither refuses the
run when it starts. The paper venue's catalogue (adapters/paper/contracts.yaml) is read here
through its schema (engine/contracts.py), with positions, not through adapters.paper, whose
package imports numpy: `engine validate` stays light. A catalogue its schema refuses is left to
engine/spec/lint/contracts.py, which says why. A warning, never an error: only a run that
trades the contract needs its rate, and that run still refuses to start without one (the run
config, not the specs, says what it trades).
"""
from __future__ import annotations

from pathlib import Path
from collections.abc import Collection
from typing import Iterator

from engine.contracts import Checked, Contract, read
from engine.diagnostics import Diagnostic, Pos
from engine.run.currency import USD
from engine.spec.ir import SpecSet
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context

CODE = "CONTRACT_NO_RATE"
RISK = "risk"  # the risk document a run reads its `usd_rates` from (specs.extra["risk"])


def check_specset(cx: Context) -> Iterator[Diagnostic]:
    yield from _check(cx.specset, cx.contracts)


def check(specset: SpecSet, path: Path) -> Iterator[Diagnostic]:
    """CONTRACT_NO_RATE for each contract in the catalogue at `path` whose quote currency has
    no rate a run could convert at (none for a spec set without a risk document)."""
    yield from _check(specset, read(path))


def _check(specset: SpecSet, catalogue: Checked) -> Iterator[Diagnostic]:
    risk = specset.extra.get(RISK) if specset.extra_kinds.get(RISK) == RISK else None
    if risk is None:
        return
    contracts, _, doc = catalogue
    if contracts is None or doc is None:
        return  # engine/spec/lint/contracts.py reports why: no contract is known to check
    rated, rates_file = {USD, *risk.usd_rates}, _risk_file(specset)
    for symbol, contract in contracts.items():
        if contract.quote not in rated and symbol != f"{USD}/{contract.quote}":
            yield _finding(symbol, contract, contracts, doc.pos_of((symbol, "quote")), rates_file)


def about(d: Diagnostic, symbols: Collection[str]) -> bool:
    """A finding of this check is about one of `symbols`: each contract's begins with its symbol
    (`_finding`, and the missing `quote`), so a run can keep those of the contracts it trades."""
    return d.code == CODE and d.message.split(" ", 1)[0] in symbols


def _risk_file(specset: SpecSet) -> str:
    """` (FILE)`: the file of the risk document a run reads `usd_rates` from, as loaded; "" when not known."""
    pos = specset.extra_pos.get(RISK)
    return f" ({pos.file})" if pos is not None else ""


def _finding(symbol: str, contract: Contract, contracts: dict[str, Contract], pos: Pos, rates_file: str) -> Diagnostic:
    """One contract without a rate; whether a run could make one from its own data (it trades the
    USD/XXX contract of the same domain beside it) is the run config's to say, when one exists."""
    quote, domain = contract.quote, contract.domain
    own = f"{USD}/{quote}"
    twin = contracts.get(own)
    add = (f"add `{quote}: {{usd: <USD per {quote}>, source: <where the figure is from>}}` to the risk spec's "
           f"`usd_rates`{rates_file}")
    if twin is not None and twin.domain == domain and twin.quote == quote:
        return diag(pos, CODE,
                    f"{symbol} quotes in {quote}, which has no entry in the risk spec's `usd_rates`: a run trading it "
                    f"gets a rate only if it also trades {own} in {domain} (the rate of its own bars), which the run "
                    "config decides, not the specs; without it the run is refused when it starts",
                    f"{add}, or trade {own} in {domain} beside {symbol}")
    return diag(pos, CODE,
                f"{symbol} quotes in {quote}, which has no entry in the risk spec's `usd_rates`, and no run can take "
                f"a rate from its own data (the catalogue has no {own} contract in {domain}): a run trading {symbol} "
                "is refused when it starts", add)

