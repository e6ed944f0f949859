"""Spec files -> the IR (engine/spec/ir.py), with every problem as a positioned diagnostic.

`load_specs` never raises on bad input: a file with errors is left out of the
SpecSet and its diagnostics are returned; an unexpected exception while loading
one file becomes an INTERNAL diagnostic for that file, and the others still load.
"""
from __future__ import annotations

import errno
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from engine.diagnostics import Diagnostic, Pos, Severity, SpecError, did_you_mean
from engine.spec import documents
from engine.spec.bounds import Bounds, typed_bounds
from engine.spec.durations import looks_like_duration, parse_duration
from engine.spec.files import CATALOGUE, spec_files
from engine.spec.ir import (ActionRef, Catalogue, CatalogueEntry, Check, Command, ContextVar, Event,
                            Expr, Input, Machine, Overrides, Param, SpecSet, State, Timer,
                            Transition, Unloaded, frozen_map)
from engine.spec.yamlio import YamlDoc, decode, parse_yaml

MACHINE_KINDS = ("rollout", "orders", "gates", "kill")
BUILTIN_KINDS = MACHINE_KINDS + ("catalogue", "overrides")
FOLDER_KINDS = MACHINE_KINDS + ("overrides",)  # kinds that must live in specs/<kind>/
SPECS_ROOT = "specs"
_PARAM_REF = re.compile(r"\s*params\.([A-Za-z_][A-Za-z0-9_]*)\s*")
_TOP_KEY = r"^{}:[ \t]*[\"']?([A-Za-z0-9_.-]+)"


def _err(pos: Pos, code: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(pos, Severity.ERROR, code, message, hint)


# --- finding files ---------------------------------------------------------------

def _folder_problem(path: Path, kind: str, pos: Pos) -> Diagnostic | None:
    """SPEC_KIND_FOLDER when `kind` contradicts where the file lives: the kind folders between it
    and its tree's root (a folder named `specs`, or one holding catalogue.yaml), not the folders
    above the root, which are the user's (a copy of the specs under ~/tries/kill/mine)."""
    folder, under_specs = None, False
    if kind == "catalogue":  # it marks its tree's root: only its own folder can be wrong
        folder = path.resolve().parent.name
        if folder not in FOLDER_KINDS:
            return None
        return _err(pos, "SPEC_KIND_FOLDER", f"a catalogue does not belong in `{folder}/`",
                    "move it to specs/catalogue.yaml")
    for d in path.resolve().parents:
        if d.name == SPECS_ROOT or (d / CATALOGUE).is_file():
            under_specs = True
            break
        if folder is None and d.name in FOLDER_KINDS:
            folder = d.name
    if kind not in FOLDER_KINDS or folder == kind or (folder is None and not under_specs):
        return None
    where = f"its folder `{folder}/`" if folder else "a folder outside the kind folders"
    return _err(pos, "SPEC_KIND_FOLDER", f"kind `{kind}` does not match {where}",
                f"move the file to specs/{kind}/ or correct `kind`")


# --- one file --------------------------------------------------------------------

@dataclass
class _Loaded:
    """What one file contributed (at most one of these is set)."""

    machine: Machine | None = None
    catalogue: Catalogue | None = None
    overrides: Overrides | None = None
    extra: tuple[str, Any, Pos, str] | None = None  # name, document, position, kind
    diags: list[Diagnostic] = field(default_factory=list)
    unloaded: Unloaded | None = None  # set when the file failed to load


def _failed(path: Path, diags: list[Diagnostic], text: str | None) -> _Loaded:
    """A file left out of the set (fail closed), with what its text says it would define, so
    that references to it are not also reported as unresolved."""
    def top(key: str) -> str | None:
        m = re.search(_TOP_KEY.format(key), text or "", flags=re.M)
        return m.group(1) if m else None

    kind = top("kind")
    kind = kind if kind in BUILTIN_KINDS + tuple(documents.DOCUMENT_KINDS) else None
    name = top("name") or (path.stem if kind in documents.DOCUMENT_KINDS else None)
    return _Loaded(diags=diags, unloaded=Unloaded(str(path), kind, name))


_UNREADABLE = {  # what stands in a spec file's place, and what to do about it
    errno.EISDIR: "a folder is named like a spec file: rename it so that it does not end in .yaml or .yml",
    errno.ELOOP: "the link leads back to itself: point it at the spec file it stands for, or remove it",
    errno.ENOENT: "the link leads nowhere: point it at an existing spec file, or remove it",
    errno.EACCES: "the file may not be read: give this user read permission",
}


def load_file(path: Path) -> _Loaded:
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        return _failed(path, [_err(Pos(file, 1, 1), "SPEC_UNREADABLE", f"cannot read the file: {e.strerror}",
                                   _UNREADABLE.get(e.errno, "make it a readable file, or move it out of the spec folder"))],
                       None)
    text, diags = decode(raw, file)
    if text is None:
        return _failed(path, diags, raw.decode("utf-8", errors="replace"))
    doc, diags = parse_yaml(text, file)
    if doc is None:
        return _failed(path, diags, text)
    loaded = _from_doc(doc, path, raw)
    loaded.diags = diags + [d for d in loaded.diags if d.pos not in {y.pos for y in diags}]
    if loaded.diags:  # any error leaves the file out: fail closed
        return _failed(path, loaded.diags, text)
    return loaded


def _kind(doc: YamlDoc) -> tuple[str | None, list[Diagnostic]]:
    data = doc.data
    if not isinstance(data, dict):
        return None, [_err(doc.pos_of(()), "SCHEMA_TYPE", "a spec file must be a mapping with a `kind`",
                           "start with e.g. `kind: kill`")]
    if "kind" not in data:
        return None, [_err(doc.pos_of(()), "SCHEMA_MISSING", "missing required key `kind`",
                           f"one of: {', '.join(BUILTIN_KINDS + tuple(documents.DOCUMENT_KINDS))}")]
    kind = data["kind"]
    known = BUILTIN_KINDS + tuple(documents.DOCUMENT_KINDS)
    if not isinstance(kind, str) or kind not in known:
        hint = did_you_mean(str(kind), known) or f"one of: {', '.join(known)}"
        return None, [_err(doc.pos_of(("kind",)), "SCHEMA_VALUE", f"unknown kind `{kind}`", hint)]
    return kind, []


def _from_doc(doc: YamlDoc, path: Path, raw: bytes) -> _Loaded:
    from engine.spec import models  # pydantic: only once there is something to validate

    kind, diags = _kind(doc)
    if kind is None:
        return _Loaded(diags=diags)
    folder = _folder_problem(path, kind, doc.pos_of(("kind",)))
    diags = [folder] if folder else []
    if kind in documents.DOCUMENT_KINDS:
        model = documents.document_model(kind)
        obj, errs = models.validate(model, documents.prepare(model, _without_set_by_engine(kind, doc.data)), doc)
        name = doc.data.get("name")
        name = name if isinstance(name, str) else path.stem
        pos = doc.pos_of(("name",)) if "name" in doc.data else doc.pos_of(())
        return _Loaded(extra=(name, obj, pos, kind), diags=diags + errs + _set_by_engine(kind, doc))
    obj, errs = models.validate(models.model_for_kind(kind), doc.data, doc)
    diags += errs
    if obj is None:
        return _Loaded(diags=diags)
    if kind == "catalogue":
        return _Loaded(catalogue=_catalogue(obj, doc), diags=diags)
    if kind == "overrides":
        return _Loaded(overrides=_overrides(obj, doc), diags=diags)
    builder = _MachineBuilder(doc)
    machine = builder.machine(obj, hashlib.sha256(raw).hexdigest()[:16])
    return _Loaded(machine=machine, diags=diags + builder.diags)


def _without_set_by_engine(kind: str, data: Any) -> Any:
    """The document without the keys `_set_by_engine` reports, so the schema does not report them twice."""
    from engine.spec.contract import SET_BY_ENGINE

    taken = SET_BY_ENGINE.get(kind, {})
    return {k: v for k, v in data.items() if k not in taken} if taken and isinstance(data, dict) else data


def _set_by_engine(kind: str, doc: YamlDoc) -> list[Diagnostic]:
    """ENGINE_CONTRACT for a key the engine takes from elsewhere: written here it is silently ignored."""
    from engine.spec.contract import SET_BY_ENGINE

    return [_err(doc.key_pos_of((key,)), "ENGINE_CONTRACT", f"`{key}` of a `kind: {kind}` document is not read: "
                 f"the engine takes it from {source}", f"delete it here; set {source} instead")
            for key, source in SET_BY_ENGINE.get(kind, {}).items() if key in doc.data]


# --- IR builders -----------------------------------------------------------------

def _catalogue(m: Any, doc: YamlDoc) -> Catalogue:
    def entries(role: str, section: dict[str, Any]) -> dict[str, CatalogueEntry]:
        key = role + "s"
        return {n: CatalogueEntry(n, role, e.provider, doc.key_pos_of((key, n)), e.description,  # type: ignore[arg-type]
                                  *_catalogue_args(e.args, lambda a, n=n: doc.key_pos_of((key, n, "args", a))),
                                  tuple(e.kinds))
                for n, e in section.items()}

    return Catalogue(frozen_map(entries("guard", m.guards)), frozen_map(entries("action", m.actions)),
                     doc.file)


def _catalogue_args(args: dict[str, Any], pos_of: Any) -> tuple[Mapping[str, str], Mapping[str, Bounds],
                                                                  Mapping[str, Pos]]:
    """(arg -> type name, arg -> bounds, arg -> position) of an entry's `args`: a type name, or
    `{type, min, max}`. Bounds are kept for every argument whose values have a range (a declared
    `min`/`max`, a fraction's 0..1): the linter and the run check values against them."""
    types, bounds = {}, {}
    for name, decl in args.items():
        lo, hi = (None, None) if isinstance(decl, str) else (decl.min, decl.max)
        types[name] = decl if isinstance(decl, str) else decl.type
        if lo is not None or hi is not None or types[name] == "fraction":
            bounds[name] = typed_bounds(types[name], lo, hi)
    return frozen_map(types), frozen_map(bounds), frozen_map({a: pos_of(a) for a in args})


def _overrides(m: Any, doc: YamlDoc) -> Overrides:
    positions = {}
    for machine, values in m.values.items():
        positions[machine] = doc.key_pos_of(("values", machine))
        for param in values:
            positions[f"{machine}.{param}"] = doc.key_pos_of(("values", machine, param))
    values = {k: frozen_map(v) for k, v in m.values.items()}
    return Overrides(m.scope, m.key, frozen_map(values), doc.pos_of(()), doc.file, frozen_map(positions),
                     doc.pos_of(("key",)))


class _MachineBuilder:
    """Builds one Machine from a validated model, using the YAML positions of `doc`."""

    def __init__(self, doc: YamlDoc):
        self.doc = doc
        self.diags: list[Diagnostic] = []
        self.params: dict[str, Param] = {}
        self.states: dict[str, dict[str, Any]] = {}  # name -> State kwargs, in document order

    def machine(self, m: Any, spec_hash: str) -> Machine:
        doc = self.doc
        self.params = {n: self.param(n, p) for n, p in m.parameters.items()}
        self.walk_states(m.states, ("states",), None)
        return Machine(
            kind=m.kind, name=m.name, version=m.version, description=m.description,
            path=doc.file, spec_hash=spec_hash, pos=doc.pos_of(("name",)),
            params=frozen_map(self.params),
            context=frozen_map({n: ContextVar(n, c.type, c.default, doc.key_pos_of(("context", n)))
                                for n, c in m.context.items()}),
            inputs=frozen_map({n: Input(n, frozen_map(i.fields), doc.key_pos_of(("inputs", n)), i.description)
                               for n, i in m.inputs.items()}),
            events=frozen_map({n: self.event(n, e) for n, e in m.events.items()}),
            states=frozen_map({n: State(**kw) for n, kw in self.states.items()}),
            transitions=tuple(self.transition(i, t) for i, t in enumerate(m.transitions)),
            checks=tuple(self.check(i, c) for i, c in enumerate(m.checks)),
            commands=frozen_map({n: Command(n, c.event, doc.key_pos_of(("commands", n)), c.description)
                                 for n, c in m.commands.items()}),
            broadcasts=tuple(m.broadcasts), ignores=tuple(m.ignores),
        )

    def param(self, name: str, p: Any) -> Param:
        path = ("parameters", name)
        bounds = [self.bound(p, path + (b,), getattr(p, b)) for b in ("min", "max")]
        return Param(name, p.type, p.default, self.doc.key_pos_of(path), p.unit, p.description, *bounds)

    def bound(self, p: Any, path: tuple[Any, ...], value: Any) -> float | None:
        if not isinstance(value, str):
            return None if value is None else float(value)
        if p.type == "duration":
            try:
                return parse_duration(value)
            except ValueError as e:
                self.diags.append(_err(self.doc.pos_of(path), "SCHEMA_VALUE", str(e)))
                return None
        self.diags.append(_err(self.doc.pos_of(path), "SCHEMA_TYPE",
                               f"`{path[-1]}` of a {p.type} parameter must be a number, not `{value}`"))
        return None

    def event(self, name: str, e: Any) -> Event:
        pos = self.doc.key_pos_of(("events", name))
        if e is None:
            return Event(name, pos)
        return Event(name, pos, e.description, frozen_map(e.payload), e.sampled)

    def walk_states(self, states: dict[str, Any], path: tuple[Any, ...], parent: str | None) -> tuple[str, ...]:
        names = []
        for name, s in states.items():
            spath = path + (name,)
            pos = self.doc.key_pos_of(spath)
            if name in self.states:
                first = self.states[name]["pos"]
                self.diags.append(_err(pos, "DUPLICATE_ID", f"state `{name}` is already defined",
                                       f"first defined at line {first.line}; state names are unique "
                                       "across the whole machine"))
                continue
            names.append(name)
            self.states[name] = kw = {"name": name, "pos": pos, "parent": parent}
            if s is None:
                continue
            kw["children"] = self.walk_states(s.states, spath + ("states",), name)
            kw.update(description=s.description, initial=s.initial, final=s.final,
                      tags=frozenset(s.tags), ignores=tuple(s.ignores), entry=self.actions(s.entry, spath + ("entry",)),
                      exit=self.actions(s.exit, spath + ("exit",)), timers=self.timers(s.after, spath))
            if getattr(s, "gate", None) is not None:
                kw["gate"] = s.gate
            if getattr(s, "domains", None):
                kw["attrs"] = frozen_map({"domains": frozen_map(s.domains)})
            if getattr(s, "measures", None):
                kw["attrs"] = frozen_map({"measures": s.measures})
        return tuple(names)

    def timers(self, after: Any, spath: tuple[Any, ...]) -> tuple[Timer, ...]:
        if after is None:
            return ()
        if isinstance(after, list):
            return tuple(self.timer(t, spath + ("after", i)) for i, t in enumerate(after))
        return (self.timer(after, spath + ("after",)),)

    def timer(self, t: Any, path: tuple[Any, ...]) -> Timer:
        return Timer(t.event, t.delay, self.doc.pos_of(path), self.delay_seconds(t.delay, path + ("delay",)))

    def delay_seconds(self, delay: str, path: tuple[Any, ...]) -> float | None:
        if looks_like_duration(delay):
            try:
                return parse_duration(delay)
            except ValueError as e:
                self.diags.append(_err(self.doc.pos_of(path), "SCHEMA_VALUE", str(e)))
                return None
        ref = _PARAM_REF.fullmatch(delay)
        param = self.params.get(ref.group(1)) if ref else None
        if param is None or param.type != "duration" or not isinstance(param.default, str):
            return None  # an expression: evaluated at run time; the linter checks its names
        try:
            return parse_duration(param.default)
        except ValueError:
            return None  # reported by check_overrides as PARAM_BOUNDS

    def expr(self, value: Any, path: tuple[Any, ...]) -> Expr:
        source = value if isinstance(value, str) else repr(value)
        return Expr(source, self.doc.content_pos_of(path))

    def actions(self, items: list[Any], path: tuple[Any, ...]) -> tuple[ActionRef, ...]:
        out = []
        for i, item in enumerate(items):
            ipath = path + (i,)
            if isinstance(item, str):
                out.append(ActionRef(item, self.doc.pos_of(ipath)))
                continue
            (name, args), = item.items()
            apath = ipath + (name,)
            if name == "raise":
                exprs = {"event": self.expr(args, apath)}
            else:
                exprs = {k: self.expr(v, apath + (k,)) for k, v in (args or {}).items()}
            out.append(ActionRef(name, self.doc.key_pos_of(apath), frozen_map(exprs)))
        return tuple(out)

    def transition(self, i: int, t: Any) -> Transition:
        path = ("transitions", i)
        sources = _names(t.source)
        guard = None if t.guard is None else self.expr(t.guard, path + ("guard",))
        return Transition(i, t.event, sources, t.target, self.doc.pos_of(path), guard,
                          self.actions(t.actions, path + ("actions",)), t.priority, t.description)

    def check(self, i: int, c: Any) -> Check:
        (kind,) = c.model_fields_set
        args, pos = getattr(c, kind), self.doc.pos_of(("checks", i))
        if kind == "must_act":
            return Check(kind, (args.event,), pos, _names(args.source), args.action, args.target)
        if kind == "never_widens":
            tighter = self.expr(args.tighter, ("checks", i, kind, "tighter"))
            return Check(kind, (args.field,), pos, _names(args.source), tighter=tighter, exempt=tuple(args.exempt))
        return Check(kind, _names(args), pos)


def _names(value: str | list[str]) -> tuple[str, ...]:
    """A name or a list of names (StrOrList), as a tuple."""
    return tuple(value) if isinstance(value, list) else (value,)


# --- the set ---------------------------------------------------------------------

def load_specs(paths: Sequence[str | Path]) -> tuple[SpecSet, list[Diagnostic]]:
    """Load every spec under `paths` into one SpecSet; never raises on bad input."""
    files, diags = spec_files(paths)
    loaded: list[_Loaded] = []
    for f in files:
        try:
            one = load_file(f)
        except Exception as e:  # noqa: BLE001 - one broken file must not hide the others' problems
            one = _failed(f, [_err(Pos(str(f), 1, 1), "INTERNAL",
                                   f"unexpected error while loading: {type(e).__name__}: {e}",
                                   "this is a bug in the loader; please report it with the file")], None)
        diags += one.diags
        loaded.append(one)
    specset, set_diags = _assemble(loaded)
    return specset, diags + set_diags


def _assemble(loaded: list[_Loaded]) -> tuple[SpecSet, list[Diagnostic]]:
    diags: list[Diagnostic] = []
    machines: dict[str, Machine] = {}
    extra: dict[str, tuple[Any, Pos, str]] = {}
    guards: dict[str, CatalogueEntry] = {}
    actions: dict[str, CatalogueEntry] = {}
    cat_path = ""
    for one in loaded:
        if one.machine:
            _add_unique(machines, one.machine.name, one.machine, one.machine.pos, "machine",
                        lambda m: m.pos, diags)
        if one.extra:
            name, obj, pos, kind = one.extra
            _add_unique(extra, name, (obj, pos, kind), pos, "document", lambda e: e[1], diags)
        if one.catalogue:
            cat_path = cat_path or one.catalogue.path
            for n, e in one.catalogue.guards.items():
                _add_unique(guards, n, e, e.pos, "guard", lambda x: x.pos, diags)
            for n, e in one.catalogue.actions.items():
                _add_unique(actions, n, e, e.pos, "action", lambda x: x.pos, diags)
    specset = SpecSet(
        machines=frozen_map(machines),
        catalogue=Catalogue(frozen_map(guards), frozen_map(actions), cat_path),
        overrides=tuple(one.overrides for one in loaded if one.overrides),
        extra=frozen_map({n: obj for n, (obj, _, _) in extra.items()}),
        extra_kinds=frozen_map({n: kind for n, (_, _, kind) in extra.items()}),
        extra_pos=frozen_map({n: pos for n, (_, pos, _) in extra.items()}),
        unloaded=tuple(one.unloaded for one in loaded if one.unloaded),
    )
    return specset, diags


def _add_unique(into: dict[str, Any], name: str, value: Any, pos: Pos, what: str,
                pos_of: Any, diags: list[Diagnostic]) -> None:
    if name in into:
        first = pos_of(into[name])
        diags.append(_err(pos, "DUPLICATE_ID", f"{what} `{name}` is already defined",
                          f"first defined at {first}; names are unique across specs/"))
        return
    into[name] = value


def load_machine(path: str | Path) -> Machine:
    """The one machine in `path`; raises SpecError with the diagnostics when it has problems."""
    specset, diags = load_specs([path])
    if diags:
        raise SpecError(diags)
    if len(specset.machines) != 1:
        raise SpecError([_err(Pos(str(path), 1, 1), "SCHEMA_VALUE", "this file does not hold a machine",
                              f"`kind` must be one of: {', '.join(MACHINE_KINDS)}")])
    return next(iter(specset.machines.values()))
