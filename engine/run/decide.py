"""What the strategy side wants at a bar's close, before risk sees it.

The Decider turns a series' precomputed target position into a wanted
direction, and may refuse an entry (with the rule that refused it, for the
audit trail). Refusals here are the strategy's own filters: confirmation
timeframe, the strategy's sessions/regimes allowlist (seed 004) and the ML
signal filter (seed 000/002). The engine's rules (kill mode, no shorting spot,
the active top-K set, exposure...) live in the spec-ordered risk chain.

Exploration (seed 001): every entry that reaches the ML filter draws once from
the run's seeded rng; a hit is taken whatever the model says and tagged, so
exploration is at least `min_rate` of the filtered entries (`chop_rate` in a
choppy regime) and its KPIs are kept apart. The rng's state is checkpointed.
"""
from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from engine.domain import slot_init
from engine.run.config import StrategyUse
from engine.run.market import Series, iso
from strategies.symmetry import buy_line, sell_line

if TYPE_CHECKING:
    from strategies.ml.config import Allowlist, EnsembleConfig, ExplorationConfig, RegimeConfig



@slot_init  # built on every entry and refusal: its __init__ without object.__setattr__ per field
@dataclass(frozen=True, slots=True)
class Want:
    direction: int  # +1 long, -1 short, 0 flat; existing positions against it are exited
    enter: bool  # open a new position in `direction` if none is open
    tags: tuple[str, ...] = ()  # carried by the bracket's orders (e.g. "exploration")
    model_version: str | None = None
    refusal: tuple[str, str] | None = None  # (rule, reason) when an entry was refused here
    numbers: dict[str, Any] | None = None  # the figures the refusal judged, for the journal


@dataclass
class SymbolInputs:
    """One series' causal decision inputs, row-aligned with it (engine.run.signals builds them)."""

    regime: "np.ndarray"  # regime known at each row's close (strategies.regime names)
    prob: dict[str, "np.ndarray"] = field(default_factory=dict)  # model name -> P(up) per row (NaN: none)
    threshold: float = 0.5  # the single model's per-symbol threshold (an ensemble uses its own)
    allowlist: "tuple[str, Allowlist] | None" = None  # (name, allowlist) checked before routing
    # model name -> when the last bar it was trained on closed: no probability up to then (ml.in_sample)
    trained_until: dict[str, float] = field(default_factory=dict)


@dataclass
class EntryFilters:
    inputs: dict[str, SymbolInputs]  # by symbol; a symbol without inputs is not filtered
    exploration: "ExplorationConfig | None" = None
    ensemble: "EnsembleConfig | None" = None  # votes when a symbol has several models
    regime_cfg: "RegimeConfig | None" = None  # trading sessions
    models: tuple = ()  # the engine.run.signals.ModelFeed whose probabilities `inputs` hold: what decays


_HOLD = {d: Want(d, False) for d in (-1, 0, 1)}  # nothing new wanted (most bars): one immutable value each


class Decider:
    """Edge-triggered: a new direction arms one entry; it is spent once risk has seen it.

    Holding the same direction after a stop-out does not re-enter on every bar, and a
    refusal is recorded once per signal and rule, not once per bar.
    """

    def __init__(self, use: StrategyUse, filters: EntryFilters | None = None, seed: int = 0,
                 timeframes: dict[str, tuple[str, str]] | None = None) -> None:
        self.use = use
        self.filters = filters
        self.timeframes = timeframes or {}  # domain -> (primary, confirmation) timeframe: what a refusal names
        self.rng = random.Random(seed)
        # Whether a position in that direction is open on the symbol (no entry then): the filters
        # judge an entry only when it can happen, so each signal is judged and drawn for once.
        self.holding: Callable[[str, int], bool] = lambda symbol, direction: False
        self.last: dict[str, int] = {}
        self.armed: dict[str, int] = {}
        self.reported: dict[str, list[str]] = {}
        self._change_cache: dict[tuple[str, float], tuple[list[int], "np.ndarray"]] = {}

    def decide(self, s: Series, i: int, t: float) -> Want | None:
        target = s.signal.item(i)  # a Python float: its comparisons cost less than a numpy scalar's
        if not math.isfinite(target):
            return None
        db = self.use.deadband
        d = 1 if target > db else -1 if target < -db else 0
        sym = s.symbol
        if d != self.last.get(sym):
            if sym in self.last:  # the first valid bar sets the direction; only a change is a signal
                self.armed[sym] = d
            self.last[sym] = d
            self.reported.pop(sym, None)
        if d == 0 or self.armed.get(sym) != d:
            return _HOLD[d]
        if s.confirm[i] == -d:
            return Want(d, False, refusal=self._once(sym, ("confirmation",
                                                           "the confirmation timeframe points the other way")),
                        numbers=self._confirmation(s, target, d, int(s.confirm[i])))
        # An entry's row says what signal it came from, as a refusal's does (one dict per entry).
        why = self._confirmation(s, target, d, int(s.confirm[i]))
        if self.filters is None:
            return Want(d, True, numbers=why)
        want = self._filtered(s, i, t, d)
        if not want.enter:
            return want
        return replace(want, numbers={**why, **want.numbers} if want.numbers else why)

    def _confirmation(self, s: Series, target: float, d: int, confirm: int) -> dict[str, Any]:
        """What a confirmation refusal judged: the primary timeframe's target position and the
        direction the deadband makes of it, against the confirmation bar's direction."""
        primary, confirm_tf = self.timeframes.get(s.domain.value, (None, None))
        return {"primary_tf": primary, "signal": target, "deadband": self.use.deadband, "direction": d,
                "confirm_tf": confirm_tf, "confirm_direction": confirm}

    def quiet_bars(self, s: Series, lo: int, hi: int) -> int:
        """How many bars from `lo` provably want nothing new: no entry is armed and the
        direction does not change (NaN rows decide nothing). See engine/run/quiet.py."""
        sym, last = s.symbol, self.last.get(s.symbol)
        if last is not None and last != 0 and self.armed.get(sym) == last:
            return 0
        changes, held = self._changes(s)
        if lo > 0 and last is not None and held.item(lo - 1) == last:  # the usual case: O(log n)
            j = bisect.bisect_left(changes, lo)
            return min(changes[j] - lo, hi - lo) if j < len(changes) else hi - lo
        sig = s.signal[lo:hi]
        change = np.isfinite(sig) & ((self._direction(sig) != last) if last is not None else True)
        hits = np.flatnonzero(change)
        return int(hits[0]) if hits.size else hi - lo

    def _direction(self, sig: "np.ndarray") -> "np.ndarray":
        db = self.use.deadband
        return np.where(sig > db, 1, np.where(sig < -db, -1, 0))

    def _changes(self, s: Series) -> tuple[list[int], "np.ndarray"]:
        """Bars where the direction differs from the last finite one, and the direction held
        after each bar (NaN rows keep it): computed once per series and deadband."""
        key = (s.symbol, self.use.deadband)
        got = self._change_cache.get(key)
        if got is None:
            finite = np.isfinite(s.signal)
            d = np.where(finite, self._direction(s.signal), np.nan)
            idx = np.where(finite, np.arange(len(d)), -1)
            last = np.maximum.accumulate(idx)
            held = np.where(last >= 0, d[np.maximum(last, 0)], np.nan)
            prev = np.concatenate(([np.nan], held[:-1]))
            changed = finite & ~(held == prev)
            got = self._change_cache[key] = (np.flatnonzero(changed).tolist(), held)
        return got

    @property
    def exploring(self) -> bool:
        """Does this run make exploration entries at all?"""
        return self.filters is not None and self.filters.exploration is not None

    def explores(self, tags: tuple[str, ...]) -> bool:
        """Do an entry's tags mark it as exploration (the tag of specs/ml/exploration.yaml)?"""
        return self.exploring and self.filters.exploration.tag in tags

    def use_rates(self, min_rate: float, chop_rate: float) -> None:
        """Explore at these rates from now on: the rollout's apply_stage passes its arguments
        each time a stage activates (the start, a promotion). A rate outside 0..1 raises ValueError
        (the action fails: the run stops rather than explore at a rate the spec did not mean); a
        chop rate below the minimum explores at the minimum (exploration_rate). A run that does not
        explore ignores them."""
        if not self.exploring:
            return
        from pydantic import ValidationError

        f = self.filters
        try:
            f.exploration = f.exploration.model_validate({**f.exploration.model_dump(), "min_rate": min_rate,
                                                          "chop_rate": chop_rate})
        except ValidationError as e:
            raise ValueError("exploration rates: " + "; ".join(f"{x['loc'][0]} {x['input']!r}: {x['msg']}"
                                                               for x in e.errors())) from None

    def spent(self, symbol: str) -> None:
        """Risk has judged the armed entry (approved or not)."""
        self.armed.pop(symbol, None)

    # -- allowlist, ML filter, exploration ------------------------------------------------
    def _filtered(self, s: Series, i: int, t: float, d: int) -> Want:
        f, sym = self.filters, s.symbol
        inp = f.inputs.get(sym)
        if inp is None:
            return Want(d, True)
        if inp.allowlist is not None:
            why = self._not_allowed(s, t, inp.regime[i], *inp.allowlist)
            if why is not None:  # stays armed: the session or regime may change while the signal holds
                refusal = self._once(sym, ("allowlist", why))
                numbers = self._allow_numbers(s, t, str(inp.regime[i]), *inp.allowlist) if refusal else None
                return Want(d, False, refusal=refusal, numbers=numbers)
        if not inp.prob or self.holding(sym, d):
            return Want(d, True)
        version = "+".join(inp.prob)
        exploring = f.exploration is not None and self._explore(str(inp.regime[i]))
        ok, reason, numbers = self._judge(inp, i, t, d)
        # An entry's row keeps the verdict and the figures it came from, as a refusal's does: the
        # probabilities (each model's, and an ensemble's vote and score), whatever took the entry.
        judged = {"ml_filter": {**numbers, "verdict": reason}}
        if exploring:
            return Want(d, True, (f.exploration.tag,), version, numbers={**judged, "explored": True})
        if ok:
            return Want(d, True, (), version, numbers=judged)
        self.armed.pop(sym, None)  # the model judged this signal; the next one is judged afresh
        return Want(d, False, model_version=version, refusal=("ml_filter", reason), numbers=numbers)

    def _not_allowed(self, s: Series, t: float, regime: str, name: str, allow: "Allowlist") -> str | None:
        from strategies.regime import check_allowlist

        cfg = self.filters.regime_cfg
        ok, why = check_allowlist(allow, t, regime, s.symbol, cfg)
        if not ok and why.startswith("asset:"):  # a symbol or its domain may be listed
            ok, why = check_allowlist(allow, t, regime, s.domain.value, cfg)
        return None if ok else f"{name}: {why}"

    def _allow_numbers(self, s: Series, t: float, regime: str, name: str, allow: "Allowlist") -> dict[str, Any]:
        """What an allowlist refusal judged: the bar's sessions, regime and asset against the lists."""
        from strategies.regime import sessions_at

        return {"allowlist": name, "sessions_open": sessions_at(t, self.filters.regime_cfg), "regime": regime,
                "symbol": s.symbol, "domain": s.domain.value, "sessions": list(allow.sessions),
                "regimes": list(allow.regimes), "assets": list(allow.assets)}

    def _explore(self, regime: str) -> bool:
        from strategies.exploration import explore

        return explore(self.rng, regime, self.filters.exploration)

    def _judge(self, inp: SymbolInputs, i: int, t: float, d: int) -> tuple[bool, str, dict[str, Any]]:
        """(allowed, reason, numbers): BUY needs p >= thr, SELL p <= 1 - thr (seed 002), or the
        ensemble's vote. A probability that is not there is null in the numbers (strict JSON)."""
        side = "BUY" if d > 0 else "SELL"
        probs = {name: float(p[i]) for name, p in inp.prob.items()}
        shown = {k: v if math.isfinite(v) else None for k, v in probs.items()}
        if len(probs) > 1:
            from strategies.ensemble import vote

            rec = vote(probs, self.filters.ensemble)
            text = ", ".join(f"{k}={v:.4f}" for k, v in probs.items())
            return (rec.decision == side, f"ensemble {rec.decision} for {side} ({rec.reason}; {text})",
                    {"p_up": shown, "method": rec.method, "score": rec.score, "threshold": rec.threshold,
                     "vote": rec.decision, "side": side})
        (name, p), = probs.items()
        thr = inp.threshold
        numbers = {"model": name, "p_up": shown[name], "threshold": thr, "side": side}
        if not math.isfinite(p) and t <= inp.trained_until.get(name, -math.inf):
            return False, (f"{name}: trained on this bar's outcome (its training data ends "
                           f"{iso(inp.trained_until[name])}): no in-sample judgement (ml.in_sample)"), numbers
        if not math.isfinite(p):
            return False, f"{name}: no probability at this bar (features not warm), threshold {thr}", numbers
        ok = p >= buy_line(thr) if d > 0 else p <= sell_line(thr)
        need = f">= {thr}" if d > 0 else f"<= {1.0 - thr:.4f} (1 - {thr})"
        return ok, f"{name}: p_up {p:.4f} {'meets' if ok else 'fails'} {side} threshold {need}", numbers

    def _once(self, sym: str, refusal: tuple[str, str]) -> tuple[str, str] | None:
        seen = self.reported.setdefault(sym, [])
        if refusal[0] in seen:
            return None
        seen.append(refusal[0])
        return refusal

    # -- checkpoint -----------------------------------------------------------------------
    def state(self) -> dict:
        version, internal, gauss = self.rng.getstate()
        out = {"last": self.last, "armed": self.armed, "reported": self.reported,
               "rng": [version, list(internal), gauss]}
        if self.exploring:  # the rates the last stage activation set (use_rates): a resume keeps them
            out["exploration"] = [self.filters.exploration.min_rate, self.filters.exploration.chop_rate]
        return out

    def load(self, data: dict) -> None:
        self.last, self.armed = dict(data["last"]), dict(data["armed"])
        self.reported = {k: list(v) for k, v in data["reported"].items()}
        version, internal, gauss = data["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        if "exploration" in data:  # else a checkpoint from before use_rates: the start stage's, as built
            self.use_rates(*data["exploration"])
