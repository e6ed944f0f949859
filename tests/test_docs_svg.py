"""engine docs --svg: the DOT drawing nests compound states, and --check knows a stale or orphaned SVG."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.docs.dot import dot_source
from engine.spec.loader import load_specs
from tests.test_docs import _NESTED, _tree

ROOT = Path(__file__).resolve().parents[1]


def _engine(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_compound_states_are_clusters_entered_at_their_start_point(tmp_path: Path) -> None:
    """The drawing was flat: `active` vanished and its children floated at the top level."""
    specs, _ = load_specs([_tree(tmp_path, _NESTED)])
    lines = [line.strip() for line in dot_source(specs.machines["m"]).splitlines()]
    cluster = lines.index('subgraph "cluster_active" { label="active"; style=rounded;')
    inside = lines[cluster:lines.index("}", cluster)]
    assert '"a" [shape=box];' in inside and '"b" [shape=box];' in inside
    assert '"__start__active" -> "a";' in inside  # entering `active` starts at its initial child
    assert '"idle" -> "__start__active" [label="go"];' in lines
    assert '"a" -> "a" [label="tick (internal)"];' in lines and '"b" -> "b" [label="tick"];' in lines
    assert '"default" [shape=doublecircle];' in lines


def test_an_edge_out_of_a_compound_state_leaves_its_border(tmp_path: Path) -> None:
    nested = _NESTED.replace("  - {event: go, source: b, target: default}",
                             "  - {event: go, source: active, target: default, guard: 'event.x == \"q\"'}")
    specs, diags = load_specs([_tree(tmp_path, nested)])
    assert not [d for d in diags if d.severity.name == "ERROR"]
    text = dot_source(specs.machines["m"])
    assert '"__start__active" -> "default" [label="go [event.x == \\"q\\"]", ltail="cluster_active"];' in text


def _svg_tree(tmp_path: Path) -> tuple[Path, Path]:
    tree = _tree(tmp_path, _NESTED)
    out = tmp_path / "docs"
    assert _engine("docs", str(tree), "--out", str(out)).returncode == 0
    return tree, out


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz `dot` is not installed")
def test_check_fails_on_an_svg_drawn_from_an_older_spec(tmp_path: Path) -> None:
    tree, out = _svg_tree(tmp_path)
    assert _engine("docs", str(tree), "--out", str(out), "--svg").returncode == 0
    assert (out / "orders" / "m.svg").read_text().startswith("<?xml")
    assert _engine("docs", "--check", str(tree), "--out", str(out)).returncode == 0
    spec = tree / "orders" / "m.yaml"
    spec.write_text(spec.read_text().replace("{event: tick, source: a}", "{event: tick, source: a, target: idle}"))
    written = _engine("docs", str(tree), "--out", str(out))  # pages only: the SVG is now stale
    assert written.returncode == 0 and "m.svg is stale" in written.stderr
    done = _engine("docs", "--check", str(tree), "--out", str(out))
    assert done.returncode == 1 and "m.svg: stale: out of date" in done.stderr


def test_check_fails_on_an_svg_no_spec_draws_and_docs_removes_it(tmp_path: Path) -> None:
    """A deleted spec's SVG stayed behind: --check looked at .md pages only."""
    tree, out = _svg_tree(tmp_path)
    (out / "orders" / "gone.svg").write_text("<svg/>")
    done = _engine("docs", "--check", str(tree), "--out", str(out))
    assert done.returncode == 1 and "gone.svg: stale: no longer generated" in done.stderr
    assert _engine("docs", str(tree), "--out", str(out)).returncode == 0
    assert not (out / "orders" / "gone.svg").exists()
    assert _engine("docs", "--check", str(tree), "--out", str(out)).returncode == 0


def _engine_with_path(path: str, *args: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PATH": path, "PYTHON_DOTENV_DISABLED": "1"})


def test_svg_without_graphviz_fails_after_writing_the_pages(tmp_path: Path) -> None:
    """Before, `--svg` without `dot` printed a note and exited 0: the SVGs asked for were not
    drawn, and CI's --check found the stale one later (rev28)."""
    tree, out = _svg_tree(tmp_path)
    empty = tmp_path / "bin"
    empty.mkdir()
    done = _engine_with_path(str(empty), "docs", str(tree), "--out", str(out), "--svg")
    assert done.returncode == 1, done.stderr
    assert "graphviz `dot` not found: no SVG written (install graphviz" in done.stderr
    assert "wrote 2 pages" in done.stdout and not (out / "orders" / "m.svg").exists()


def test_a_failing_dot_is_reported_with_its_own_message(tmp_path: Path) -> None:
    """Before, a `dot` that failed gave a CalledProcessError traceback, and its stderr was lost."""
    tree, out = _svg_tree(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"  # a graphviz that fails, as a broken install does
    fake.write_text("#!/bin/sh\necho 'Error: <stdin>: syntax error in line 1' >&2\nexit 3\n")
    fake.chmod(0o755)
    done = _engine_with_path(str(bin_dir), "docs", str(tree), "--out", str(out), "--svg")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "failed on `m` with exit 3: Error: <stdin>: syntax error in line 1" in done.stderr
