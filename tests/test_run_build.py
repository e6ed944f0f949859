"""engine/run/build.py: the digest of the engine's code a run stores (kv run/engine). It must not
fail on what an editor leaves beside the code, and must not change for the same code elsewhere."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.run import build


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of one package, as the digest's ROOT."""
    shutil.copytree(build.ROOT / "state", tmp_path / "state", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(build, "ROOT", tmp_path)
    monkeypatch.setattr(build, "PACKAGES", ("state",))
    return tmp_path


def digest() -> str:
    build.code_digest.cache_clear()
    return build.code_digest()


def test_an_editor_s_hidden_files_are_not_the_build_and_do_not_fail_it(checkout: Path) -> None:
    """Emacs keeps `.#store.py`, a dangling link, while a buffer has unsaved edits: `engine status`
    and `engine kill` (after posting) died of a FileNotFoundError reading it."""
    before = digest()
    (checkout / "state" / ".#store.py").symlink_to("nobody@host.1234:1700000000")
    assert digest() == before


def test_a_file_that_cannot_be_read_is_a_change_not_an_error(checkout: Path) -> None:
    before = digest()
    (checkout / "state" / "gone.py").symlink_to(checkout / "nowhere.py")
    assert digest() != before


def test_the_same_code_elsewhere_digests_alike_and_an_edit_does_not(checkout: Path, tmp_path_factory,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    here = digest()
    other = tmp_path_factory.mktemp("elsewhere")
    shutil.copytree(checkout / "state", other / "state")
    monkeypatch.setattr(build, "ROOT", other)
    assert digest() == here
    (other / "state" / "store.py").write_text((other / "state" / "store.py").read_text() + "\n# edited\n")
    assert digest() != here
