"""The one strategy interface: fit on history, predict a target position, one step for replay/live.

A position is a fraction of capital (0.5 = 50% long, -0.3 = 30% short) to hold over the
NEXT bar: the value at row t is computed from rows <= t only. Replay and live both call
`one_step_predict`, which is by construction `predict(bars).iloc[-1]`, so they share one
code path with research.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Self

import numpy as np
from pydantic import BaseModel

from engine.domain import Side
from strategies.params import Params

if TYPE_CHECKING:
    import pandas as pd

OHLC: tuple[str, ...] = ("open", "high", "low", "close")


class StrategyError(ValueError):
    """Input a strategy cannot use; the message says what and why (callers fail closed)."""


class MissingColumnsError(StrategyError):
    pass


class NotFittedError(StrategyError):
    pass


class NotReadyError(StrategyError):
    """The latest position is undefined (warm-up not over, or no usable volatility)."""


@dataclass(frozen=True, slots=True)
class Signal:
    side: Side
    confidence: float  # in [0, 1]

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {self.confidence}")


class Strategy(ABC):
    params_model: ClassVar[type[Params]] = Params
    required_columns: ClassVar[tuple[str, ...]] = OHLC

    def __init__(self, params: BaseModel | Mapping[str, Any] | None = None, *,
                 weight: float = 1.0, name: str | None = None) -> None:
        if isinstance(params, self.params_model):
            self.params = params
        else:
            raw = params.model_dump() if isinstance(params, BaseModel) else dict(params or {})
            self.params = self.params_model.model_validate(raw)
        self.weight = float(weight)
        self.name = name or type(self).__name__
        self.state_: dict[str, float] = {}
        self._fit_rows: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, weight={self.weight}, params={self.params!r})"

    # -- the interface -------------------------------------------------------------------

    def fit(self, bars: "pd.DataFrame", sample: np.ndarray | None = None) -> Self:
        """Fit in-sample statistics on `bars` (optionally only on the row positions `sample`).
        A fit that fails leaves the strategy unfitted, not half-fitted: its statistics are kept
        only once every one of them is computed (a previous fit's are dropped too)."""
        bars = self._frame(bars)
        self.state_ = {}
        self._fit_rows = np.arange(len(bars)) if sample is None else np.asarray(sample, dtype=int)
        try:
            self._position(bars)
        except BaseException:
            self.state_ = {}
            raise
        finally:
            self._fit_rows = None
        return self

    @property
    def fitted(self) -> bool:
        return bool(self.state_)

    def predict(self, bars: "pd.DataFrame") -> "pd.Series":
        """Target position per row (NaN during warm-up), strat_weight applied."""
        if not self.fitted:
            raise NotFittedError(f"{self.name}: call fit() before predict()")
        bars = self._frame(bars)
        pos = self._position(bars) * self.weight
        return pos.replace([np.inf, -np.inf], np.nan).rename(self.name)

    def one_step_predict(self, bars: "pd.DataFrame") -> float:
        """The latest target position: the value replay and live act on."""
        value = float(self.predict(bars).iloc[-1])
        if not math.isfinite(value):
            raise NotReadyError(
                f"{self.name}: no position at {bars.index[-1]}: history too short for the warm-up "
                f"or no usable volatility (flat bars)")
        return value

    def signal(self, bars: "pd.DataFrame") -> Signal | None:
        """The latest position as a side and a confidence (|position| capped at 1); None when flat."""
        pos = self.one_step_predict(bars)
        if pos == 0.0:
            return None
        return Signal(Side.BUY if pos > 0 else Side.SELL, min(1.0, abs(pos)))

    # -- for implementations -------------------------------------------------------------

    @abstractmethod
    def _position(self, bars: "pd.DataFrame") -> "pd.Series":
        """Position before strat_weight; reads fitted values through `_fitted`."""

    def _fitted(self, key: str, compute: Callable[[], float]) -> float:
        """During fit(): compute the in-sample statistic and store it; afterwards: reuse it."""
        if self._fit_rows is not None:
            value = float(compute())
            if not math.isfinite(value):
                raise StrategyError(
                    f"{self.name}: cannot fit {key} (got {value}): too little in-sample history "
                    f"for the windows in its params")
            self.state_[key] = value
        return self.state_[key]

    def _in_sample(self, s: "pd.Series") -> "pd.Series":
        assert self._fit_rows is not None
        return s.iloc[self._fit_rows]

    def _frame(self, bars: "pd.DataFrame") -> "pd.DataFrame":
        """Checked bars without `attrs`: pandas deep-copies attrs on every operation, and the
        loader's (a list of gap diagnostics) made each predict several times slower."""
        self._check(bars)
        if bars.attrs:
            bars = bars.copy(deep=False)
            bars.attrs = {}
        return bars

    def _check(self, bars: "pd.DataFrame") -> None:
        missing = [c for c in self.required_columns if c not in bars.columns]
        if missing:
            raise MissingColumnsError(
                f"{self.name}: bars lack column(s) {', '.join(missing)} "
                f"(has: {', '.join(map(str, bars.columns))})")
        if len(bars) < 2:
            raise StrategyError(f"{self.name}: need at least two bars, got {len(bars)}")
