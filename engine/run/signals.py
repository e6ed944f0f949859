"""The entry filters' inputs for a run: registered models' probabilities, regimes, the active set.

Like the strategy's position (engine.run.market), the model probability and the
regime of every row are computed once at load time, causally, so replay stays
fast; a live feed computes the same values bar by bar (`ModelFeed.prob_live`,
`regime_live`) and tests/test_parity.py proves both give identical decisions.

Clock: the decision for a row is taken at the row's close `t`. The features
module's row n is built from bars 0..n-1 only, so the features known at `t`
are the row of the bar that OPENS at `t`, computed over the bars closed by
`t`. Precomputed over the whole series, that is simply the row indexed `t`.
Live, the bars received by `t` are padded with phantom bars from `t` to the
end of the current higher-timeframe bucket: row `t` never reads them (the
features' causality), but a higher timeframe's last closed bucket is found
only once the bucket after it exists. The whole series' end is padded the same
way; where the data has a gap right at `t`, the row is computed the live way. Models are loaded BY VERSION and pinned in the store, so
a resumed run uses the versions it started with.

A model's regime_* features are computed with the run's (--specs) regime spec, never the
repo's; a model trained under other regime settings, or one that does not record them, is
refused at start (train/serve skew would otherwise go unnoticed).
Every other feature is built from the feature config the model's manifest records (the
`features:` section it was trained under), never from the run's filter spec, so an edited
spec cannot skew a trained model; keys a model saved before they existed get the values
the features had then (strategies.ml.config.recorded_features).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.diagnostics import Pos
from engine.run.config import RunConfig
from engine.run.decide import Decider, EntryFilters, SymbolInputs
from engine.run.keys import MODELS_KEY
from engine.run.market import Series, iso

if TYPE_CHECKING:
    import pandas as pd

    from engine.data.sources import Source


@dataclass
class ModelFeed:
    """One registered model over one symbol's bars (the data set's own, bar opens UTC)."""

    name: str  # "ETH/BTC:5m:v1": what trades, refusals and reports record
    model: Any  # strategies.ml.registry.LoadedModel
    bars: "pd.DataFrame"
    regime: Any  # the run's RegimeConfig, which _check_regime found equal to the model's training
    refuse_in_sample: bool = True  # ml.in_sample: no probability where the model learnt the bar's outcome
    features: Any = field(init=False)  # the FeatureConfig the model records: what it was trained on
    _prob: "pd.Series | None" = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        from strategies.ml.config import recorded_features

        self.features = recorded_features(self.model.manifest.get("feature_config"))

    def probs(self, ts: np.ndarray) -> np.ndarray:
        """P(up) known at each decision time in `ts` (epoch seconds), for the whole series at once."""
        import pandas as pd

        prob = self._series_probs()
        at = pd.to_datetime(np.asarray(ts, dtype=float), unit="s", utc=True).round("s")
        out = prob.reindex(at).to_numpy(dtype=float)
        for k in np.flatnonzero(~at.isin(prob.index)):  # a gap at the decision: as a live feed would
            out[k] = self.prob_live(self.bars, float(ts[k]))
        if self.refuse_in_sample:
            out[np.asarray(ts, dtype=float) <= self.trained_until] = np.nan
        return out

    @property
    def trained_until(self) -> float:
        """When the last bar the model was trained on closed (epoch seconds): a judgement at or
        before it would score the model on a bar whose outcome it learnt, which flatters a replay's
        KPIs and the gates that read them."""
        import pandas as pd

        return (pd.Timestamp(self.model.manifest["data"]["end"]) + self._step()).timestamp()

    def prepare(self) -> None:
        """Build the features and probabilities now, at the start: a feature the data cannot give
        (MissingFeatures) refuses the run before its first bar, not in the middle of it."""
        self._series_probs()

    def _series_probs(self) -> "pd.Series":
        """P(up) per model-timeframe bar of the whole series, computed once (features are causal)."""
        if self._prob is None:
            bars = self._at_model_tf(self.bars)
            self._prob = self._predict(self._padded(bars, bars.index[-1] + self._step()))
        return self._prob

    def decay(self, until: float, cfg: Any) -> Any:
        """The model's decay status (strategies.ml.decay) at `until` (epoch seconds): its
        predictions after its training data whose labels, by the labels config it was trained
        with, are known by then, against its validation hit rate and Brier score."""
        import pandas as pd

        from strategies.ml.config import LabelConfig
        from strategies.ml.decay import decay_status, resolved
        from strategies.ml.labels import make_labels

        manifest = self.model.manifest
        labels = make_labels(self._at_model_tf(self.bars), LabelConfig(**manifest["labels"]))
        rows = resolved(self._series_probs().reindex(labels.index), labels, self._step(),
                        pd.Timestamp(manifest["data"]["end"]), pd.Timestamp(until, unit="s", tz="UTC"))
        return decay_status(rows, self.model.threshold, manifest, cfg)

    def prob_live(self, received: "pd.DataFrame", t: float) -> float:
        """P(up) at decision time `t` from the bars a live feed has received (only those closed by t count)."""
        import pandas as pd

        when = pd.Timestamp(t, unit="s", tz="UTC").round("s")
        native = received[received.index + _interval(received) <= when]
        bars = self._at_model_tf(native)
        bars = bars[bars.index + self._step() <= when]
        if not self._enough(bars, when):
            return float("nan")
        return float(self._predict(self._padded(bars, when)).loc[when])

    def _padded(self, bars: "pd.DataFrame", at: "pd.Timestamp") -> "pd.DataFrame":
        """`bars` and copies of their last bar from `at` to the end of every higher-timeframe bucket."""
        import pandas as pd

        from engine.data.timeframes import parse_tf

        step = self._step()
        tfs = [parse_tf(tf) for tf in self.features.higher_timeframes]
        end = max([at + step] + [(at + step).ceil(tf) for tf in tfs if tf > step and tf % step == pd.Timedelta(0)])
        pad = bars.iloc[[-1] * int((end - at) / step)].copy()
        pad.index = pd.date_range(at, periods=len(pad), freq=step, name=bars.index.name).as_unit(bars.index.unit)
        out = pd.concat([bars, pad])
        out.attrs = dict(bars.attrs)
        return out

    def _enough(self, bars: "pd.DataFrame", when: "pd.Timestamp") -> bool:
        """Enough closed buckets of every timeframe for its ATR to exist (the warm rule below), which
        is also what the indicators need so as not to fail on a short history."""
        from engine.data.timeframes import parse_tf

        cfg = self.features
        for tf in [self._step()] + [parse_tf(tf) for tf in cfg.higher_timeframes]:
            if bars.index[bars.index < when.floor(tf)].floor(tf).nunique() - 1 < cfg.atr_window:
                return False
        return True

    def _step(self) -> "pd.Timedelta":
        from engine.data.timeframes import parse_tf

        return parse_tf(self.model.tf)

    def _at_model_tf(self, bars: "pd.DataFrame") -> "pd.DataFrame":
        from engine.data.resample import resample

        return bars if _interval(bars) == self._step() else resample(bars, self.model.tf)

    def _predict(self, bars: "pd.DataFrame") -> "pd.Series":
        """P(up) per row; NaN until the slowest primary features (as in training) and every
        timeframe's ATR are warm."""
        import pandas as pd

        from strategies.ml.features import build_features
        from strategies.ml.model import predict

        cfg = self.features
        X = build_features(bars, cfg, self.regime)
        natr = [c for c in X.columns if c.endswith("natr")]
        warm = X[[f"ema{max(cfg.ema_windows)}_dist", "adx", *natr]].notna().all(axis=1).to_numpy()
        return pd.Series(np.where(warm, predict(self.model.booster, X), np.nan), index=X.index)


def _interval(bars: "pd.DataFrame") -> "pd.Timedelta":
    from engine.data.bars import interval_of

    return interval_of(bars)


# -- regimes -------------------------------------------------------------------------------
def _primary(s: Series) -> "pd.DataFrame":
    import pandas as pd

    return pd.DataFrame({"high": s.high, "low": s.low, "close": s.close})


def regimes(s: Series, cfg: Any = None) -> np.ndarray:
    """The regime known at each row's close (strategies.regime.classify uses rows <= t)."""
    from strategies.regime import classify

    return classify(_primary(s), cfg).to_numpy(dtype=object)


def regime_live(s: Series, i: int, cfg: Any = None) -> str:
    """The regime at row i from rows 0..i only: what a live feed computes."""
    from strategies.regime import classify

    return str(classify(_primary(s).iloc[: i + 1], cfg).iloc[-1])


def ml_spec(specs: Any, kind: str, why: str) -> Any:
    """The spec set's (--specs) document of `kind`, which `engine validate` checked: never the
    repo's own copy, which a run given other specs would otherwise trade with unchecked."""
    from engine.run.session import RefusedToStart

    doc = specs.extra.get(kind)
    if doc is None:
        raise RefusedToStart(f"the spec set has no `kind: {kind}` spec, which the run needs {why}: add one "
                             f"to the --specs folder (the repo's is specs/ml/{kind}.yaml)")
    return doc


def model_decay(filters: EntryFilters | None, specs: Any, until: float, store: Any) -> dict[str, dict]:
    """Each model's decay status at `until`, journaled (kind `ml`, key `decay`), by the decay
    settings of the spec set's `kind: ml` spec (the defaults without one). It flags a model for
    retraining and decides nothing, so it is no part of the run's spec hash."""
    from strategies.ml.config import DecayConfig

    docs = [specs.extra[n] for n, kind in sorted(specs.extra_kinds.items()) if kind == "ml"]
    cfg = docs[0].decay if docs else DecayConfig()
    out = {}
    for feed in filters.models if filters is not None else ():
        overall = feed.model.manifest["metrics"]["overall"]
        status = {**feed.decay(until, cfg).as_dict(), "validation_hit_rate": overall["precision"],
                  "validation_brier": overall["brier"]}
        out[feed.name] = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in status.items()}
        text = f"model {feed.name}: {'retrain: ' if out[feed.name]['retrain'] else ''}{out[feed.name]['reason']}"
        store.journal("ml", "decay", {"model": feed.name, **out[feed.name]}, reason=text)
    return out


# -- building the Decider ------------------------------------------------------------------
def build_decider(cfg: RunConfig, specs: Any, stage: int, series: list[Series], store: Any,
                  notes: list[str], resume: bool, config: str | None = None) -> Decider:
    """The run's Decider with its filters; every choice is written to `notes` and the journal.
    `config`: the run config's file, where a refusal of its `ml.symbols` points."""
    feeds = _feeds(cfg, specs, series, store, notes, resume, config)
    allow = {s.symbol: _allowlist(cfg, specs, s.symbol in feeds) for s in series}
    timeframes = {name: (dd.primary, dd.confirm) for name, dd in cfg.data.items()}
    if not feeds and not any(allow.values()):
        return Decider(cfg.strategy, seed=cfg.seed, timeframes=timeframes)
    regime_cfg = ml_spec(specs, "regime", "to classify each bar's regime for its filters")
    inputs = {}
    for s in series:
        mine = feeds.get(s.symbol, [])
        if mine or allow[s.symbol]:
            inputs[s.symbol] = SymbolInputs(regimes(s, regime_cfg), {f.name: f.probs(s.ts) for f in mine},
                                            mine[0].model.threshold if len(mine) == 1 else 0.5, allow[s.symbol],
                                            {f.name: f.trained_until for f in mine if f.refuse_in_sample})
    for name in sorted({a[0] for a in allow.values() if a}):
        syms = [sym for sym, a in allow.items() if a and a[0] == name]
        _note(store, notes, "allowlist", f"entries on {', '.join(syms)} checked against allowlist {name!r} "
                                         f"({_file_of(specs, 'allowlists')})")
    filters = EntryFilters(inputs, _exploration(cfg, specs, stage, bool(feeds)), _ensemble(specs, feeds), regime_cfg,
                           tuple(f for fs in feeds.values() for f in fs))
    return Decider(cfg.strategy, filters, seed=cfg.seed, timeframes=timeframes)


def _file_of(specs: Any, kind: str) -> str:
    """The file of the spec set's document of `kind` (the --specs given, not the repo's)."""
    return next(specs.extra_pos[n].file for n, k in specs.extra_kinds.items() if k == kind)


def _note(store: Any, notes: list[str], what: str, text: str, **payload: Any) -> None:
    notes.append(text)
    store.journal("ml", what, payload, reason=text)


def _dataset_for(cfg: RunConfig, s: Series) -> tuple[Source, str] | None:
    """The series' data set (bundled or stored) and its store folder."""
    from engine.data.sources import describe

    dd = cfg.data.get(s.domain.value)
    found = (describe(n, dd.store) for n in (dd.datasets if dd is not None else []))
    src = next((f for f in found if f.symbol == s.symbol), None)
    return (src, dd.store) if src is not None else None


def train_command(cfg: RunConfig, specs: Any, symbol: str = "SYMBOL", tf: str = "TF", activate: bool = False) -> str:
    """The `engine train ml` that trains a model this run would load: with the run's own ML and
    regime spec files where they are not the command's default (specs/ml/ here), and its
    registry where the run config names another than that ML spec's."""
    import shlex

    from engine.run.config import spec_registry_root

    words = ["engine", "train", "ml", "--symbol", symbol, "--tf", tf]
    for option, kind, default in (("--spec", "ml", "filter.yaml"), ("--regime", "regime", "regime.yaml")):
        files = [specs.extra_pos[n].file for n, k in sorted(specs.extra_kinds.items()) if k == kind]
        if files and Path(files[0]).resolve() != (Path("specs") / "ml" / default).resolve():
            words += [option, files[0]]
    if cfg.ml.registry != spec_registry_root(specs):
        words += ["--registry", cfg.ml.registry]
    return shlex.join(words + (["--activate"] if activate else []))


def _feeds(cfg: RunConfig, specs: Any, series: list[Series], store: Any, notes: list[str],
           resume: bool, config: str | None) -> dict[str, list[ModelFeed]]:
    """symbol -> its models, loaded by version; refuses to start when `ml.enabled: true` lacks one."""
    if cfg.ml.enabled is False:
        _note(store, notes, "filter", "ML filter off (ml.enabled: false)")
        return {}
    from engine.data import sources
    from strategies.ml.registry import ModelRegistry

    root = cfg.ml.registry  # resolved at the start (engine/run/config.py with_specs)
    registry = ModelRegistry(root, store=store)
    pinned = store.get_json(MODELS_KEY) if resume else None
    feeds: dict[str, list[ModelFeed]] = {}
    missing: list[str] = []
    for s in series:
        found = _dataset_for(cfg, s)
        if found is None:
            missing.append(f"{s.symbol} (no data set in the run config)")
            continue
        src, store_root = found
        refs = _refs(cfg, specs, s.symbol, src.tf, registry, pinned, config)
        if not refs:
            missing.append(f"{s.symbol} {src.tf}")
            continue
        bars = sources.load(src.name, store_root)
        feeds[s.symbol] = [_feed(specs, f"{s.symbol}:{tf}:v{v}", _load(registry, s.symbol, tf, v), bars,
                                 cfg.ml.in_sample == "refuse") for tf, v in refs]
    if missing and cfg.ml.enabled is True:
        raise FileNotFoundError(f"ml.enabled is true but there is no active model for {', '.join(missing)} in "
                                f"{root}: train one ({train_command(cfg, specs)}) "
                                "or set ml.enabled: auto")
    if not resume:
        store.put_json(MODELS_KEY, {sym: [[f.model.tf, f.model.version] for f in fs] for sym, fs in feeds.items()})
    on = "; ".join(f"{sym}: {', '.join(f'{f.name} (threshold {f.model.threshold})' for f in fs)}"
                   for sym, fs in feeds.items())
    if on:
        _note(store, notes, "filter", f"ML filter on for {on}", models={k: [f.name for f in v] for k, v in feeds.items()})
    if missing:
        _note(store, notes, "filter", f"ML filter off for {', '.join(missing)}: no active model in "
                                      f"{root} ({train_command(cfg, specs)})")
    _note_in_sample(store, notes, series, feeds)
    return feeds


def _note_in_sample(store: Any, notes: list[str], series: list[Series], feeds: dict[str, list[ModelFeed]]) -> None:
    """Say which models were trained on bars the run replays, and what that does to their judgements."""
    for s in series:
        for f in feeds.get(s.symbol, []):
            if s.start < len(s.ts) and s.ts[s.start] <= f.trained_until:  # the bars it trades, not its fit
                what = ("its judgements up to then are refused (ml.in_sample: refuse); train it with `engine "
                        "train ml --until` a date before the bars you replay" if f.refuse_in_sample else
                        "it judges them anyway (ml.in_sample: allow), so the KPIs up to then are in-sample: a "
                        "test of the plumbing, not a backtest")
                _note(store, notes, "in_sample", f"model {f.name} was trained on {s.symbol} bars up to "
                                                 f"{iso(f.trained_until)}: {what}",
                      model=f.name, trained_until=f.trained_until, refused=f.refuse_in_sample)


def _feed(specs: Any, name: str, model: Any, bars: "pd.DataFrame", refuse_in_sample: bool = True) -> ModelFeed:
    """The model's feed; refuses one whose regime settings differ from the run's or whose
    recorded feature config cannot be built (its features are always built from that record)."""
    from engine.run.session import RefusedToStart
    from strategies.ml.model import MissingFeatures

    regime = ml_spec(specs, "regime", "for its models' regime features")
    where = specs.extra_pos.get("regime")
    _check_regime(name, model, regime, where.file if where else "the regime spec")
    if refuse_in_sample and not isinstance((model.manifest.get("data") or {}).get("end"), str):
        raise RefusedToStart(f"model {name} records no training span (its manifest's data.end), so the run cannot "
                             "tell the bars it learnt from: retrain it (engine train ml), or set ml.in_sample: "
                             "allow in the run config to judge every bar")
    try:
        feed = ModelFeed(name, model, bars, regime, refuse_in_sample)
    except ValueError as e:  # pydantic's ValidationError is one
        raise RefusedToStart(f"model {name} records a feature config this engine cannot build its features "
                             f"from ({_first_error(e)}): retrain it (`engine train ml --symbol {model.symbol} "
                             f"--tf {model.tf} --activate`, with the data and --spec it was trained on)") from None
    try:
        feed.prepare()
    except MissingFeatures as e:
        raise RefusedToStart(f"model {name} was trained on features the run's {model.symbol} data cannot give "
                             f"({', '.join(e.names)}): run it on data like its training data's (bid/ask bars for a "
                             "spread-trained model), or train one on this data") from None
    return feed


def _first_error(e: ValueError) -> str:
    from pydantic import ValidationError

    if not isinstance(e, ValidationError):
        return str(e)
    err = e.errors()[0]
    return f"`{'.'.join(map(str, err['loc']))}`: {err['msg']}" if err["loc"] else err["msg"]


def _check_regime(name: str, model: Any, regime: Any, regime_file: str) -> None:
    """Refuse a model whose regime features were trained under other regime settings than
    `regime` (from `regime_file`), or under unknown ones (saved before models recorded them)."""
    from engine.run.session import RefusedToStart
    from strategies.regime import changed_settings

    retrain = (f"retrain it under {regime_file} and activate it (`engine train ml --symbol {model.symbol} "
               f"--tf {model.tf} --regime {regime_file} --activate`, with the data and --spec it was trained on)")
    trained = model.manifest.get("regime_config")
    if not isinstance(trained, dict):
        raise RefusedToStart(f"model {name} does not record the regime settings it was trained under (it was "
                             f"saved before models recorded them), so whether {regime_file} matches them is "
                             f"unknown and its regime features may differ from training: {retrain}")
    changed = changed_settings(trained, regime)
    if changed:
        diffs = "; ".join(f"`{k}` trained {t}, now {v}" for k, t, v in changed)
        raise RefusedToStart(f"{_setting_pos(regime_file, changed[0][0])}: model {name} was trained under other "
                             f"regime settings ({diffs}), so its regime features would differ from training: "
                             f"{retrain}, or put the trained values back")


def _setting_pos(regime_file: str, key: str) -> str:
    """file:line:col of `key` in the regime spec (the document's start when it is not written out)."""
    return str(_key_pos(regime_file, key))


def _key_pos(spec_file: str, key: str) -> Pos:
    """Where a spec file sets a top-level `key` (the document's start when it is not written out)."""
    from engine.spec.yamlio import parse_yaml

    try:
        doc, _ = parse_yaml(Path(spec_file).read_text(encoding="utf-8"), spec_file)
    except (OSError, UnicodeDecodeError):
        doc = None  # the loader read it a moment ago; nothing to point at now
    return doc.pos_of((key,)) if doc is not None else Pos(spec_file, 1, 1)


def _refs(cfg: RunConfig, specs: Any, symbol: str, data_tf: str, registry: Any, pinned: dict | None,
          config: str | None) -> list[tuple[str, int]]:
    """(tf, version) of each model `symbol` is judged by: a resume's as its run started, else the
    run config's pins, else the active model of the data's timeframe, if any. A pin is the user's
    word that the symbol trades filtered: one that finds no model, or one model pinned twice (one
    vote twice, judged as an ensemble at its threshold), would trade it otherwise, so it refuses."""
    if pinned is not None:
        return [(tf, int(v)) for tf, v in pinned.get(symbol, [])]
    pins = cfg.ml.symbols.get(symbol)
    if not pins:
        version = _active(registry, symbol, data_tf)
        return [] if version is None else [(data_tf, int(version))]
    out: list[tuple[str, int]] = []
    for ref in pins:
        tf = ref.tf or data_tf
        version = ref.version or _active(registry, symbol, tf)
        if version is None:
            _refuse_pin(config, symbol, f"ml.symbols pins the active {tf} model of {symbol}, and {cfg.ml.registry} "
                        f"has none", f"train one ({train_command(cfg, specs, symbol, tf, activate=True)}) or pin a "
                        "version the registry holds")
        if (tf, int(version)) in out:
            _refuse_pin(config, symbol, f"ml.symbols pins model {symbol}:{tf}:v{version} twice: one model would "
                        "vote twice", "remove one pin, or pin another version to vote with it")
        out.append((tf, int(version)))
    return out


def _refuse_pin(config: str | None, symbol: str, message: str, hint: str) -> None:
    from engine.diagnostics import Diagnostic, Severity, SpecError
    from engine.run.config import setting_pos

    raise SpecError([Diagnostic(setting_pos(config, ("ml", "symbols", symbol)), Severity.ERROR, "CONFIG_ML",
                                message, hint)])


def _active(registry: Any, symbol: str, tf: str) -> int | None:
    from engine.run.session import RefusedToStart
    from strategies.ml.registry import RegistryError

    try:
        return registry.active_version(symbol, tf)
    except RegistryError as e:
        raise RefusedToStart(f"the model registry: {e}") from None


def _load(registry: Any, symbol: str, tf: str, version: int) -> Any:
    from engine.run.session import RefusedToStart
    from strategies.ml.registry import RegistryError

    try:
        return registry.load(symbol, tf, version)
    except RegistryError as e:
        raise RefusedToStart(f"model {symbol}:{tf}:v{version}: {e}") from None
    except LookupError as e:
        raise FileNotFoundError(f"{e} in {registry.root} (ml.symbols in the run config)") from None


def _allowlist(cfg: RunConfig, specs: Any, ml_on: bool) -> Any:
    name = cfg.strategy.allowlist
    if name == "auto":
        name = "ml_filter" if ml_on else None
    return None if name is None else (name, ml_spec(specs, "allowlists", f"for the allowlist {name!r}").strategies[name])


def _exploration(cfg: RunConfig, specs: Any, stage: int, ml_on: bool) -> Any:
    """The rollout stage's exploration_min / exploration_max_chop (what apply_stage receives: the
    only source of the rates; ENGINE_CONTRACT refuses them in specs/ml/exploration.yaml and checks
    min <= max_chop in every stage and env); chop regimes and the tag from specs/ml/exploration.yaml.
    Exploration means trading against the filter, so it is off without one."""
    if not (ml_on and cfg.ml.exploration):
        return None
    from strategies.exploration import exploration_config

    ml_spec(specs, "exploration", "for exploration's chop regimes and tag")
    return exploration_config(specs, stage, cfg.env)


def _ensemble(specs: Any, feeds: dict[str, list[ModelFeed]]) -> Any:
    if not any(len(fs) > 1 for fs in feeds.values()):
        return None
    return ml_spec(specs, "ensemble", "to combine two models of one symbol")


# -- the active top-K set --------------------------------------------------------------------
def active_symbols(cfg: RunConfig, specs: Any, store: Any, notes: list[str], resume: bool,
                   config: str | None = None, first_decision: float | None = None) -> frozenset[str] | None:
    """The symbols new entries are limited to; None: no limit. The one rule (docs/engine-run.md,
    "The active set"): a resume keeps the set its run started with (the store's copy, or none);
    a fresh run takes the store's set, else load_active_set's, which it copies into the store so
    that a resume sees the same set. `config`: the run config's file, where a refusal points;
    `first_decision`: when the run decides first (epoch s), which the set's ranking should precede."""
    sel = ml_spec(specs, "selection", "for the active top-K set (engine select)")
    active = _stored_set(sel, store)
    if active is None and not resume:
        active = load_active_set(cfg, specs, config)
        if active is not None:
            store.put_json(sel.state_key, active.as_dict())
    if active is None:
        _note(store, notes, "active_set", "no active set (no `engine select` file at "
                                          f"{sel.fallback_file}, and ml.active_set_file names none): "
                                          "every symbol may enter")
        return None
    _note(store, notes, "active_set", f"entries only on the active set: {', '.join(active.symbols) or '(none)'} "
                                      f"(selected {active.generated_at})", symbols=list(active.symbols))
    _note_ranked_in_sample(store, notes, active, first_decision)
    return frozenset(active.symbols)


def _note_ranked_in_sample(store: Any, notes: list[str], active: Any, first_decision: float | None) -> None:
    """Say so when the set was ranked on outcomes of bars the run replays: its choice of symbols
    then rests on what the run is about to trade, and the KPIs flatter it."""
    from datetime import datetime, timezone

    if active.ranked_until is None or first_decision is None:
        return
    until = datetime.fromisoformat(active.ranked_until)
    if (until if until.tzinfo else until.replace(tzinfo=timezone.utc)).timestamp() < first_decision:
        return
    first = iso(first_decision)
    _note(store, notes, "active_set_in_sample",
          f"the active set was ranked on outcomes up to {active.ranked_until}, after this run's first decision "
          f"({first}): its choice of symbols saw bars the run trades, so the KPIs are in-sample; rank with "
          f"`engine select --until {first[:10]}`", ranked_until=active.ranked_until, first_decision=first)


SET_ACTIVE = "set_active"  # the control-channel command `engine select --state DB` posts


def not_traded(symbols: Iterable[str], traded: Iterable[str]) -> list[str]:
    """The symbols of an active set that no series of the run trades: never entered, so a set that
    names one (a typo, a symbol of other data) lets the run trade less than it says."""
    have = set(traded)
    return [s for s in symbols if s not in have]


def not_traded_warning(missing: list[str], traded: Iterable[str]) -> str:
    return (f"the active set names {', '.join(missing)}, which no series of the run trades (it trades "
            f"{', '.join(sorted(traded)) or 'nothing'}): never entered; check the symbols, or select from "
            "the run's data")


def change_active_set(specs: Any, store: Any, ledger: Any, old: frozenset[str] | None, args: dict[str, Any],
                      posted_ts: float, reason: str,
                      traded: frozenset[str]) -> tuple[frozenset[str] | None, list[str], list[str]]:
    """Apply `engine select --state`'s set (args `active`: ActiveSet.as_dict) to the running run,
    whose series trade `traded`: returns the set entries are limited to from now on, the move
    ("active set: A, B -> C") and, when not applied, why. The store's copy (kv `state_key`) is
    replaced, so a resume keeps the new set (the one rule: active_symbols); the journal (kind `ml`,
    key `active_set`, as at the start) records the old and new set, the symbols of it no series
    trades (`not_traded`), the selection's time and when the command was posted. A row that is no
    active set changes nothing (fail closed: the set the run has stays)."""
    from strategies.selection import ActiveSetError, parse_active_set

    try:
        new = parse_active_set(args.get("active"), "the command's active set")
    except ActiveSetError as e:
        return old, [], [e.what]
    sel = ml_spec(specs, "selection", "for the active top-K set (engine select)")
    store.put_json(sel.state_key, new.as_dict())
    to = frozenset(new.symbols)
    was = "(no selection: every symbol)" if old is None else ", ".join(sorted(old)) or "(none)"
    move = f"active set: {was} -> {', '.join(new.symbols) or '(none)'} (selected {new.generated_at})"
    ledger.journal("ml", "active_set", {
        "symbols": list(new.symbols), "from": None if old is None else sorted(old),
        "added": sorted(to - (old or frozenset())), "removed": sorted((old or frozenset()) - to),
        "not_traded": not_traded(new.symbols, traded), "generated_at": new.generated_at, "posted_ts": posted_ts}, reason=f"{move}: {reason}")
    return to, [move], []


def _stored_set(sel: Any, store: Any) -> Any:
    from engine.run.session import RefusedToStart
    from strategies.selection import ActiveSetError, read_active_set

    try:
        return read_active_set(sel, store=store)
    except ActiveSetError as e:  # the engine wrote it: a damaged store, not a user's input
        raise RefusedToStart(f"{e.what}; start afresh (the store is archived) or {e.hint}") from None


def load_active_set(cfg: RunConfig, specs: Any, config: str | None = None) -> Any:
    """The active set `engine select` wrote, from the file ml.active_set_file names, else from the
    selection spec's fallback_file; None only when that default file does not exist (no selection
    was made). A named file that is missing, and any file that is not an active set, are a
    SpecError at its line:col (bad JSON) or at the setting that names it."""
    from engine.diagnostics import Diagnostic, Severity, SpecError
    from strategies.selection import ActiveSetError, read_active_set_file

    sel = ml_spec(specs, "selection", "for the active top-K set (engine select)")
    named = cfg.ml.active_set_file
    path = Path(named if named is not None else sel.fallback_file)
    try:
        active = read_active_set_file(path)
    except ActiveSetError as e:
        where = e.pos or _naming_pos(specs, config, named)
        raise SpecError([Diagnostic(where, Severity.ERROR, "ACTIVE_SET", e.what, e.hint)]) from None
    if active is None and named is not None:
        raise SpecError([Diagnostic(_naming_pos(specs, config, named), Severity.ERROR, "ACTIVE_SET",
                                    f"ml.active_set_file names {named}, which does not exist",
                                    "write it with `engine select --out FILE` (e.g. engine select --top-k 5 --out "
                                    f"{named}), or remove the key to trade without a selection; the run refuses "
                                    "rather than let every symbol enter")])
    return active


def check_active_set_traded(cfg: RunConfig, specs: Any, traded: Iterable[str], config: str | None = None) -> str | None:
    """A fresh run's active set against the symbols its series trade: an ACTIVE_SET error when it
    names symbols and the run trades none of them (it would enter nothing, silently); the
    not_traded warning when it names some the run does not trade; else None."""
    from engine.diagnostics import Diagnostic, Severity, SpecError

    active = load_active_set(cfg, specs, config)
    missing = not_traded(active.symbols, traded) if active is not None else []
    if not missing:
        return None
    if len(missing) < len(active.symbols):
        return not_traded_warning(missing, traded)
    named = cfg.ml.active_set_file
    raise SpecError([Diagnostic(_naming_pos(specs, config, named), Severity.ERROR, "ACTIVE_SET",
                                f"the active set names {', '.join(missing)}, none of which the run trades (it "
                                f"trades {', '.join(sorted(traded)) or 'nothing'}): it would enter nothing",
                                "select from the run's data (engine select --data NAME ... --out FILE), or name "
                                "another file in ml.active_set_file")])


def _naming_pos(specs: Any, config: str | None, named: str | None) -> Pos:
    """The setting that names the active set's file: the run config's ml.active_set_file, else the
    selection spec's fallback_file."""
    from engine.run.config import setting_pos

    if named is not None:
        return setting_pos(config, ("ml", "active_set_file"))
    where = specs.extra_pos.get("selection")
    return _key_pos(where.file, "fallback_file") if where is not None else Pos("specs/ml/selection.yaml", 1, 1)
