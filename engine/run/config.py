"""`engine run` configuration: embedded defaults merged with an optional user file.

Errors in a user file are reported as file:line:col diagnostics, like specs.
"""
from __future__ import annotations

from collections.abc import Collection
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from pydantic_core import PydanticCustomError

from engine.data import DEFAULT_STORE
from engine.diagnostics import Diagnostic, Severity, SpecError

DEFAULTS = "defaults.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Execution(_Strict):
    trading_enabled: bool = False


def _dataset(name: str) -> str:
    from engine.data.sources import check_name

    return check_name(name)


def _timeframe(tf: str) -> str:
    from engine.data.timeframes import canonical_tf

    return canonical_tf(tf)


Timeframe = Annotated[str, AfterValidator(_timeframe)]


def _store(db: str) -> str:
    """`db` names a lasting store (state.db.as_store_url, check_persistent): a typo is reported at
    its line, not as a folder `htp:` made at the run's start, an empty value does not mean the
    default store, and an in-memory one (nothing of the run would outlive it) is refused there too."""
    from state.db import DEFAULT_PATH, FORMS, BadStoreUrl, MemoryStore, as_store_url, check_persistent

    try:
        check_persistent(as_store_url(db, "db"), "db")
    except BadStoreUrl as e:
        raise PydanticCustomError("store_url", e.what, {"hint": FORMS}) from None
    except MemoryStore as e:
        raise PydanticCustomError("store_url", e.what, {"hint": f"name a SQLite file (default {DEFAULT_PATH}) or "
                                                                 "a database server's URL"}) from None
    return db


class DomainData(_Strict):
    # bundled names (engine data list --bundled) or imported series as store:SYMBOL@TF
    datasets: list[Annotated[str, AfterValidator(_dataset)]] = []
    primary: Timeframe
    confirm: Timeframe
    store: str = DEFAULT_STORE  # the folder `engine data import --store` wrote, for store: data sets
    # A hole in a series' traded bars longer than this is noted at the start (report.json data_gaps):
    # 4d is past the longest regular forex closure (a weekend with a holiday, 3 days), so closures
    # are not noted; a 24/7 market may set less. Out of model_dump, so out of the config digest a
    # resume compares (engine/run/checkpoint.py): it changes what the start says, no decision.
    note_gaps_over: Timeframe = Field("4d", exclude=True)


class StrategyUse(_Strict):
    # The strategy traded: the spec set's document named `spec` (what `engine validate` checked
    # with the rest of --specs), or a spec file `file` outside the set, which wins when given.
    spec: str | None
    file: str | None
    use: list[str] = Field(min_length=1)
    fit_fraction: float = Field(gt=0, lt=1)
    deadband: float = Field(ge=0)
    # specs/ml/allowlists.yaml entry checked before routing an entry; "auto": ml_filter's
    # while the ML filter is on, none otherwise; null: none. The name is checked against the run's
    # spec set (check_allowlist, once the run has checked it), never by reading the spec file here: a bad allowlists
    # file is the spec lint's to report, as `engine validate` does.
    allowlist: str | None = "auto"


class ModelRef(_Strict):
    tf: Timeframe | None = None  # the model's bar timeframe; None: the data set's own
    version: int | None = Field(None, ge=1)  # None: the registry's active version


def _active_set_file(path: str) -> str:
    """A file's name (strategies.ml.config.file_name_problem): "" would be read as the working folder."""
    from strategies.ml.config import file_name_problem

    problem = file_name_problem(path)
    if problem is not None:
        raise PydanticCustomError("file_name", "{what}", {"what": problem, "hint": "name the JSON file `engine "
                                                           "select` writes, or null for specs/ml/selection.yaml's "
                                                           "fallback_file"})
    return path


def _folder(path: str) -> str:
    """A folder's name: "" (or blanks) would be read as the working folder, its files written there."""
    if not path.strip():
        raise PydanticCustomError("folder_name", "names no folder (it is empty)",
                                  {"hint": "name the folder, e.g. runs or var/models; `.` if the working folder is meant"})
    return path


Folder = Annotated[str, AfterValidator(_folder)]


class MLFilter(_Strict):
    enabled: bool | Literal["auto"] = "auto"  # auto: on for symbols with an active registered model
    registry: Folder | None = None  # None: the spec set's `kind: ml` spec's registry_root (with_specs)
    symbols: dict[str, list[ModelRef]] = {}  # symbol -> models (several vote as an ensemble)
    exploration: bool = True
    # refuse: no judgement on a bar a model was trained on (its manifest's data.end); allow: judge it
    # anyway (a smoke test of the plumbing: its KPIs are in-sample, and the run says so)
    in_sample: Literal["refuse", "allow"] = "refuse"
    # `engine select`'s file a fresh run limits new entries to (engine/run/signals.py active_symbols);
    # None: specs/ml/selection.yaml's fallback_file, where no file means no selection was made
    active_set_file: Annotated[str, AfterValidator(_active_set_file)] | None = None


class RunConfig(_Strict):
    execution: Execution
    db: Annotated[str, AfterValidator(_store)]
    runs_dir: Folder
    env: str
    seed: int = Field(ge=0)  # numpy's SeedSequence takes no negative seed
    durability: Literal["full", "batch"]
    checkpoint_every: int = Field(ge=1)
    operator_wait_s: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    data: dict[Literal["crypto_spot", "crypto_perp", "forex", "forex_options"], DomainData]
    strategy: StrategyUse
    venue: dict[str, Any] = {}
    ml: MLFilter = MLFilter()


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _parse(text: str, file: str) -> tuple[Any, Any]:
    from engine.spec.yamlio import parse_yaml

    doc, diags = parse_yaml(text, file)
    if diags or doc is None:
        raise SpecError(diags)
    return doc.data, doc


def _venue_diagnostics(data: dict[str, Any], doc: Any) -> list[Diagnostic]:
    """The run config's `venue` section read as the paper venue's settings, so that a bad key or
    value is reported at its line (the run adds the seed, wallets and leverage caps later).
    Built here: the paper adapter's package imports numpy, which loading a config need not."""
    from adapters.paper.config import PaperConfig
    from engine.spec.models import validate

    venue = data.get("venue")
    if isinstance(venue, dict) and "starting_balance" in venue:  # one source: the rollout's apply_stage
        return [_error(doc.pos_of(["venue", "starting_balance"]),
                       "venue.starting_balance is not a run setting: each paper account starts at the rollout's "
                       "apply_stage argument `paper_wallet_usd` when its stage activates the domain",
                       "remove it; set the rollout parameter paper_wallet_usd (specs/rollout/rollout.yaml, or an "
                       "env or stage override) instead", "CONFIG_VENUE")]
    venue_check = create_model("VenueCheck", __config__=ConfigDict(extra="ignore"), venue=(PaperConfig, ...))
    return validate(venue_check, data, doc)[1]


def load_config(path: str | Path | None = None, *, strategy: bool = True) -> RunConfig:
    """The run config; `strategy=False` leaves out checking the strategy file, which only a run
    reads (from its own folder: an operator command given the config may be elsewhere)."""
    from engine.spec.models import validate

    text = resources.files("engine.run").joinpath(DEFAULTS).read_text(encoding="utf-8")
    data, doc = _parse(text, f"engine/run/{DEFAULTS}")
    if path is not None:
        user, doc = _parse(_read(Path(path)), str(path))
        _check_user_doc(user, doc)
        data = _merge(data, user or {})
    cfg, diags = validate(RunConfig, data, doc)
    if not diags:
        diags = _venue_diagnostics(data, doc) + (_check_strategy(cfg.strategy, doc) if strategy else [])
    if diags:
        raise SpecError(diags)
    diags = [d for dom, dd in cfg.data.items() for d in _check_datasets(dom, dd, doc)]
    if diags:
        raise SpecError(diags)
    diags = _check_pins(cfg, doc)
    if diags:
        raise SpecError(diags)
    return cfg


def _read(path: Path) -> str:
    """The config file's text; bytes that are not UTF-8 are an error at the first of them, as in a spec."""
    from engine.spec.yamlio import decode

    text, diags = decode(path.read_bytes(), str(path))
    if text is None:
        raise SpecError(diags)
    return text


def setting_pos(path: str | Path | None, keys: tuple[str, ...]) -> Any:
    """Where the run config sets `keys`: the user's file when it sets them, else the embedded defaults."""
    return _setting_doc(path, keys).pos_of(keys)


def _sets(data: Any, keys: tuple[str, ...]) -> bool:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True


def _check_pins(cfg: RunConfig, doc: Any) -> list[Diagnostic]:
    """Each symbol `ml.symbols` pins models for is one a data set of the run trades: a pin for
    another (a typo, ETH/BTX for ETH/BTC) would be ignored, and the symbol trade unfiltered."""
    from engine.data.sources import describe
    from engine.diagnostics import did_you_mean

    traded = sorted({describe(name, dd.store).symbol for dd in cfg.data.values() for name in dd.datasets})
    known = f"the run's data sets (data.<domain>.datasets) trade {', '.join(traded) or 'no symbol'}"
    return [_error(doc.key_pos_of(["ml", "symbols", symbol]),
                   f"ml.symbols pins models for {symbol}, which no data set of the run trades",
                   " ".join(filter(None, [did_you_mean(symbol, traded), known])), "CONFIG_ML")
            for symbol in cfg.ml.symbols if symbol not in traded]


def _check_user_doc(user: Any, doc: Any) -> None:
    """A user file is a mapping of the defaults' keys. (NaN, infinity and integers past 64 bits are
    refused with every spec's numbers, by engine.spec.models.validate.)"""
    if user is not None and not isinstance(user, dict):
        raise SpecError([Diagnostic(doc.pos_of(()), Severity.ERROR, "CONFIG_SHAPE",
                                    f"a run config is a mapping of keys, not a {_yaml_kind(user)}",
                                    "write `key: value` lines with the keys of engine/run/defaults.yaml, "
                                    "e.g. `seed: 7`")])


def _yaml_kind(value: Any) -> str:
    return "list" if isinstance(value, list) else "plain value" if isinstance(value, str) else type(value).__name__


def _check_strategy(use: StrategyUse, doc: Any) -> list[Diagnostic]:
    """The strategy file exists, is a valid strategy spec (validate's diagnostics, at its lines),
    and has an enabled entry for each name in `use`: found at load, not mid-fit."""

    from strategies.config import load_strategy_file

    if use.file is None:  # the spec set's document: checked once the specs are (with_specs)
        return [] if use.spec is not None else [_error(doc.pos_of(["strategy"]), "the strategy section names no "
                                                       "strategy", "give `spec` (a strategy spec's name in --specs, "
                                                       "e.g. seed003) or `file`", "CONFIG_STRATEGY")]
    file = Path(use.file)
    if not file.is_file():
        from engine.spec.shipped import elsewhere

        what = "is a directory" if file.is_dir() else "does not exist"
        return [_error(doc.pos_of(["strategy", "file"]), f"strategy file {use.file} {what}",
                       elsewhere(file) or "name a strategy spec (kind: strategy), e.g. specs/strategies/seed003.yaml; "
                       "a relative path is read from the folder engine run runs in", "CONFIG_STRATEGY")]
    # A bad file raises SpecError with the very diagnostics `engine validate` prints for it.
    return _check_entries(use, use.file, load_strategy_file(file), doc)


def _check_entries(use: StrategyUse, where: str, strategy: Any, doc: Any) -> list[Diagnostic]:
    """An enabled entry of the strategy spec `strategy` (at `where`) for each name in `use`."""
    from engine.diagnostics import did_you_mean

    entries = {e.id: e for e in strategy.strategies}
    out = []
    for i, name in enumerate(use.use):
        entry = entries.get(name)
        asked = doc.pos_of(["strategy", "use", i])
        if entry is None:
            hint = (did_you_mean(name, [k for k, e in entries.items() if e.enabled])
                    or f"its enabled entries: {', '.join(k for k, e in entries.items() if e.enabled)}")
            out.append(_error(asked, f"strategy file {where} has no entry `{name}`", hint, "CONFIG_STRATEGY"))
        elif not entry.enabled:  # reported where it was disabled: the edit to undo, most likely
            out.append(_error(_enabled_pos(where, strategy.strategies.index(entry)),
                              f"`{name}` is disabled here, and the run config's `strategy.use` trades it "
                              f"({asked.file}:{asked.line}:{asked.col})",
                              f"set `enabled: true`, or leave `{name}` out of `strategy.use` in a run config "
                              "(--config FILE)", "CONFIG_STRATEGY"))
    return out


def _enabled_pos(where: str, index: int) -> Any:
    """Where the strategy file `where` sets its entry `index`'s `enabled`: the key, as a value
    written through an alias (`enabled: *off`) has the position of its anchor."""
    from engine.spec.yamlio import parse_yaml

    doc, _ = parse_yaml(_read(Path(where)), where)  # valid: the spec loader has read it
    return doc.key_pos_of(["strategies", index, "enabled"])


def with_specs(cfg: RunConfig, path: str | Path | None, specs: Any) -> RunConfig:
    """`cfg` with what it leaves to the spec set named outright: the strategy file it trades
    (_with_strategy) and its model registry (`ml.registry`, else the set's ML spec's
    registry_root, where `engine train ml` writes): the config digest a resume compares then
    holds what the run used, so a registry_root edited under a stopped run is a config change,
    not other models loaded under the same names."""
    cfg = _with_strategy(cfg, path, specs)
    if cfg.ml.registry is not None:
        return cfg
    return cfg.model_copy(update={"ml": cfg.ml.model_copy(update={"registry": spec_registry_root(specs)})})


def spec_registry_root(specs: Any) -> str:
    """The registry_root of the spec set's `kind: ml` spec (the schema's default without one)."""
    from strategies.ml.config import MLConfig

    docs = [specs.extra[n] for n, kind in sorted(specs.extra_kinds.items()) if kind == "ml"]
    return (docs[0] if docs else MLConfig()).registry_root


def _with_strategy(cfg: RunConfig, path: str | Path | None, specs: Any) -> RunConfig:
    """`cfg` with `strategy.file` the file it trades: its own `file`, else the file of the spec
    set's strategy document `strategy.spec` (so `--specs DIR` trades DIR's strategy, as it runs
    DIR's machines and risk). SpecError at the config's line when the set has no such document,
    or the document lacks an entry `use` names."""
    use = cfg.strategy
    if use.file is not None:
        return cfg
    kinds = specs.extra_kinds
    known = sorted(n for n, k in kinds.items() if k == "strategy")
    if kinds.get(use.spec) != "strategy":
        from engine.diagnostics import did_you_mean

        hint = did_you_mean(use.spec, known) or (f"its strategy specs: {', '.join(known)}" if known else
                                                 "add a strategy spec (kind: strategy) to --specs, as "
                                                 "specs/strategies/seed003.yaml")
        raise SpecError([_error(_setting_doc(path, ("strategy", "spec")).pos_of(["strategy", "spec"]),
                                f"the spec set has no strategy spec `{use.spec}`", hint, "CONFIG_STRATEGY")])
    where = specs.extra_pos[use.spec].file
    diags = _check_entries(use, where, specs.extra[use.spec], _setting_doc(path, ("strategy", "use")))
    if diags:
        raise SpecError(diags)
    return cfg.model_copy(update={"strategy": use.model_copy(update={"file": where})})


def _setting_doc(path: str | Path | None, keys: tuple[str, ...]) -> Any:
    """The parsed config document that sets `keys`: the user's file when it does, else the defaults."""
    from engine.spec.yamlio import parse_yaml

    if path is not None:
        doc, _ = parse_yaml(_read(Path(path)), str(path))
        if doc is not None and _sets(doc.data, keys):
            return doc
    return parse_yaml(resources.files("engine.run").joinpath(DEFAULTS).read_text(encoding="utf-8"),
                      f"engine/run/{DEFAULTS}")[0]


def check_allowlist(cfg: RunConfig, path: str | Path | None, known: Collection[str]) -> None:
    """SpecError unless `strategy.allowlist` names an entry of the spec set's allowlists document
    (`known`), at its line in the file that sets it: checked once the specs are, so that a bad
    allowlists file is reported by the spec lint, as `engine validate` reports it."""
    name = cfg.strategy.allowlist
    if name in (None, "auto") or name in known:
        return
    text = resources.files("engine.run").joinpath(DEFAULTS).read_text(encoding="utf-8")
    doc = _parse(text, f"engine/run/{DEFAULTS}")[1]
    if path is not None:
        user, user_doc = _parse(_read(Path(path)), str(path))
        if (user or {}).get("strategy", {}).get("allowlist") is not None:
            doc = user_doc
    raise SpecError([_unknown_allowlist(name, known, doc)])


def _unknown_allowlist(name: str, known: Collection[str], doc: Any) -> Diagnostic:
    from engine.diagnostics import did_you_mean

    hint = (did_you_mean(name, known) or (f"its entries: {', '.join(known)}" if known else "")
            or "add the entry to the spec set's allowlists document (kind: allowlists)")
    return _error(doc.pos_of(["strategy", "allowlist"]),
                  f"unknown allowlist `{name}`: the spec set's allowlists (specs/ml/allowlists.yaml) has no such entry",
                  f"{hint} (`auto`: ml_filter's while the ML filter is on; null: none)", "CONFIG_STRATEGY")


def _check_datasets(dom: str, dd: DomainData, doc: Any) -> list[Diagnostic]:
    """Each data set exists (a store: one in its store), trades in this domain, and its bars
    make the domain's primary and confirmation timeframes: found at load, not mid-run."""
    from engine.data.sources import SourceError, describe
    from engine.data.timeframes import tf_seconds

    from adapters.paper.catalogue import Catalogue

    at = ["data", dom]
    out = _check_confirm(dd, doc, at)
    cat = Catalogue.load()  # once: what each data set's symbol is (its kind, its quote currency)
    quotes: dict[str, str] = {}  # quote currency -> the first data set quoting in it
    seen: dict[str, tuple[int, str]] = {}  # symbol -> the first data set of it (index, name)
    for i, name in enumerate(dd.datasets):
        try:
            src = describe(name, dd.store)
        except SourceError as e:
            out.append(_error(doc.pos_of([*at, "datasets", i]), str(e), e.hint or ""))
            continue
        if src.symbol in seen:
            out.append(_listed_twice(src.symbol, name, seen[src.symbol], doc.pos_of([*at, "datasets", i])))
            continue
        seen[src.symbol] = (i, name)
        lifecycle = _undriven_lifecycle(src.symbol, cat)
        if lifecycle:
            out.append(_error(doc.pos_of([*at, "datasets", i]), f"{name}: {src.symbol} {lifecycle}",
                              "leave it out of the run's data sets: its roll, expiry and settlement would not happen"))
        quote = cat.get(src.symbol).quote if src.symbol in cat else None
        if quote is not None and quotes and quote not in quotes:
            first, other = next(iter(quotes.items()))
            out.append(_error(doc.pos_of([*at, "datasets", i]), f"{name} quotes in {quote}, but {other} quotes "
                              f"in {first}: {dom}'s one wallet counts one currency",
                              "trade symbols of another quote currency in a run of their own"))
        elif quote is not None:
            quotes.setdefault(quote, name)
        if src.domain is None:
            out.append(_error(doc.pos_of([*at, "datasets", i]),
                              f"{name}: {src.symbol} is not in adapters/paper/contracts.yaml",
                              f"add its contract there (domain: {dom}, kind, tick, step, min_notional)"))
        elif src.domain.value != dom:
            out.append(_error(doc.pos_of([*at, "datasets", i]), f"{name}: {src.symbol} trades in "
                              f"{src.domain.value}, not {dom}", "list it under its own domain (the contract "
                              "catalogue, adapters/paper/contracts.yaml, says which)"))
        for key in ("primary", "confirm"):
            tf = getattr(dd, key)
            if tf_seconds(tf) % tf_seconds(src.tf):
                out.append(_error(doc.pos_of([*at, key]), f"cannot make {tf} bars from {name}'s {src.tf} bars",
                                  f"use a whole multiple of {src.tf}"))
    return out


def _listed_twice(symbol: str, name: str, first: tuple[int, str], pos: Any) -> Diagnostic:
    """A symbol's second data set: the run keys its series, venue, books and positions by symbol,
    so two series of one symbol would feed one book two bar streams (the venue refuses the second
    mid-start, after the last run was archived)."""
    j, first_name = first
    return _error(pos, f"{symbol} is listed twice: {name} here, and datasets[{j}] ({first_name}) loads it already",
                  f"keep one data set of {symbol}: a run trades each symbol from one series")


def _check_confirm(dd: DomainData, doc: Any, at: list) -> list[Diagnostic]:
    """The confirmation timeframe is not coarser than the primary: the loop confirms a primary
    signal with the direction of the last confirmation bar closed by then (engine/run/decide.py),
    which seed 001 takes from a finer timeframe (crypto 15m/5m, forex 1h/15m); a coarser one is a
    swapped pair: its last closed bar can be older than the primary bar it is meant to confirm."""
    from engine.data.timeframes import tf_seconds

    if tf_seconds(dd.confirm) <= tf_seconds(dd.primary):
        return []
    return [_error(doc.pos_of([*at, "confirm"]), f"confirm: {dd.confirm} is coarser than primary: {dd.primary}",
                   f"the confirmation timeframe is the finer one: swap them (primary: {dd.confirm}, "
                   f"confirm: {dd.primary}), as seed 001 pairs 15m with 5m and 1h with 15m")]


# Instruments whose life past an entry and exit has a machine of its own, which `engine run`
# does not drive yet: trading one would skip its rules (the DTE gate, the roll, settlement).
_LIFECYCLES = {"future": "specs/orders/futures_roll.yaml", "option": "specs/orders/option_expiry.yaml"}


def _undriven_lifecycle(symbol: str, cat: Any) -> str:
    """Why a run must not trade `symbol` (its kind's lifecycle machine is not driven), or ""."""
    kind = cat.get(symbol).kind if symbol in cat else None
    spec = _LIFECYCLES.get(kind or "")
    return f"is a {kind}: engine run does not drive its lifecycle ({spec}) yet" if spec else ""


def _error(pos: Any, message: str, hint: str, code: str = "CONFIG_DATA") -> Diagnostic:
    return Diagnostic(pos, Severity.ERROR, code, message, hint)
