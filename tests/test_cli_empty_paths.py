"""An empty path (`--store "$STORE"` with STORE never set) is a usage error, not the current
folder or the option's default: the command would act on what nobody named. $ENGINE_CACHE_DIR
empty is unset, since the cache is always safe to drop and a `validate/` folder in whatever
folder is current is not."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.spec import cache

SPECS = str(Path(__file__).resolve().parents[1] / "specs")


@pytest.mark.parametrize("argv", [
    ["validate", ""],
    ["docs", "", "--out", "x"],
    ["docs", SPECS, "--out", ""],
    ["run", "--stage", "1", "--config", ""],
    ["run", "--stage", "1", "--run-dir", ""],
    ["run", "--stage", "1", "--specs", ""],
    ["status", "--config", ""],
    ["kill", "--mode", "close-only", "--specs", " "],
    ["data", "list", "--store", ""],
    ["select", "--out", ""],
    ["select", "--registry", ""],
    ["train", "ml", "--symbol", "ETH/BTC", "--tf", "5m", "--store", ""],
    ["train", "ml", "--symbol", "ETH/BTC", "--tf", "5m", "--registry", ""],
    ["train", "ml", "--symbol", "ETH/BTC", "--tf", "5m", "--data", ""],  # trained on the bundled default
    ["select", "--data", "store:ETH/BTC@5m", ""],
], ids=lambda argv: " ".join(a or "''" for a in argv))
def test_an_empty_path_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture, argv: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert "an empty path names nothing" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing made where the command stood


def test_an_empty_cache_dir_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENGINE_CACHE_DIR", "")
    assert cache._dir() == cache.ROOT / "var" / "cache" / "validate"
    monkeypatch.setenv("ENGINE_CACHE_DIR", "/elsewhere")
    assert cache._dir() == Path("/elsewhere/validate")
