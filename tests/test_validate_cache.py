"""engine validate reuses a result only while no spec and no validator source changed."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _validate(specs: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ENGINE_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "engine.cli", "validate", str(specs), *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_hit_prints_what_a_miss_printed_and_an_edit_invalidates(tmp_path: Path) -> None:
    specs, cache = tmp_path / "specs", tmp_path / "cache"
    shutil.copytree(ROOT / "specs", specs)
    first = _validate(specs, cache)
    assert first.returncode == 0 and len(list((cache / "validate").glob("*.json"))) == 1
    again = _validate(specs, cache)
    assert (again.returncode, again.stdout) == (first.returncode, first.stdout)

    kill = specs / "kill" / "kill_modes.yaml"
    kill.write_text(kill.read_text().replace("target: cooldown", "target: cooldwn", 1))
    broken = _validate(specs, cache)
    assert broken.returncode == 1 and "did you mean `cooldown`?" in broken.stdout
    assert _validate(specs, cache).stdout == broken.stdout  # the error is cached too, exactly
    assert len(list((cache / "validate").glob("*.json"))) == 2


def test_no_cache_never_reads_or_writes(tmp_path: Path) -> None:
    out = _validate(ROOT / "specs", tmp_path, "--no-cache")
    assert out.returncode == 0 and not (tmp_path / "validate").exists()


@pytest.mark.parametrize("source", ["engine/spec/files.py",
                                    "rl/__init__.py"])  # the lint asks whether rl.actions provides an action
def test_a_changed_validator_source_is_a_miss(tmp_path: Path, source: str, monkeypatch) -> None:
    from engine.spec import cache

    # On a copy of the sources: touching the checkout's own made every key computed meanwhile, by
    # a test on the other worker, differ (its expected cache hit became a miss).
    for pkg in cache.CODE:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    files = sorted((ROOT / "specs").rglob("*.yaml"))
    before = cache.key(files)
    src = tmp_path / source
    stat = src.stat()
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert cache.key(files) != before


def test_an_editor_s_lock_link_beside_a_source_is_no_traceback(tmp_path: Path, monkeypatch) -> None:
    """Emacs keeps `.#files.py`, a dangling link, while a buffer has unsaved edits: the key's stat()
    of it made `engine validate` a FileNotFoundError traceback."""
    from engine.spec import cache

    for pkg in cache.CODE:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    files = sorted((ROOT / "specs").rglob("*.yaml"))
    before = cache.key(files)
    (tmp_path / "engine/spec/.#files.py").symlink_to("nobody@host.1234:1700000000")
    assert cache.key(files) == before
    (tmp_path / "engine/spec/gone.py").symlink_to(tmp_path / "nowhere.py")  # one that is no editor's: a miss
    assert cache.key(files) != before


def test_an_unreadable_contract_catalogue_is_an_error_and_restoring_it_is_a_miss(tmp_path, monkeypatch) -> None:
    """The cache key reads every file it covers: a missing (or folder) adapters/paper/contracts.yaml
    must not be a traceback but an error at the file (no run could load it), cached or not."""
    from engine.commands.validate import validate
    from engine.spec import files as spec_files

    monkeypatch.setenv("ENGINE_CACHE_DIR", str(tmp_path / "cache"))
    catalogue = tmp_path / "contracts.yaml"
    monkeypatch.setattr(spec_files, "contracts_path", lambda: catalogue)
    for make in (lambda: None, catalogue.mkdir):
        make()
        for _ in range(2):  # a miss, then a hit
            diags = validate([str(ROOT / "specs")], use_cache=True)[0]
            assert [(d.severity.value, d.message.startswith("cannot read the contract catalogue"))
                    for d in diags] == [("error", True)], diags
    catalogue.rmdir()
    shutil.copy(ROOT / "adapters" / "paper" / "contracts.yaml", catalogue)
    assert not any("cannot read" in d.message for d in validate([str(ROOT / "specs")], use_cache=True)[0])


def test_a_hit_imports_neither_the_linter_nor_pydantic(tmp_path: Path) -> None:
    """The point of the cache is the edit-validate loop: a hit that imported the linter (and with it
    pydantic and every spec model) cost nearly what a miss did (713 ms against 895 ms, QA D4)."""
    probe = ("import sys\nfrom engine.cli import main\nrc = main(['validate', 'specs'])\n"
             "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'ruamel')"
             " or m.startswith(('engine.spec.lint', 'engine.spec.loader', 'engine.spec.models'))))")
    env = {**os.environ, "ENGINE_CACHE_DIR": str(tmp_path)}
    run = lambda: subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True,
                                 text=True, timeout=120)
    miss = run().stdout.splitlines()[-1]
    assert miss.startswith("0 [") and "pydantic" in miss, miss  # the probe sees a miss's imports
    hit = run()
    assert hit.stdout.splitlines()[-1] == "0 []", hit.stdout + hit.stderr


def test_the_same_file_in_another_kind_folder_is_a_miss(tmp_path: Path) -> None:
    """The key held the path as given and the bytes: `m.yaml` (kind orders) checked in orders/ was
    cached as OK, and the same bytes under kill/ got that OK (SPEC_KIND_FOLDER unreported)."""
    text = ("kind: orders\nname: m\nversion: 1\nevents: {go: {}}\nstates:\n  a: {initial: true}\n"
            "  b: {final: true}\ntransitions:\n  - {event: go, source: a, target: b}\n")
    for kind in ("orders", "kill"):
        (tmp_path / kind).mkdir()
        (tmp_path / kind / "m.yaml").write_text(text)
    env = {**os.environ, "ENGINE_CACHE_DIR": str(tmp_path / "cache")}
    done = [subprocess.run([sys.executable, "-m", "engine.cli", "validate", "m.yaml"], cwd=tmp_path / kind,
                           env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
            for kind in ("orders", "kill")]
    assert done[0].returncode == 0, done[0].stdout
    assert done[1].returncode == 1 and "SPEC_KIND_FOLDER" in done[1].stdout


def test_what_stands_in_a_spec_files_place_and_cannot_be_read_is_an_error(tmp_path: Path) -> None:
    """A dangling link, a link loop or a folder named like a spec file was left out without a word:
    `engine validate` passed and the run went on without the override it replaced."""
    specs, cache = tmp_path / "specs", tmp_path / "cache"
    shutil.copytree(ROOT / "specs", specs)
    overrides = specs / "overrides"
    (overrides / "env_paper.yaml").unlink()
    (overrides / "env_paper.yaml").symlink_to(tmp_path / "gone.yaml")
    (overrides / "a.yaml").symlink_to("b.yaml")
    (overrides / "b.yaml").symlink_to("a.yaml")
    (overrides / "folder.yaml").mkdir()
    for extra in ((), ("--no-cache",)):
        out = _validate(specs, cache, *extra)
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        for name, why in (("env_paper", "No such file or directory"), ("a", "Too many levels of symbolic links"),
                          ("b", "Too many levels of symbolic links"), ("folder", "Is a directory")):
            assert f"{overrides / name}.yaml:1:1: error SPEC_UNREADABLE cannot read the file: {why}" in out.stdout


def test_another_writer_s_temporary_file_does_not_stop_a_save(tmp_path: Path, monkeypatch) -> None:
    """Two validators saving one key at once (an editor's and a shell's, two test workers) each
    write a temporary file of their own: what stands at the other's name is not touched."""
    from engine.spec import cache

    monkeypatch.setenv("ENGINE_CACHE_DIR", str(tmp_path))
    (tmp_path / "validate" / "k.tmp").mkdir(parents=True)  # in the way of a shared temporary name
    cache.save("k", [], 3)
    assert cache.load("k") == ([], 3)
    assert sorted(p.name for p in (tmp_path / "validate").iterdir()) == ["k.json", "k.tmp"]
