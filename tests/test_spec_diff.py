"""engine diff: every change that can alter behaviour is listed, for machines and every other spec kind."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from engine.diagnostics import SpecError
from engine.spec.diff import AREAS, NOT_COMPARED, data_diff, diff
from engine.spec.ir import Machine
from engine.spec.loader import load_machine, load_specs

ROOT = Path(__file__).resolve().parents[1]
KILL = ROOT / "specs" / "kill" / "kill_modes.yaml"


def _engine(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args],
                   cwd=repo, check=True, capture_output=True)


def _edited(tmp_path: Path, src: Path, old: str, new: str) -> Path:
    """A copy of `src` under tmp_path/specs/<kind>/ with one edit (which must apply)."""
    text = src.read_text()
    assert old in text, old
    out = tmp_path / "specs" / src.parent.name / src.name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text.replace(old, new, 1))
    return out


def _kill_changes(tmp_path: Path, old: str, new: str) -> list[str]:
    return [str(c) for c in diff(load_machine(KILL), load_machine(_edited(tmp_path, KILL, old, new)))]


# --- machines: the QA cases -------------------------------------------------------

@pytest.mark.parametrize("old, new, expected", [
    ("broadcasts: [kill_close_only, kill_flatten, kill_halt, kill_resume]",
     "broadcasts: [kill_close_only, kill_halt, kill_resume]", "- broadcast kill_flatten"),
    ("broadcasts: [kill_close_only, kill_flatten, kill_halt, kill_resume]",
     "broadcasts: [kill_flatten, kill_close_only, kill_halt, kill_resume]",
     "~ broadcast order: kill_close_only, kill_flatten, kill_halt, kill_resume -> "
     "kill_flatten, kill_close_only, kill_halt, kill_resume"),
    ("  halt: {event: manual_halt, description: Stop trading; positions keep their stops.}\n", "",
     "- command halt"),
    ("  flatten: {event: manual_flatten,", "  flatten: {event: manual_halt,",
     "~ command flatten: event 'manual_flatten' -> 'manual_halt'"),
    ("    sampled: true\n", "", "~ event risk_update: sampled True -> False"),
    ("consecutive_losses: {type: int, default: 0}", "consecutive_losses: {type: int, default: 1}",
     "~ context consecutive_losses: default 0 -> 1"),
    ("fields: {daily_loss: fraction, drawdown: fraction}", "fields: {daily_loss: fraction}",
     "~ input pnl: fields {'daily_loss': 'fraction', 'drawdown': 'fraction'} -> {'daily_loss': 'fraction'}"),
])
def test_a_machine_change_qa_found_unlisted_is_listed(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert expected in _kill_changes(tmp_path, old, new)


def test_every_machine_field_is_compared_or_deliberately_not() -> None:
    """A field added to the IR gets a readable label here, or is declared behaviour-free."""
    names = {f.name for f in dataclasses.fields(Machine)}
    assert names == set(AREAS) | NOT_COMPARED
    assert NOT_COMPARED == {"path", "spec_hash", "pos"}


def _drop_one(value: Any) -> Any:
    """`value` with one thing less (or changed, for a scalar)."""
    if isinstance(value, Mapping):
        return dict(list(value.items())[1:])
    if isinstance(value, tuple):
        return value[1:]
    return value + 1 if isinstance(value, int) else f"{value} (edited)"


def test_each_compared_machine_field_shows_up_when_it_changes() -> None:
    specs, diags = load_specs([ROOT / "specs"])
    assert not diags
    for name in set(AREAS):
        base = next((m for m in specs.machines.values() if getattr(m, name)), None)
        assert base is not None, f"no spec under specs/ sets `{name}`: add a case to this test"
        edited = dataclasses.replace(base, **{name: _drop_one(getattr(base, name))})
        changes = diff(base, edited)
        assert changes and all(c.area == AREAS[name] for c in changes), (name, changes)


# --- the invariant: a different spec hash is never "no changes" unless the data is the same

def _strip(value: Any) -> Any:
    """The IR without positions, file, hash or document index: what the engine runs on."""
    if dataclasses.is_dataclass(value):
        return {f.name: _strip(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name not in ("pos", "path", "spec_hash", "index")}
    if isinstance(value, Mapping):
        return {k: _strip(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_strip(v) for v in value]
    if isinstance(value, frozenset):
        return sorted(value)
    return value


def _mutations(data: Any) -> Iterator[Any]:
    """Every copy of `data` with one key or list item dropped, or one scalar changed."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield {kk: vv for kk, vv in data.items() if kk != k}
            for m in _mutations(v):
                yield {**data, k: m}
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield data[:i] + data[i + 1:]
            for m in _mutations(v):
                yield data[:i] + [m] + data[i + 1:]
    elif isinstance(data, bool):
        yield not data
    elif isinstance(data, (int, float)):
        yield data + 1
    elif isinstance(data, str) and " " in data:  # prose, not a reference that would not resolve
        yield data + " (edited)"


def test_diff_is_empty_exactly_when_the_loaded_machine_is_the_same(tmp_path: Path) -> None:
    data = YAML(typ="safe").load(KILL.read_text())
    original = load_machine(KILL)
    target = tmp_path / "specs" / "kill" / "kill_modes.yaml"
    target.parent.mkdir(parents=True)
    checked = 0
    for mutated in _mutations(data):
        target.write_text(json.dumps(mutated))  # JSON is YAML, and much faster to write
        try:
            edited = load_machine(target)
        except SpecError:
            continue  # not a valid spec: engine diff refuses it before comparing
        assert edited.spec_hash != original.spec_hash
        same = _strip(original) == _strip(edited)
        assert (diff(original, edited) == []) == same, mutated
        checked += 1
    assert checked > 100, checked  # the mutations really reach the diff


# --- other documents -----------------------------------------------------------------

def test_data_diff_lists_key_paths_list_items_and_order() -> None:
    old = {"sizing": {"canary": {"days": "7d", "trades": 50}, "kelly": {"floor": 0.25}},
           "guards": ["kill_mode", "no_short", "spread_filter"],
           "strategies": [{"id": "a", "weight": 0.1}, {"id": "b", "weight": 0.2}],
           "steps": [{"p": 1}, {"p": 2}]}
    new = {"sizing": {"canary": {"days": "14d", "trades": 50}},
           "guards": ["no_short", "kill_mode", "max_hold"],
           "strategies": [{"id": "b", "weight": 0.3}, {"id": "c", "weight": 0.1}],
           "steps": [{"p": 1}, {"p": 3}, {"p": 4}], "extra": True}
    assert [str(c) for c in data_diff(old, new)] == [
        "~ sizing.canary.days: '7d' -> '14d'",
        "- sizing.kelly: {'floor': 0.25}",
        "- guards[spread_filter]",
        "+ guards[max_hold]",
        "~ guards order: kill_mode, no_short -> no_short, kill_mode",
        "- strategies[a]",
        "~ strategies[b].weight: 0.2 -> 0.3",
        "+ strategies[c]: {'id': 'c', 'weight': 0.1}",
        "~ steps[1].p: 2 -> 3",
        "+ steps[2]: {'p': 4}",
        "+ extra: True",
    ]
    assert data_diff(old, old) == []
    assert [str(c) for c in data_diff({"a": 1}, {"a": 1.0})] == ["~ a: 1 -> 1.0"]
    assert [str(c) for c in data_diff({"a": 1}, {"a": True})] == ["~ a: 1 -> True"]


_scalars = st.one_of(st.booleans(), st.integers(-3, 3), st.sampled_from([0.0, 1.0, 2.5]),
                     st.sampled_from(["a", "b", "1", "id"]), st.none())
_docs = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.lists(st.fixed_dictionaries({"id": st.sampled_from(["x", "y", "z"]), "v": inner}), max_size=3),
    st.dictionaries(st.sampled_from(["a", "b", "c", "id", "name"]), inner, max_size=4)), max_leaves=12)


def _typed(value: Any) -> Any:
    """`value` with every scalar's type kept: what YAML tells apart and Python's == does not."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return type(value).__name__, value


@settings(max_examples=300, deadline=None)
@given(_docs, _docs)
def test_data_diff_is_empty_exactly_when_the_documents_are_equal(old: Any, new: Any) -> None:
    changes = data_diff({"doc": old}, {"doc": new})
    assert (changes == []) == (_typed(old) == _typed(new)), changes
    assert all(str(c) for c in changes)


@pytest.mark.parametrize("rel, old, new, expected", [
    ("risk/risk.yaml", "    days: 7d", "    days: 14d", "~ sizing.canary.days: '7d' -> '14d'"),
    ("risk/risk.yaml", "  - spread_filter\n", "", "- guards[spread_filter]"),
    ("overrides/stage_2.yaml", "daily_loss_limit: 0.03", "daily_loss_limit: 0.02",
     "~ values.kill_modes.daily_loss_limit: 0.03 -> 0.02"),
    ("strategies/seed003.yaml", "    weight: 0.05\n", "    weight: 0.06\n",
     "~ strategies[emavol_24h].weight: 0.05 -> 0.06"),
    ("ml/filter.yaml", "  rsi_window: 14", "  rsi_window: 21", "~ features.rsi_window: 14 -> 21"),
    ("catalogue.yaml", "    args: {text: str}\n", "", "- actions.notify.args: {'text': 'str'}"),
])
def test_cli_diffs_every_document_kind(tmp_path: Path, rel: str, old: str, new: str, expected: str) -> None:
    src = ROOT / "specs" / rel
    edited = tmp_path / "specs" / rel
    edited.parent.mkdir(parents=True, exist_ok=True)
    text = src.read_text()
    assert old in text
    edited.write_text(text.replace(old, new, 1))
    done = _engine("diff", str(src), str(edited))
    assert done.returncode == 0, done.stderr
    assert f"  {expected}\n" in done.stdout
    assert done.stdout.startswith(f"--- {src}  ") and f"\n+++ {edited}  " in done.stdout


def _repo(tmp_path: Path, rel: str) -> Path:
    """A git repository holding specs/REL as committed, with a working-tree edit to follow."""
    repo = tmp_path / "repo"
    (repo / "specs" / rel).parent.mkdir(parents=True)
    (repo / "specs" / rel).write_bytes((ROOT / "specs" / rel).read_bytes())
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "base")
    return repo


def test_cli_reads_a_git_version_of_a_risk_spec_and_names_it_as_the_user_did(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "risk/risk.yaml")
    path = repo / "specs" / "risk" / "risk.yaml"
    path.write_text(path.read_text().replace("max_concurrent_positions: 8", "max_concurrent_positions: 6"))
    done = _engine("diff", "HEAD:specs/risk/risk.yaml", "specs/risk/risk.yaml", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("--- HEAD:specs/risk/risk.yaml  risk risk v1 (")
    assert "  ~ limits.max_concurrent_positions: 8 -> 6\n" in done.stdout
    assert "/tmp" not in done.stdout + done.stderr and "old/" not in done.stdout


def test_a_broken_git_version_is_reported_under_the_users_name(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "overrides/stage_2.yaml")
    path = repo / "specs" / "overrides" / "stage_2.yaml"
    path.write_text(path.read_text().replace("scope: stage", "scope: stag"))
    _git(repo, "commit", "-qam", "broken")
    done = _engine("diff", "HEAD:specs/overrides/stage_2.yaml", "HEAD~1:specs/overrides/stage_2.yaml", cwd=repo)
    assert done.returncode == 1
    assert done.stderr.startswith("HEAD:specs/overrides/stage_2.yaml:") and "Traceback" not in done.stderr
    assert "/tmp" not in done.stderr


def test_cli_missing_inputs_are_a_usage_error(tmp_path: Path) -> None:
    done = _engine("diff", str(tmp_path / "nope.yaml"), str(KILL))
    assert done.returncode == 2 and "no such file" in done.stderr
    done = _engine("diff", "NOREV:specs/kill/kill_modes.yaml", str(KILL))
    assert done.returncode == 2 and "NOREV:specs/kill/kill_modes.yaml" in done.stderr


def test_cli_names_a_folder_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A folder was called `no such file`: it exists, and diff takes a file."""
    from engine.cli import main

    assert main(["diff", str(tmp_path), str(KILL)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}: a folder; engine diff compares two spec files" in err and "no such file" not in err, err


def test_cli_names_a_git_folder_a_folder(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """`git show REV:folder` lists the folder's entries: they were parsed as YAML (SCHEMA_TYPE, exit 1)."""
    from engine.cli import main

    monkeypatch.chdir(KILL.parents[2])  # the repo: git reads its history
    assert main(["diff", "HEAD:specs", str(KILL)]) == 2
    assert "HEAD:specs: a folder in git; engine diff compares two spec files" in capsys.readouterr().err


def test_cli_says_when_only_comments_changed_and_lists_spelled_out_defaults(tmp_path: Path) -> None:
    comment = _edited(tmp_path / "a", KILL, "broadcasts:", "# reviewed\nbroadcasts:")
    done = _engine("diff", str(KILL), str(comment))
    assert done.returncode == 0 and "  no changes (only comments or formatting differ)\n" in done.stdout
    assert "  no changes\n" in _engine("diff", str(KILL), str(KILL)).stdout
    spelled = _edited(tmp_path / "b", KILL, "    sampled: true\n", "    sampled: true\n    payload: {}\n")
    done = _engine("diff", str(KILL), str(spelled))
    assert "(the loaded machines are equal; the YAML differs:)" in done.stdout
    assert "  + events.risk_update.payload: {}\n" in done.stdout


def test_deleting_the_first_of_two_transitions_on_one_edge_removes_that_one(tmp_path: Path) -> None:
    """They were matched by position: the second was reported removed (with no detail) and the
    first edited into it, naming the wrong rule as deleted."""
    from engine.spec.diff import diff
    from engine.spec.loader import load_machine

    src = Path(__file__).resolve().parents[1] / "specs" / "kill" / "kill_modes.yaml"
    counter = """  - event: trade_closed
    source: normal
    guard: event.pnl < 0 and ctx.consecutive_losses + 1 < params.max_consecutive_losses
    priority: 2
    actions: [{assign: {consecutive_losses: ctx.consecutive_losses + 1}}]
"""
    text = src.read_text()
    assert counter in text
    new = tmp_path / "kill_modes.yaml"
    new.write_text(text.replace(counter, "", 1))
    [change] = [str(c) for c in diff(load_machine(src), load_machine(new))]
    assert change.startswith("- transition normal --trade_closed--> (internal): guard 'event.pnl < 0 and "
                             "ctx.consecutive_losses + 1 < params.max_consecutive_losses'"), change


def test_a_swap_of_two_transitions_of_one_event_is_a_change(tmp_path: Path) -> None:
    """Document order decides which of two unprioritised transitions fires; they are named by
    source, event and target, so their order must be read back from the document (rev28: a swap
    diffed as "the loaded machines are equal")."""
    head = "kind: kill\nname: m\nversion: 1\nevents: {e: {}}\nstates: {a: {initial: true}, b: {}, c: {}}\ntransitions:\n"
    to_b, to_c = "  - {event: e, source: a, target: b}\n", "  - {event: e, source: a, target: c}\n"
    (tmp_path / "old.yaml").write_text(head + to_b + to_c)
    (tmp_path / "new.yaml").write_text(head + to_c + to_b)
    changes = [str(c) for c in diff(load_machine(tmp_path / "old.yaml"), load_machine(tmp_path / "new.yaml"))]
    assert changes == ["~ transition order of `e`: a --e--> b; a --e--> c -> a --e--> c; a --e--> b"]
