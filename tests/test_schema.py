"""`engine schema` and the weight of the spec front end's imports."""
from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import pytest

from engine.cli import main


def schema(capsys, *args: str) -> dict:
    assert main(["schema", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_machine_schema_switches_on_kind(capsys):
    s = schema(capsys, "--kind", "machine")
    assert set(s["discriminator"]["mapping"]) == {"rollout", "orders", "gates", "kill"}
    state = s["$defs"]["StateModel"]
    assert state["additionalProperties"] is False
    assert {"initial", "final", "entry", "exit", "after", "states", "tags"} <= set(state["properties"])
    assert "gate" in s["$defs"]["RolloutStateModel"]["properties"] and "gate" not in state["properties"]


@pytest.mark.parametrize("kind,required", [("catalogue", {"kind"}), ("overrides", {"kind", "scope", "key"})])
def test_document_schemas(capsys, kind, required):
    s = schema(capsys, "--kind", kind)
    assert set(s["required"]) == required and s["properties"]["kind"]["const"] == kind


def test_all_in_one_schema_for_language_servers(capsys):
    s = schema(capsys)
    assert s["$schema"].startswith("https://json-schema.org/")
    assert set(s["discriminator"]["mapping"]) >= {"rollout", "orders", "gates", "kill", "catalogue", "overrides"}


def test_unknown_kind_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["schema", "--kind", "nope"])
    assert e.value.code == 2


def test_loading_specs_imports_nothing_heavy(tmp_path):
    (tmp_path / "m.yaml").write_text("kind: kill\nname: m\nversion: 1\nstates: {a: {initial: true}}\n")
    code = (
        "import sys\n"
        "from engine.spec.loader import load_specs\n"
        "from engine.spec.params import check_overrides\n"
        f"specset, diags = load_specs([{str(tmp_path)!r}])\n"
        "assert not diags and check_overrides(specset) == [], diags\n"
        "heavy = {'pandas', 'sqlmodel', 'torch', 'xgboost', 'stable_baselines3'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


ROOT = Path(__file__).parents[1]
SPECS = sorted((ROOT / "specs").rglob("*.yaml"))


def _part(s: dict, ref: str) -> dict:
    """The all-in-one schema narrowed to one definition, its `$defs` kept for the references."""
    return {"$schema": s["$schema"], "$defs": s["$defs"], "$ref": ref}


@pytest.mark.parametrize("path", SPECS, ids=[p.relative_to(ROOT).as_posix() for p in SPECS])
def test_every_shipped_spec_meets_the_schema_an_editor_checks_it_with(capsys, path):
    """An editor's YAML language server flagged valid specs: `assign: {stage: 1}` (an integer
    matched both `integer` and `number` of a oneOf) and `max_hold: '2d'` (a duration advertised as
    a number, which validate refuses)."""
    from jsonschema import Draft202012Validator
    from ruamel.yaml import YAML

    s = schema(capsys)
    doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    checker = Draft202012Validator(_part(s, s["discriminator"]["mapping"][doc["kind"]]))
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in checker.iter_errors(doc)] == []


def test_the_schema_refuses_a_bare_number_for_a_duration(capsys):
    from jsonschema import Draft202012Validator

    s = schema(capsys)
    limits = s["$defs"]["RiskConfig"]["properties"]["limits"]["$ref"]
    hold = Draft202012Validator({**_part(s, limits + "/properties/max_hold")})
    assert (hold.is_valid("2d"), hold.is_valid(172800)) == (True, False)


@pytest.mark.parametrize("edit", [
    {"checks": [{}]},
    {"checks": [{"must_handle": ["e"], "unreachable": ["a"]}]},
    {"checks": [{"must_act": {"event": "e", "source": "a"}}]},
    {"checks": [{"must_handle": None}]},
    {"events": {"cool-down": {}}},
    {"states": {"a": {"initial": True}, "halt-x": {}}},
], ids=["empty check", "two kinds", "must_act doing nothing", "no value", "event name", "state name"])
def test_the_schema_refuses_what_validate_refuses(capsys, edit):
    """rev28: an editor's schema accepted each of these, which the loader refuses."""
    from jsonschema import Draft202012Validator

    s = schema(capsys)
    doc = {"kind": "kill", "name": "m", "version": 1, "events": {"e": {}}, "states": {"a": {"initial": True}},
           "transitions": [{"event": "e", "source": "a"}]}
    checker = Draft202012Validator(_part(s, s["discriminator"]["mapping"]["kill"]))
    assert checker.is_valid(doc)
    assert not checker.is_valid({**doc, **edit})
