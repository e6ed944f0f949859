"""The risk spec's sector map against the contract catalogue: RISK_SECTOR_SYMBOL, a sector
naming a symbol no contract has (a typo the sector cap would never count, `EURUSD` for
`EUR/USD`); RISK_SECTOR_MISSING, a contract in no sector, which the sector cap counts as a
sector of its own (engine/risk/guards.py sector_risk): capped, but not with the symbols it
moves with. The paper venue's catalogue (adapters/paper/contracts.yaml) is read through its
schema (engine/contracts.py), as engine/spec/lint/rates.py reads it, so that `engine validate`
stays light.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from engine.diagnostics import Diagnostic, closest
from engine.risk.config import RiskConfig
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context
from engine.spec.yamlio import YamlDoc, parse_yaml

UNKNOWN = "RISK_SECTOR_SYMBOL"
MISSING = "RISK_SECTOR_MISSING"
KIND = "risk"
GUARD = "sector_risk"


def check_specset(cx: Context) -> Iterator[Diagnostic]:
    specset = cx.specset
    contracts = cx.contracts.contracts
    if contracts is None:
        return  # engine/spec/lint/contracts.py says what is wrong with the catalogue
    for name, kind in specset.extra_kinds.items():
        pos = specset.extra_pos.get(name)
        if kind == KIND and pos is not None:
            yield from check(specset.extra[name], pos.file, contracts)


def check(config: RiskConfig, file: str, contracts: dict[str, Any]) -> Iterator[Diagnostic]:
    """Each symbol of `config`'s sectors (written in `file`) that `contracts` lacks; each contract
    in no sector while the chain applies the sector cap."""
    doc = _doc(Path(file))
    if doc is None:
        return
    sectors = config.limits.sectors
    for sector, symbols in sectors.items():
        for i, symbol in enumerate(symbols):
            if symbol not in contracts:
                yield diag(doc.pos_of(("limits", "sectors", sector, i)), UNKNOWN,
                           f"sector `{sector}` names {symbol}, which the contract catalogue "
                           "(adapters/paper/contracts.yaml) does not list: the sector cap never counts it",
                           _did_you_mean(symbol, contracts))
    if GUARD not in config.guards:
        return  # RISK_LIMIT_UNREAD says the sectors are read by nothing
    placed = {s for symbols in sectors.values() for s in symbols}
    for symbol in contracts:
        if symbol not in placed:
            yield diag(doc.key_pos_of(("limits", "sectors")), MISSING,
                       f"{symbol} (adapters/paper/contracts.yaml) is in no sector: the sector cap counts it as a "
                       "sector of its own, not with the symbols it moves with",
                       f"add {symbol} to the sector of the markets it moves with, or give it one of its own")


def _doc(path: Path) -> YamlDoc | None:
    """The YAML mapping at `path` (the risk file); None when unreadable (the loader says why)."""
    try:
        doc, problems = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError):
        return None
    return doc if doc is not None and not problems and isinstance(doc.data, dict) else None


def _did_you_mean(symbol: str, contracts: dict[str, Any]) -> str:
    """The catalogue's nearest symbol, compared in capitals: `eth/btc` is ETH/BTC in the wrong case,
    which difflib alone scores too far apart to name."""
    add = "write a symbol the catalogue lists, or add its contract to adapters/paper/contracts.yaml"
    written = {str(c).upper(): str(c) for c in contracts}
    near = closest(symbol.upper(), written)
    return f"did you mean `{written[near]}`, as the catalogue writes it?" if near else add
