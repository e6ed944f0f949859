"""The contract catalogue: tick, step, min notional and multiplier per symbol."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ruamel.yaml import YAML

from engine.diagnostics import did_you_mean
from engine.domain import Domain, Instrument

DEFAULT_PATH = Path(__file__).with_name("contracts.yaml")
_FIELDS = {"domain", "kind", "tick", "step", "min_notional", "multiplier", "expiry", "strike",
           "option_right", "underlying", "quote"}


class UnknownSymbol(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class Catalogue:
    def __init__(self, instruments: dict[str, Instrument], path: str | Path | None = None):
        self._by_symbol = dict(instruments)
        self._path = path  # named in errors: where a missing contract goes

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PATH) -> "Catalogue":
        data = YAML(typ="safe").load(Path(path).read_text()) or {}
        return cls({sym: _instrument(str(sym), spec, path) for sym, spec in data.items()}, path)

    def get(self, symbol: str) -> Instrument:
        try:
            return self._by_symbol[symbol]
        except KeyError:
            hint = did_you_mean(symbol, self._by_symbol) or f"known: {', '.join(self._by_symbol)}"
            where = f" ({self._path}: add its contract there)" if self._path else ""
            raise UnknownSymbol(f"symbol {symbol!r} is not in the contract catalogue{where}; {hint}") from None

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._by_symbol

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_symbol.values())


def _instrument(symbol: str, spec: dict, path: str | Path) -> Instrument:
    unknown = set(spec) - _FIELDS
    if unknown:
        raise ValueError(f"{path}: {symbol}: unknown field(s) {sorted(unknown)}")
    for key in ("tick", "step"):
        if not float(spec.get(key, 0)) > 0:
            raise ValueError(f"{path}: {symbol}: {key} must be > 0")
    if not spec.get("quote"):  # money in an unnamed currency would be summed with another's
        raise ValueError(f"{path}: {symbol}: quote (the currency its prices are in, e.g. USD) is required")
    return Instrument(symbol=symbol, domain=Domain(spec["domain"]), tick=float(spec["tick"]),
                      step=float(spec["step"]), min_notional=float(spec.get("min_notional", 0)),
                      multiplier=float(spec.get("multiplier", 1)), kind=spec.get("kind", "spot"),
                      expiry=spec.get("expiry"), strike=spec.get("strike"),
                      option_right=spec.get("option_right"), underlying=spec.get("underlying"),
                      quote=str(spec["quote"]))
