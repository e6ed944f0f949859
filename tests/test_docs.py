"""engine docs and engine diff: pages from the IR, a freshness check that can fail, a review diff."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from engine.docs.mermaid import diagram, escape
from engine.docs.render import pages, stale, write
from engine.spec.diff import diff
from engine.spec.loader import load_machine, load_specs

ROOT = Path(__file__).resolve().parents[1]


def _engine(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_every_machine_gets_a_page_with_diagram_tables_parameters_and_hash() -> None:
    specs, diags = load_specs([ROOT / "specs"])
    assert not diags
    out = pages(specs)
    assert set(out) == {"index.md"} | {f"{m.kind}/{m.name}.md" for m in specs.machines.values()}
    kill = out["kill/kill_modes.md"]
    m = specs.machines["kill_modes"]
    assert "```mermaid\nstateDiagram-v2" in kill and m.spec_hash in kill
    assert "| `daily_loss_limit` | fraction |" in kill  # parameters with their type and unit columns
    assert "normal --> cooldown : trade_closed [" in kill  # guards label the edges
    assert all(f"[{n}]({m.kind}/{n}.md)" in out["index.md"] for n, m in specs.machines.items())


def test_mermaid_labels_cannot_break_the_grammar() -> None:
    assert escape("a: b; {c} #d <e>") == "a#58; b#59; #123;c#125; #35;d #60;e#62;"
    specs, _ = load_specs([ROOT / "specs"])
    for m in specs.machines.values():
        for line in diagram(m).splitlines()[1:]:
            label = re.sub(r"#\d+;", "", line.split(" : ", 1)[1] if " : " in line else "")
            assert not any(ch in label for ch in ":;{}#"), line


def test_check_reports_missing_changed_and_extra_pages(tmp_path: Path) -> None:
    specs, _ = load_specs([ROOT / "specs"])
    generated = pages(specs)
    write(tmp_path, generated)
    assert stale(tmp_path, generated) == []
    (tmp_path / "kill" / "kill_modes.md").write_text("edited by hand")
    (tmp_path / "orders" / "order.md").unlink()
    (tmp_path / "old.md").write_text("a page for a deleted spec")
    assert stale(tmp_path, generated) == ["kill/kill_modes.md: out of date", "orders/order.md: missing",
                                          "old.md: no longer generated"]


def test_committed_docs_are_fresh_and_check_fails_on_a_stale_tree(tmp_path: Path) -> None:
    assert _engine("docs", "--check").returncode == 0
    out = tmp_path / "docs"
    shutil.copytree(ROOT / "docs" / "specs", out)
    (out / "index.md").write_text("stale")
    done = _engine("docs", "--check", "--out", str(out))
    assert done.returncode == 1 and "index.md" in done.stderr


def test_diff_names_states_transitions_guards_and_parameters(tmp_path: Path) -> None:
    src = ROOT / "specs" / "kill" / "kill_modes.yaml"
    new = tmp_path / "specs" / "kill" / "kill_modes.yaml"
    new.parent.mkdir(parents=True)
    text = src.read_text()
    text = text.replace("    default: 3\n", "    default: 2\n", 1)  # max_consecutive_losses
    text = text.replace("guard: pnl.drawdown >= params.max_drawdown", "guard: pnl.drawdown > params.max_drawdown", 1)
    new.write_text(text)
    changes = [str(c) for c in diff(load_machine(src), load_machine(new))]
    assert "~ parameter max_consecutive_losses: default 3 -> 2" in changes
    assert any(c.startswith("~ transition") and "guard" in c and "pnl.drawdown > params.max_drawdown" in c
               for c in changes)
    cli = _engine("diff", str(src), str(new))
    assert cli.returncode == 0 and "max_consecutive_losses" in cli.stdout
    assert diff(load_machine(src), load_machine(src)) == []


def test_a_stage_override_keyed_by_a_digit_int_cannot_read_does_not_crash_the_pages(tmp_path: Path) -> None:
    """`"²"` passes str.isdigit(), and int() of it raised: engine docs was a traceback, where
    validate reports the key (UNRESOLVED_OVERRIDE)."""
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    stage2 = specs / "overrides" / "stage_2.yaml"
    stage2.write_text(stage2.read_text().replace('key: "2"', 'key: "²"'))
    loaded, _ = load_specs([specs])
    assert "²" in {o.key for o in loaded.overrides} and pages(loaded)


def test_check_passes_however_the_spec_path_is_spelled(tmp_path: Path) -> None:
    """Pages embedded the path as typed: `engine docs --check /abs/specs` called every fresh page stale."""
    done = subprocess.run([sys.executable, "-m", "engine.cli", "docs", "--check", ".", "--out", "../docs/specs"],
                          cwd=ROOT / "specs", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _engine("docs", "--check", str(ROOT / "specs")).returncode == 0


def _tree(tmp_path: Path, machine: str) -> Path:
    tree = tmp_path / "specs"
    (tree / "orders").mkdir(parents=True)
    (tree / "catalogue.yaml").write_text("kind: catalogue\n")
    (tree / "orders" / "m.yaml").write_text(machine)
    return tree


_NESTED = """kind: orders
name: m
version: 1
events: {go: {}, tick: {}}
states:
  idle: {initial: true}
  active:
    states:
      a: {initial: true}
      b: {}
  default: {final: true, description: "The counterparty defaulted."}
transitions:
  - {event: go, source: idle, target: active}
  - {event: go, source: a, target: b}
  - {event: tick, source: a}
  - {event: tick, source: b, target: b}
  - {event: go, source: b, target: default}
"""


def test_diagrams_declare_children_in_their_parent_alias_keywords_and_mark_internal_transitions(
        tmp_path: Path) -> None:
    specs, diags = load_specs([_tree(tmp_path, _NESTED)])
    assert not diags
    lines = [line.strip() for line in diagram(specs.machines["m"]).splitlines()]
    block = lines[lines.index("state active {"):]
    assert "b" in block[:block.index("}")]  # b is drawn inside `active`, not at the top level
    assert 'state "default" as state_default' in lines  # `default` is a word of Mermaid's grammar
    assert "b --> state_default : go" in lines
    assert "a --> a : tick (internal)" in lines and "b --> b : tick" in lines  # targetless vs re-entering


def test_docs_refuse_a_tree_validate_refuses(tmp_path: Path) -> None:
    """Only loader errors stopped it: a misspelt target was drawn as a state of its own."""
    tree = _tree(tmp_path, _NESTED.replace("target: default", "target: defualt"))
    done = _engine("docs", str(tree), "--out", str(tmp_path / "out"))
    assert done.returncode == 1 and "UNRESOLVED_STATE" in done.stderr and not (tmp_path / "out").exists()


def test_pages_show_what_changes_behaviour_beside_the_diagram() -> None:
    specs, _ = load_specs([ROOT / "specs"])
    out = pages(specs)
    rollout, kill = out["rollout/rollout.md"], out["kill/kill_modes.md"]
    assert "crypto_spot: live, crypto_perp: off, forex: off, forex_options: off | model_promotion |" in rollout
    assert "- Broadcast to every other machine: `kill_close_only`" in kill
    assert "| `normal` |  | yes |  | opens_risk |  |  |  | `manual_resume` |" in kill  # a state's ignores
    assert "| `flatten` | `manual_flatten` |" in kill and "| `tripped_by` | str | `\"\"` |" in kill
    assert "<!-- generated by `engine docs` from specs/kill/kill_modes.yaml; do not edit -->" in kill
    gate = out["gates/model_promotion.md"]  # the phase each state measures: which KPIs restart where
    assert "| ignores | measures | description |" in gate
    assert re.search(r"\| `awaiting_confirmation` \|.*\| shadow \| Shadow passed", gate)
    assert re.search(r"\| `paper` \|.*\| paper \| Paper trading only", gate)
    assert "| measures |" not in kill and "| measures |" not in rollout


def test_a_page_says_when_no_run_enforces_its_machine() -> None:
    """futures_roll and option_expiry are linted and drawn, but `engine run` hosts neither: their pages
    read like those of enforced rules."""
    out = pages(load_specs([ROOT / "specs"])[0])
    for page in ("orders/futures_roll.md", "orders/option_expiry.md"):
        assert "> **Not run yet.** `engine run` hosts no instance of this machine" in out[page]
    assert not [p for p in ("orders/order.md", "orders/bracket.md", "kill/kill_modes.md", "rollout/rollout.md",
                            "gates/model_promotion.md") if "Not run yet" in out[p]]
