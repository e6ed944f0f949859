"""Each symbol has its own registry folder: `ETH/BTC`, `ETH_BTC` and `ETH-BTC` once shared
`ETH_BTC/`, so one symbol could load another's model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies.ml.registry import ModelRegistry, slug


class Booster:
    """Only what register() calls: the model file's content does not matter here."""

    def save_model(self, path: str) -> None:
        Path(path).write_text("{}")


def manifest(threshold: float) -> dict:
    """What a run reads from a manifest (strategies/ml/manifest.py), no more."""
    return {"features": ["f"], "threshold": threshold, "labels": {},
            "metrics": {"overall": {"precision": 0.5, "brier": 0.25}}}


def test_symbols_that_differ_only_in_punctuation_keep_apart(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    reg.register("ETH/BTC", "5m", Booster(), manifest(0.5), activate=True)
    reg.register("ETH_BTC", "5m", Booster(), manifest(0.6))
    assert reg.versions("ETH-BTC", "5m") == []
    assert (reg.versions("ETH/BTC", "5m"), reg.versions("ETH_BTC", "5m")) == ([1], [1])
    assert reg.manifest("ETH_BTC", "5m", 1)["symbol"] == "ETH_BTC"
    assert reg.active_version("ETH_BTC", "5m") is None
    with pytest.raises(LookupError, match="no active model"):
        reg.load("ETH_BTC", "5m")
    assert sorted(reg.entries()) == [("ETH/BTC", "5m"), ("ETH_BTC", "5m")]


@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12))
def test_slug_is_injective_and_one_safe_path_segment(a: str, b: str) -> None:
    assert (slug(a) == slug(b)) == (a == b)
    assert "/" not in slug(a) and slug(a) not in (".", "..")


def test_a_model_registered_under_the_old_folder_name_still_loads(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    reg.register("ETH/BTC", "5m", Booster(), manifest(0.5), activate=True)
    (tmp_path / slug("ETH/BTC")).rename(tmp_path / "ETH_BTC")  # the layout before the fix
    assert reg.active_version("ETH/BTC", "5m") == 1 and reg.manifest("ETH/BTC", "5m", 1)["threshold"] == 0.5
    assert reg.versions("ETH_BTC", "5m") == []  # the old folder belongs to the symbol its index names
    assert reg.register("ETH/BTC", "5m", Booster(), manifest(0.7)) == 2
    assert json.loads((tmp_path / "ETH_BTC" / "5m" / "index.json").read_text())["versions"] == [1, 2]
