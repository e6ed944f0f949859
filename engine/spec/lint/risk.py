"""RISK_LIMIT_UNREAD: a risk limit the spec sets and nothing enforces; RISK_GUARD_UNUSED: a
guard the engine provides that the chain leaves out (one a RISK_LIMIT_UNREAD names is left to it);
RISK_SHORT_SPOT: shorting allowed in a domain whose markets sell only what is held, so every short
entry the chain lets through is refused by the venue.

A limit is enforced by the guards of the chain that read it (each declares its reads in
engine/risk/guards.py) or by the run itself (engine/risk/config.py RUN_READS: the engine's
exits, the venue's margin). Dropping `max_concurrent` from `guards:` left
`max_concurrent_positions: 1` in the spec, validated clean, and the run held two positions:
the spec said one thing and the run did another. Only the risk documents are read here (the
key's position is taken from the file, which the IR does not keep per key).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

from engine.diagnostics import Diagnostic, Pos
from engine.domain import SELLS_ONLY_HELD
from engine.risk.config import RUN_READS, Reader, RiskConfig
from engine.risk.guards import GUARDS, READS
from engine.spec.lint._base import diag
from engine.spec.lint._context import Context
from engine.spec.validation import REQUIRED_DOCUMENTS
from engine.spec.yamlio import YamlDoc, parse_yaml

CODE = "RISK_LIMIT_UNREAD"
GUARD_CODE = "RISK_GUARD_UNUSED"
SPOT_CODE = "RISK_SHORT_SPOT"
SIZE_CODE = "RISK_SIZE_OVER_CAP"
UNREAD_DOC_CODE = "RISK_DOC_UNREAD"
KIND = "risk"
RUN_NAME = next(name for kind, name, _ in REQUIRED_DOCUMENTS if kind == KIND)  # the one `engine run` reads


def check_specset(cx: Context) -> Iterator[Diagnostic]:
    specset = cx.specset
    for name, kind in specset.extra_kinds.items():
        pos = specset.extra_pos.get(name)
        if kind == KIND and pos is not None:
            if name != RUN_NAME:
                yield diag(pos, UNREAD_DOC_CODE, f"risk document `{name}` is never read: `engine run` reads only the "
                           f"one named `{RUN_NAME}`, so nothing here sizes or guards an entry",
                           f"merge it into `{RUN_NAME}` or delete it")
            yield from check(specset.extra[name], pos.file)


def check(config: RiskConfig, file: str) -> Iterator[Diagnostic]:
    """Each `limits` key written in `file` that neither a guard of `config.guards` nor the run reads."""
    try:
        doc, problems = parse_yaml(Path(file).read_text(encoding="utf-8"), file)
    except (OSError, UnicodeDecodeError):
        return  # the loader read it a moment ago; nothing to point at now
    written = doc.data.get("limits") if doc is not None and not problems and isinstance(doc.data, dict) else None
    if not isinstance(written, dict):
        return
    chain = {key for g in config.guards for key in READS.get(g, ())}
    limits = config.limits
    named: set[str] = set()  # the guards a finding's hint already says to add
    for key, value in written.items():
        reader = RUN_READS.get(key)
        if key in chain or value in ({}, None) or (reader is not None and reader.when(limits)):
            continue
        guards = [g for g, reads in READS.items() if key in reads]
        named.update(guards)
        yield _finding(doc.key_pos_of(("limits", key)), key, guards, reader)
    left_out = [g for g in GUARDS if g not in config.guards and g not in named]
    if left_out and isinstance(doc.data.get("guards"), list):
        yield _left_out(doc.key_pos_of(("guards",)), left_out)
    yield from _short_spot(doc, config)
    yield from _size_over_cap(doc, config)


def _size_over_cap(doc: YamlDoc, config: RiskConfig) -> Iterator[Diagnostic]:
    """RISK_SIZE_OVER_CAP: a size the sizing section makes that the chain's exposure cap rejects
    whole (guards reject, they do not shrink an entry): the base size at the ladder's top step, or
    a canary size over the base (the canary is meant to be the smaller)."""
    sizing, limits = config.sizing, config.limits
    if not isinstance(doc.data.get("sizing"), dict):
        return
    top = max((s.multiplier for s in sizing.ladder.steps), default=1.0)
    top = min(max(top, 1.0, sizing.ladder.clamp[0]), sizing.ladder.clamp[1])
    full = sizing.base_size_pct * top
    if full >= limits.exposure_pair_pct and "exposure_pair" in config.guards:
        yield diag(doc.key_pos_of(("sizing", "base_size_pct")), SIZE_CODE,
                   f"base_size_pct {sizing.base_size_pct:g} x the ladder's top multiplier {top:g} is {full:.2%} of "
                   f"equity, not under limits.exposure_pair_pct {limits.exposure_pair_pct:.2%}: the chain rejects such "
                   "an entry whole (exposure_pair), so a domain stops trading once its profit reaches that step",
                   "lower base_size_pct or the top step's multiplier, or raise exposure_pair_pct")
    if sizing.canary.size_pct > sizing.base_size_pct:
        yield diag(doc.key_pos_of(("sizing", "canary", "size_pct")), SIZE_CODE,
                   f"canary.size_pct {sizing.canary.size_pct:g} is over base_size_pct {sizing.base_size_pct:g}: a new "
                   "domain's canary trades larger than the domain will once it is proven (seed 001: 2% against 5%)",
                   "make the canary size the smaller")


def _short_spot(doc: YamlDoc, config: RiskConfig) -> Iterator[Diagnostic]:
    """RISK_SHORT_SPOT at each `true` for a domain that sells only what it holds."""
    allowed = config.limits.short_allowed
    for domain in sorted(SELLS_ONLY_HELD, key=lambda d: d.value):
        if allowed.get(domain.value) and isinstance(doc.data["limits"].get("short_allowed"), dict):
            yield diag(doc.pos_of(("limits", "short_allowed", domain.value)), SPOT_CODE,
                       f"short_allowed lets {domain.value} entries go short, but its markets are spot: a venue sells "
                       "only what is held, so it refuses every short entry the chain lets through",
                       f"write `{domain.value}: false`")


def _finding(pos: Pos, key: str, guards: list[str], idle: Reader | None) -> Diagnostic:
    by = f" ({', '.join(guards)})" if guards else ""
    also = f"; {idle.what} reads it only {idle.only}" if idle else ""
    add = " or ".join(f"`- {g}`" for g in guards)
    hint = (f"add {add} to the chain under `guards:`, or remove the limit: as it is, the run does not enforce it"
            if guards else "remove the limit: as it is, the run does not enforce it")
    return diag(pos, CODE, f"limits.{key} is set but no guard in the chain reads it{by}{also}", hint)


def _left_out(pos: Pos, guards: list[str]) -> Diagnostic:
    """RISK_GUARD_UNUSED: guards the engine provides that the chain leaves out. Those reading no
    limit (min_size, wallet_available, active_symbol) gave no other sign of being gone: the run
    then sends entries below the venue's minimum, beyond the free cash, or off the active set."""
    names = ", ".join(f"`{g}`" for g in guards)
    return diag(pos, GUARD_CODE, f"the chain leaves out {names} (engine/risk/guards.py): the run does not apply "
                f"{'it' if len(guards) == 1 else 'them'} to any entry",
                f"add {' and '.join(f'`- {g}`' for g in guards)} under `guards:`, unless entries are meant to pass "
                f"unchecked by {'it' if len(guards) == 1 else 'them'}")
