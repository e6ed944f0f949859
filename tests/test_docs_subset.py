"""`engine docs PATH` for part of a spec tree: the pages render from the whole tree (so the
overrides in specs/overrides still show), only the pages of PATH are written or checked, and
nothing else is deleted. (It used to render PATH alone: `engine docs specs/kill` deleted every
other page and emptied kill_modes' overrides column; an empty folder wiped every page, exit 0.)"""
from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest

from engine.cli import main

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "specs"


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the committed pages, with the repo as the working folder (paths as a user types them)."""
    monkeypatch.chdir(ROOT)
    return Path(shutil.copytree(COMMITTED, tmp_path / "docs"))


def _same_tree(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*.md"))
    return files == sorted(p.relative_to(b).as_posix() for p in b.rglob("*.md")) and \
        not filecmp.cmpfiles(a, b, files, shallow=False)[1]


def test_a_subfolder_rewrites_its_pages_with_overrides_and_deletes_nothing(out: Path, capsys) -> None:
    (out / "kill" / "kill_modes.md").write_text("edited by hand")
    assert main(["docs", "specs/kill", "--out", str(out)]) == 0
    assert "wrote 1 page to" in capsys.readouterr().out  # not "1 pages" (QA D9)
    assert _same_tree(out, COMMITTED)  # the other pages kept, kill_modes' overrides column filled
    assert "stage 2: `0.03`" in (out / "kill" / "kill_modes.md").read_text()


def test_check_of_a_subfolder_checks_its_pages_only_and_notes_the_rest(out: Path, capsys) -> None:
    (out / "index.md").write_text("stale")
    (out / "old.md").write_text("a page for a deleted spec")
    assert main(["docs", "--check", "specs/kill", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "kill_modes" not in err and "index.md, old.md" in err and "`engine docs`" in err
    (out / "kill" / "kill_modes.md").write_text("stale")
    assert main(["docs", "--check", "specs/kill/kill_modes.yaml", "--out", str(out)]) == 1
    assert "kill/kill_modes.md: stale: out of date" in capsys.readouterr().err


@pytest.mark.parametrize("path", ["empty", "specs/ml"])
def test_a_path_with_no_machine_spec_is_refused_and_writes_nothing(path: str, out: Path, tmp_path: Path,
                                                                 capsys) -> None:
    (tmp_path / "empty").mkdir()
    given = str(tmp_path / path) if path == "empty" else path
    assert main(["docs", given, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and given in err and "no machine spec" in err
    assert _same_tree(out, COMMITTED)


def test_the_whole_tree_still_prunes_the_pages_of_deleted_specs(out: Path, capsys) -> None:
    (out / "old.md").write_text("a page for a deleted spec")
    assert main(["docs", "--check", "--out", str(out)]) == 1
    assert main(["docs", "specs", "--out", str(out)]) == 0
    assert _same_tree(out, COMMITTED)
