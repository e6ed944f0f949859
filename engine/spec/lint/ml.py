"""ML_UNKNOWN_NAME: a name in an ML spec that no other spec defines, so its rule never applies.

An allowlist's `sessions: [eu, usa]` allows no entry in the `usa` session (specs/ml/regime.yaml
has none by that name), `assets: [crypto_spt]` no entry in any domain, and exploration's
`chop_regimes: [RANGES]` never raises the rate in chop: each validated clean and the run refused
entries, or explored less, without a word. Regimes are the model's to check (their names are
fixed in strategies/ml/config.py); sessions come from the set's regime document, assets are the
domains and the paper venue's contracts (an allowlist may name either), read as YAML with
positions like engine/spec/lint/rates.py does. A set without the document a name refers to
(a test's few specs) has those names unchecked rather than all wrong.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Collection, Iterator

from engine.diagnostics import Diagnostic, did_you_mean
from engine.domain import Domain
from engine.spec.ir import SpecSet
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context
from engine.spec.yamlio import parse_yaml

CODE = "ML_UNKNOWN_NAME"
ANY = "*"  # an allowlist's "everything in this dimension"


def check_specset(cx: Context) -> Iterator[Diagnostic]:
    specset = cx.specset
    for name, kind in specset.extra_kinds.items():
        if kind == "allowlists":
            yield from _allowlists(specset, name)
        elif kind == "exploration":
            yield from _exploration(specset, name)


def _allowlists(specset: SpecSet, name: str) -> Iterator[Diagnostic]:
    doc = _doc(specset, name)
    if doc is None:
        return
    sessions, assets = _sessions(specset), _assets()
    meant = "so it never matches, and entries in the {} meant are refused"
    for strategy, allow in specset.extra[name].strategies.items():
        at = ("strategies", strategy)
        if sessions is not None:
            file, known = sessions
            yield from _unknown(doc, (*at, "sessions"), allow.sessions, known, "session",
                                f"{file} defines {', '.join(sorted(known))}, {meant.format('session')}", ANY)
        if assets is not None:
            yield from _unknown(doc, (*at, "assets"), allow.assets, assets, "asset",
                                f"neither a domain nor a contract of adapters/paper/contracts.yaml, "
                                f"{meant.format('asset')}", ANY)


def _exploration(specset: SpecSet, name: str) -> Iterator[Diagnostic]:
    from strategies.ml.config import REGIMES

    doc = _doc(specset, name)
    if doc is not None:  # no wildcard here: strategies/exploration.py matches regimes by name only
        yield from _unknown(doc, ("chop_regimes",), specset.extra[name].chop_regimes, REGIMES, "regime",
                            f"the regimes are {', '.join(REGIMES)}, so the chop rate never applies "
                            "to the regime meant", None)


def _unknown(doc: Any, at: tuple, names: list[str], known: Collection[str], what: str, why: str,
             wildcard: str | None) -> Iterator[Diagnostic]:
    """A finding at each item of the list at `at` that is neither the wildcard nor in `known`."""
    for i, value in enumerate(names):
        if value == wildcard or value in known:
            continue
        hint = did_you_mean(value, known) or f"name one of {', '.join(sorted(known))}"
        also = f" (`{wildcard}` allows every {what})" if wildcard else ""
        yield diag(doc.pos_of((*at, i)), CODE, f"unknown {what} `{value}`: {why}", hint + also)


def _doc(specset: SpecSet, name: str) -> Any:
    """The document's YAML with positions (None: its file cannot be read now)."""
    pos = specset.extra_pos.get(name)
    if pos is None:
        return None
    try:
        doc, problems = parse_yaml(Path(pos.file).read_text(encoding="utf-8"), pos.file)
    except (OSError, UnicodeDecodeError):
        return None  # the loader read it a moment ago; nothing to point at now
    return None if problems else doc


def _sessions(specset: SpecSet) -> tuple[str, frozenset[str]] | None:
    """The set's regime document's file and session names; None without one."""
    names = [n for n, kind in specset.extra_kinds.items() if kind == "regime"]
    if not names:
        return None
    pos = specset.extra_pos.get(names[0])
    return (pos.file if pos else "the regime spec"), frozenset(specset.extra[names[0]].sessions)


def _assets() -> frozenset[str] | None:
    """Domains and the paper venue's contract symbols; None when the catalogue cannot be read
    (CONTRACT_NO_RATE says so)."""
    from engine.spec import files  # looked up now: tests point contracts_path elsewhere

    try:
        path = files.contracts_path()
        doc, problems = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, ModuleNotFoundError):
        return None
    if doc is None or problems or not isinstance(doc.data, dict):
        return None
    return frozenset({*(d.value for d in Domain), *map(str, doc.data)})
