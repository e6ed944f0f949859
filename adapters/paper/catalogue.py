"""The contract catalogue: tick, step, min notional and multiplier per symbol."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from engine.contracts import Contract, read
from engine.diagnostics import SpecError, did_you_mean
from engine.domain import Domain, Instrument

DEFAULT_PATH = Path(__file__).with_name("contracts.yaml")


class UnknownSymbol(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class Catalogue:
    def __init__(self, instruments: dict[str, Instrument], path: str | Path | None = None):
        self._by_symbol = dict(instruments)
        self._path = path  # named in errors: where a missing contract goes

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Catalogue":
        """The catalogue at `path` (DEFAULT_PATH); SpecError with every problem in it, as `engine
        validate` reports them (engine/contracts.py), so a command stops with them, not a traceback."""
        path = DEFAULT_PATH if path is None else path
        contracts, problems, _ = read(path)
        if contracts is None:
            raise SpecError(problems)
        return cls({sym: _instrument(sym, c) for sym, c in contracts.items()}, path)

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


def _instrument(symbol: str, c: Contract) -> Instrument:
    return Instrument(symbol=symbol, domain=Domain(c.domain), tick=c.tick, step=c.step, min_notional=c.min_notional,
                      multiplier=c.multiplier, kind=c.kind, expiry=c.expiry, strike=c.strike,
                      option_right=c.option_right, underlying=c.underlying, quote=c.quote)
