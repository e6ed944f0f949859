"""Versioned model registry: <root>/symbol=<S>/<tf>/v<N>/{model.json, manifest.json, oos_trades.json}.

<S> is the symbol percent-encoded as in the data store (symbol=ETH%2FBTC), one folder per
symbol: the former folder name (ETH_BTC) was shared by ETH/BTC, ETH_BTC and ETH-BTC, so one
could load another's model. A folder under the former name (which never holds '=') is still
used by the symbol its index names.

A model is always loaded BY VERSION. Versions and the active one are recorded
in <root>/<symbol>/<tf>/index.json and, when a state store is given (anything
with put_json/get_json, e.g. state.store.Store), under the kv key
"ml/active/<root>/<symbol>/<tf>" too. When both name an active version and they
differ (one was activated without the other), neither is taken: a RegistryError. Nothing here
picks "the newest file on disk". Without an active version, `load` refuses
(fail closed). Writes go to a temporary name and are renamed into place, so a
crash never leaves a half-written version behind. A registry file that cannot be read, or a
version folder the index does not know (a crash between the two), is a RegistryError naming the
file and what to do, never a guess.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol
from urllib.parse import quote, unquote

from engine.zones import utc


class RegistryError(LookupError):
    """A registry file that cannot be used: the message names it, the hint says what to do."""

    def __init__(self, path: Path, what: str, hint: str):
        self.path, self.what, self.hint = path, what, hint
        super().__init__(f"{path}: {what}; {hint}")


def _read_json(path: Path, what: str, hint: str) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:  # missing, unreadable, not JSON (JSONDecodeError is a ValueError)
        raise RegistryError(path, f"cannot read the {what}: {getattr(e, 'strerror', None) or e}", hint) from None


class KV(Protocol):
    def put_json(self, key: str, value: Any) -> None: ...
    def get_json(self, key: str) -> Any: ...


def slug(symbol: str) -> str:
    """A symbol's folder name, one per symbol: 'XRP/USDT:USDT' -> 'symbol=XRP%2FUSDT%3AUSDT'
    (the prefix also keeps '.' and '..' from naming the root or its parent)."""
    return "symbol=" + quote(symbol, safe="")


def _former_slug(symbol: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", symbol).strip("_")


def _indexed_symbol(folder: Path) -> str | None:
    index = folder / "index.json"
    return _checked_index(index).get("symbol") if index.exists() else None


_INDEX_HINT = ("it lists the model line's versions and the active one; restore it from a backup, or move the "
               "folder aside and train again (engine train ml)")


def _checked_index(path: Path) -> dict[str, Any]:
    index = _read_json(path, "model index", _INDEX_HINT)
    if not (isinstance(index, dict) and isinstance(index.get("versions"), list)
            and all(isinstance(v, int) for v in index["versions"])
            and (index.get("active") is None or isinstance(index.get("active"), int))):
        raise RegistryError(path, "not a model index (it needs `versions`: a list of numbers, and `active`)",
                            _INDEX_HINT)
    if index.get("active") is not None and index["active"] not in index["versions"]:
        raise RegistryError(path, f"the active version v{index['active']} is not one of its versions "
                            f"{index['versions']}", _INDEX_HINT)
    return index


def _version_folders(base: Path) -> list[int]:
    """The version numbers of the v<N> folders in a model line's folder."""
    return [int(p.name[1:]) for p in base.glob("v*") if p.name[1:].isdigit() and p.is_dir()]


def frame_hash(*frames: Any) -> str:
    """sha256 over the rows, index and column names of pandas frames (the training data)."""
    import pandas as pd

    h = hashlib.sha256()
    for f in frames:
        h.update(",".join(map(str, f.columns)).encode())
        h.update(pd.util.hash_pandas_object(f, index=True).to_numpy().tobytes())
    return h.hexdigest()


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=str))
    os.replace(tmp, path)


@dataclass(frozen=True)
class LoadedModel:
    symbol: str
    tf: str
    version: int
    booster: Any
    manifest: dict[str, Any]

    @property
    def features(self) -> list[str]:
        return list(self.manifest["features"])

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"])


class ModelRegistry:
    def __init__(self, root: str | Path = "var/models", store: KV | None = None,
                 clock: Callable[[], float] | None = None):
        self.root = Path(root)
        self.store = store
        self.clock = clock or (lambda: datetime.now(timezone.utc).timestamp())

    # -- paths and index ------------------------------------------------------------------
    def _dir(self, symbol: str, tf: str) -> Path:
        path = self.root / slug(symbol) / tf
        former = self.root / _former_slug(symbol) / tf
        # Models registered before the folder name was injective stay where they are.
        if not path.exists() and _indexed_symbol(former) == symbol:
            return former
        return path

    def _index(self, symbol: str, tf: str, registering: bool = False) -> dict[str, Any]:
        """`registering`: a missing index beside version folders (a crash between a line's first
        version and its index, or an index lost) starts a new one; a reader refuses it."""
        path = self._dir(symbol, tf) / "index.json"
        if not path.exists():
            if not registering and _version_folders(path.parent):  # no guess at which is active
                raise RegistryError(path, f"missing, while {path.parent} holds model versions",
                                    "restore it from a backup, or train a new version (engine train ml): it starts "
                                    "a new index, numbered past the folders there")
            return {"symbol": symbol, "tf": tf, "versions": [], "active": None}
        return _checked_index(path)

    def _store_key(self, symbol: str, tf: str) -> str:
        return f"ml/active/{self.root.resolve()}/{symbol}/{tf}"  # two registries never share a record

    def versions(self, symbol: str, tf: str) -> list[int]:
        return list(self._index(symbol, tf)["versions"])

    def active_version(self, symbol: str, tf: str) -> int | None:
        indexed = self._index(symbol, tf)["active"]
        value = self.store.get_json(self._store_key(symbol, tf)) if self.store is not None else None
        stored = int(value["version"]) if value is not None else None
        if stored is not None and indexed is not None and stored != indexed:
            raise RegistryError(self._dir(symbol, tf) / "index.json",
                                f"{symbol} {tf}: the index says v{indexed} is active, the state store v{stored} (one "
                                "was activated without the other)",
                                "pin the version you mean in the run config's ml.symbols, or train and activate "
                                "one with the store given (engine train ml ... --activate --state DB)")
        return stored if stored is not None else indexed

    def entries(self) -> Iterator[tuple[str, str]]:
        """(symbol, tf) for every model line that has an index."""
        for index in sorted(self.root.glob("*/*/index.json")):
            data = _checked_index(index)
            yield data.get("symbol", unquote(index.parents[1].name.removeprefix("symbol="))), \
                data.get("tf", index.parent.name)

    # -- writing --------------------------------------------------------------------------
    def register(self, symbol: str, tf: str, booster: Any, manifest: dict[str, Any],
                 oos_trades: dict[str, list] | None = None, activate: bool = False) -> int:
        """Store a new version (v = last registered + 1) and return its number."""
        base = self._dir(symbol, tf)
        base.mkdir(parents=True, exist_ok=True)
        index = self._index(symbol, tf, registering=True)
        # Past any version folder too: one a crash left unindexed must not be renamed over (that fails).
        on_disk = _version_folders(base)
        version = max([*index["versions"], *on_disk], default=0) + 1
        created = utc(self.clock()).isoformat()
        full = {**manifest, "symbol": symbol, "tf": tf, "version": version, "created_at": created}
        tmp = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=base))
        booster.save_model(str(tmp / "model.json"))
        _write_json(tmp / "manifest.json", full)
        _write_json(tmp / "oos_trades.json", oos_trades or {"ts": [], "side": [], "ret": []})
        os.replace(tmp, base / f"v{version}")
        index["versions"].append(version)
        _write_json(base / "index.json", index)
        if activate:
            self.activate(symbol, tf, version)
        return version

    def first_version(self, symbol: str, tf: str) -> bool:
        """Whether a version registered now would be the first its index lists. Raises now, before
        a training, what register() would: a damaged index, a store activation it contradicts."""
        index = self._index(symbol, tf, registering=True)
        if index["versions"]:
            self.active_version(symbol, tf)
        return not index["versions"]

    def activate(self, symbol: str, tf: str, version: int) -> None:
        index = self._index(symbol, tf)
        if version not in index["versions"]:
            raise LookupError(f"{symbol} {tf}: no version v{version} (have {index['versions']})")
        index["active"] = version
        _write_json(self._dir(symbol, tf) / "index.json", index)
        if self.store is not None:
            self.store.put_json(self._store_key(symbol, tf), {"version": version})

    # -- reading --------------------------------------------------------------------------
    def manifest(self, symbol: str, tf: str, version: int) -> dict[str, Any]:
        path = self.manifest_path(symbol, tf, version)
        found = _read_json(path, "model manifest", self._retrain(symbol, tf))
        if not isinstance(found, dict):
            raise RegistryError(path, "not a model manifest (a JSON object)", self._retrain(symbol, tf))
        from strategies.ml.manifest import manifest_problem

        problem = manifest_problem(found)
        if problem is not None:
            raise RegistryError(path, f"not a usable model manifest: {problem}", self._retrain(symbol, tf))
        return found

    def manifest_path(self, symbol: str, tf: str, version: int) -> Path:
        return self._dir(symbol, tf) / f"v{version}" / "manifest.json"

    def oos_trades(self, symbol: str, tf: str, version: int) -> dict[str, list]:
        path = self._dir(symbol, tf) / f"v{version}" / "oos_trades.json"
        return _read_json(path, "model's out-of-sample trades", self._retrain(symbol, tf))

    @staticmethod
    def _retrain(symbol: str, tf: str) -> str:
        return (f"train a new version (engine train ml --symbol {symbol} --tf {tf} --activate), or pin "
                "another in the run config's ml.symbols")

    def load(self, symbol: str, tf: str, version: int | None = None) -> LoadedModel:
        """The given version, or the recorded active one; never a guess."""
        if version is None:
            version = self.active_version(symbol, tf)
            if version is None:
                raise LookupError(f"{symbol} {tf}: no active model version (train one, then activate it)")
        if version not in self.versions(symbol, tf):
            raise LookupError(f"{symbol} {tf}: version v{version} is not registered")
        from strategies.ml.model import _xgb

        manifest = self.manifest(symbol, tf, version)
        path = self._dir(symbol, tf) / f"v{version}" / "model.json"
        xgb = _xgb()
        booster = xgb.Booster(params={"nthread": 1})
        try:
            booster.load_model(str(path))
        except xgb.core.XGBoostError as e:  # missing, truncated, not a model
            why = str(e).strip().splitlines()[0][:200]
            raise RegistryError(path, f"cannot load the model: {why}", self._retrain(symbol, tf)) from None
        return LoadedModel(symbol, tf, version, booster, manifest)
