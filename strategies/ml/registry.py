"""Versioned model registry: <root>/symbol=<S>/<tf>/v<N>/{model.json, manifest.json, oos_trades.json}.

<S> is the symbol percent-encoded as in the data store (symbol=ETH%2FBTC), one folder per
symbol: the former folder name (ETH_BTC) was shared by ETH/BTC, ETH_BTC and ETH-BTC, so one
could load another's model. A folder under the former name (which never holds '=') is still
used by the symbol its index names.

A model is always loaded BY VERSION. Versions and the active one are recorded
in <root>/<symbol>/<tf>/index.json and, when a state store is given (anything
with put_json/get_json, e.g. state.store.Store), under the kv key
"ml/active/<symbol>/<tf>" too; the store wins when both exist. Nothing here
picks "the newest file on disk". Without an active version, `load` refuses
(fail closed). Writes go to a temporary name and are renamed into place, so a
crash never leaves a half-written version behind.
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
from urllib.parse import quote


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
    return json.loads(index.read_text())["symbol"] if index.exists() else None


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

    def _index(self, symbol: str, tf: str) -> dict[str, Any]:
        path = self._dir(symbol, tf) / "index.json"
        if not path.exists():
            return {"symbol": symbol, "tf": tf, "versions": [], "active": None}
        return json.loads(path.read_text())

    def _store_key(self, symbol: str, tf: str) -> str:
        return f"ml/active/{symbol}/{tf}"

    def versions(self, symbol: str, tf: str) -> list[int]:
        return list(self._index(symbol, tf)["versions"])

    def active_version(self, symbol: str, tf: str) -> int | None:
        if self.store is not None:
            value = self.store.get_json(self._store_key(symbol, tf))
            if value is not None:
                return int(value["version"])
        return self._index(symbol, tf)["active"]

    def entries(self) -> Iterator[tuple[str, str]]:
        """(symbol, tf) for every model line that has an index."""
        for index in sorted(self.root.glob("*/*/index.json")):
            data = json.loads(index.read_text())
            yield data["symbol"], data["tf"]

    # -- writing --------------------------------------------------------------------------
    def register(self, symbol: str, tf: str, booster: Any, manifest: dict[str, Any],
                 oos_trades: dict[str, list] | None = None, activate: bool = False) -> int:
        """Store a new version (v = last registered + 1) and return its number."""
        base = self._dir(symbol, tf)
        base.mkdir(parents=True, exist_ok=True)
        index = self._index(symbol, tf)
        version = max(index["versions"], default=0) + 1
        created = datetime.fromtimestamp(self.clock(), tz=timezone.utc).isoformat()
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
        return json.loads((self._dir(symbol, tf) / f"v{version}" / "manifest.json").read_text())

    def oos_trades(self, symbol: str, tf: str, version: int) -> dict[str, list]:
        return json.loads((self._dir(symbol, tf) / f"v{version}" / "oos_trades.json").read_text())

    def load(self, symbol: str, tf: str, version: int | None = None) -> LoadedModel:
        """The given version, or the recorded active one; never a guess."""
        if version is None:
            version = self.active_version(symbol, tf)
            if version is None:
                raise LookupError(f"{symbol} {tf}: no active model version (train one, then activate it)")
        if version not in self.versions(symbol, tf):
            raise LookupError(f"{symbol} {tf}: version v{version} is not registered")
        from strategies.ml.model import _xgb

        booster = _xgb().Booster(params={"nthread": 1})
        booster.load_model(str(self._dir(symbol, tf) / f"v{version}" / "model.json"))
        return LoadedModel(symbol, tf, version, booster, self.manifest(symbol, tf, version))
