"""Loader: spec files -> IR, each SCHEMA_*/set-level diagnostic at its exact file:line:col."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from engine.diagnostics import Pos, SpecError
from engine.spec import documents, loader
from engine.spec.durations import parse_duration
from engine.spec.loader import load_machine, load_specs
from engine.spec.params import check_overrides, effective_params

DOCS = Path(__file__).resolve().parents[1] / "docs" / "spec-format.md"


def doc_example() -> str:
    """The machine example of the format contract, exactly as documented."""
    return re.search(r"```yaml\n(kind: kill.*?)```", DOCS.read_text(), re.S).group(1)


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def found(diags) -> list[tuple[str, str]]:
    return [(d.code, f"{Path(d.pos.file).name}:{d.pos.line}:{d.pos.col}") for d in diags]


MINIMAL = """\
kind: kill
name: {name}
version: 1
states:
  a: {{initial: true}}
"""


def test_documented_example_round_trips_into_the_ir(tmp_path):
    text = doc_example()
    path = write(tmp_path, "specs/kill/kill_modes.yaml", text)
    specset, diags = load_specs([tmp_path / "specs"])
    assert diags == []
    m = specset.machines["kill_modes"]
    line = {t: i + 1 for i, t in reversed(list(enumerate(text.splitlines())))}

    def at(fragment: str) -> int:
        return next(n for t, n in line.items() if fragment in t)

    assert (m.kind, m.version, m.path) == ("kill", 1, str(path))
    assert len(m.spec_hash) == 16 and m.pos == Pos(str(path), 2, 7)
    assert list(m.states) == ["normal", "cooldown", "restricted", "close_only", "flatten_all", "halted"]
    assert m.roots == ("normal", "cooldown", "restricted", "halted")
    assert m.states["restricted"].children == ("close_only", "flatten_all")
    assert m.states["close_only"].parent == "restricted" and m.states["close_only"].initial
    assert m.initial_child(None) == "normal" and m.initial_child("restricted") == "close_only"
    assert m.states["halted"].final and m.states["normal"].tags == frozenset({"opens_risk"})
    assert m.states["normal"].pos == Pos(str(path), at("  normal:"), 3)
    assert [a.name for a in m.states["normal"].entry] == ["reset_losses"]
    (timer,) = m.states["cooldown"].timers
    assert (timer.event, timer.delay, timer.delay_s) == ("cooldown_elapsed", "params.cooldown", 900.0)
    assert timer.pos == Pos(str(path), at("after: {delay"), 12)
    assert m.params["max_consecutive_losses"].min == 1 and m.params["cooldown"].default == "15m"
    assert m.context["consecutive_losses"].default == 0
    assert m.inputs["pnl"].fields == {"daily_loss": "fraction", "drawdown": "fraction"}
    assert m.events["trade_closed"].payload == {"pnl": "money"} and "cooldown_elapsed" in m.events
    assert m.commands["flatten"].event == "manual_flatten"
    assert m.broadcasts == ("kill_close_only", "kill_flatten", "kill_halt", "kill_resume")

    t0, t1 = m.transitions
    assert (t0.index, t0.event, t0.sources, t0.target, t0.priority) == (0, "trade_closed", ("normal",), "cooldown", 1)
    assert (t1.index, t1.target, t1.priority) == (1, None, 2)
    guard_line = at("guard: ctx.consecutive_losses")
    assert t0.guard.source == "ctx.consecutive_losses + 1 >= params.max_consecutive_losses"
    assert t0.guard.pos == Pos(str(path), guard_line, 12)
    assign, record, notify, raise_ = t0.actions
    assert assign.name == "assign" and assign.args["consecutive_losses"].source == "ctx.consecutive_losses + 1"
    assert record.name == "record_kill" and record.args == {}
    assert notify.args["text"].source == "'cooldown'"
    # the expression's position is its first character, past the YAML quote
    notify_line = text.splitlines()[at("- notify:") - 1]
    assert notify.args["text"].pos == Pos(str(path), at("- notify:"), notify_line.index("'cooldown'") + 1)
    assert raise_.name == "raise" and raise_.args["event"].source == "kill_close_only"
    assert [c.kind for c in m.checks] == ["reachable_from_all", "must_handle", "unreachable", "must_act"]
    assert m.checks[1].args == ("manual_flatten",)
    act = m.checks[3]
    assert (act.args, act.source, act.action, act.target) == (("manual_flatten",), ("normal", "cooldown"), None,
                                                              "flatten_all")
    assert act.describe() == "manual_flatten in normal, cooldown goes to flatten_all"


def test_load_machine_and_its_errors(tmp_path):
    good = write(tmp_path, "m.yaml", MINIMAL.format(name="m"))
    assert load_machine(good).name == "m"
    bad = write(tmp_path, "bad.yaml", "kind: kill\nname: m\nversion: 1\nstates: {a: {initial: maybe}}\n")
    with pytest.raises(SpecError) as e:
        load_machine(bad)
    assert found(e.value.diagnostics) == [("SCHEMA_TYPE", "bad.yaml:4:23")]


@pytest.mark.parametrize("body,expected,hint", [
    ("kind: kill\nname: m\nversion: 1\ndescripton: x\nstates: {a: {}}\n",
     ("SCHEMA_UNKNOWN_KEY", "f.yaml:4:1"), "did you mean `description`?"),
    ("kind: kill\nname: m\nversion: 1\nstates:\n  a:\n    intial: true\n",
     ("SCHEMA_UNKNOWN_KEY", "f.yaml:6:5"), "did you mean `initial`?"),
    ("kind: kill\nname: m\nversion: 1\nstates: {a: {}}\ntransitions:\n  - event: e\n    source: a\n    tagret: a\n",
     ("SCHEMA_UNKNOWN_KEY", "f.yaml:8:5"), "did you mean `target`?"),
    ("kind: kill\nname: m\nversion: '1'\nstates: {a: {}}\n",
     ("SCHEMA_TYPE", "f.yaml:3:10"), "remove the quotes"),
    ("kind: kill\nname: m\nversion: 1\nstates: {a: {tags: x}}\n",
     ("SCHEMA_TYPE", "f.yaml:4:20"), None),
    ("kind: kill\nname: m\nversion: 1\nstates: {a: {}}\ntransitions:\n  - source: a\n",
     ("SCHEMA_MISSING", "f.yaml:6:5"), None),
    ("kind: kill\nname: m\nstates: {a: {}}\n",
     ("SCHEMA_MISSING", "f.yaml:1:1"), None),
    ("name: m\n", ("SCHEMA_MISSING", "f.yaml:1:1"), None),
    ("kind: kil\n", ("SCHEMA_VALUE", "f.yaml:1:7"), "did you mean `kill`?"),
    ("kind: kill\nname: m\nversion: 1\nparameters:\n  p: {type: integr, default: 1}\nstates: {a: {}}\n",
     ("SCHEMA_VALUE", "f.yaml:5:13"), "did you mean `int`?"),
    ("kind: kill\nname: m\nversion: 1\nstates: {a: {after: {delay: 15 mins, event: e}}}\n",
     ("SCHEMA_VALUE", "f.yaml:4:29"), None),
    ("kind: kill\nname: m\nversion: 1\nstates: {a: {entry: [{raise: [x]}]}}\n",
     ("SCHEMA_TYPE", "f.yaml:4:30"), None),
    ("kind: kill\nname: m\nversion: 1\nstates: {a: {entry: [{notify: x}]}}\n",
     ("SCHEMA_VALUE", "f.yaml:4:22"), None),
    ("kind: kill\nname: bad-name\nversion: 1\nstates: {a: {}}\n",
     ("SCHEMA_VALUE", "f.yaml:2:7"), None),
    ("kind: kill\nname: m\nversion: 1\nstates: {a-b: {}}\n",
     ("SCHEMA_VALUE", "f.yaml:4:10"), None),
    ("kind: rollout\nname: m\nversion: 1\nstates: {a: {domains: {forex: 'on'}}}\n",
     ("SCHEMA_VALUE", "f.yaml:4:31"), None),
    ("kind: kill\nname: m\nversion: 1\nstates: {a: {}}\ntransitions:\n  - {event: e, source: [], target: a}\n",
     ("SCHEMA_VALUE", "f.yaml:6:24"), None),  # a transition from no state never fires
    ("- kind: kill\n", ("SCHEMA_TYPE", "f.yaml:1:1"), None),
    ("kind: kill\nname: m\nversion: 1\nstates: {a: {}}\ntransitions:\n  - {event: e, source: ['*', a]}\n",
     ("SCHEMA_VALUE", "f.yaml:6:24"), 'write `source: "*"` alone, or list the states without it'),
    ("kind: kill\nname: m\nversion: 1\nstates: {a: {}}\ntransitions:\n  - {event: e, source: a, priority: 1.0}\n",
     ("SCHEMA_TYPE", "f.yaml:6:37"), "write an integer"),  # was "must be a number, not the number 1.0"
    ("kind: kill\nname: m\nversion: 1\nstates: {a: {}}\nchecks:\n  - must_handle:\n",
     ("SCHEMA_TYPE", "f.yaml:6:17"), "write the value after the colon: a key with nothing after it is null"),
    ("kind: kill\nname: m\nversion: 1\nstates: {a: {}}\nchecks:\n  - must_act: {event: e, source: a}\n",
     ("SCHEMA_VALUE", "f.yaml:6:15"), None),
    ("kind: overrides\nscope: stage\nkey: 2\n", ("SCHEMA_TYPE", "f.yaml:3:6"), "quote it to make it a string"),
    # rev33: at the value's column, with no hint
    ("kind: kill\nname: m\nversion: 1\nstates: {a: {}}\n1: x\n", ("SCHEMA_VALUE", "f.yaml:5:1"),
     "keys are text: rename it, quote it (`'1':`), or remove it"),
])
def test_schema_diagnostics(tmp_path, body, expected, hint):
    _, diags = load_specs([write(tmp_path, "f.yaml", body)])
    assert found(diags) == [expected]
    if hint:
        assert diags[0].hint == hint


def test_all_problems_of_a_file_in_one_pass_and_the_file_is_left_out(tmp_path):
    write(tmp_path, "specs/kill/bad.yaml",
          "kind: kill\nname: bad\nversion: 1\ndescription: on\nstates:\n  a: {initial: yes}\n"
          "  a: {}\ntransitions:\n  - {event: e, source: a, tagret: a}\n")
    write(tmp_path, "specs/kill/good.yaml", MINIMAL.format(name="good"))
    specset, diags = load_specs([tmp_path / "specs"])
    assert found(diags) == [("YAML_IMPLICIT_SCALAR", "bad.yaml:4:14"), ("YAML_IMPLICIT_SCALAR", "bad.yaml:6:16"),
                            ("YAML_DUPLICATE_KEY", "bad.yaml:7:3"), ("SCHEMA_UNKNOWN_KEY", "bad.yaml:9:27")]
    assert list(specset.machines) == ["good"]


@pytest.mark.parametrize("rel,kind,ok", [
    ("specs/kill/x.yaml", "kill", True),
    ("specs/gates/x.yaml", "kill", False),
    ("specs/kill/sub/x.yaml", "kill", True),
    ("specs/x.yaml", "kill", False),
    ("specs/misc/x.yaml", "orders", False),
    ("elsewhere/x.yaml", "kill", True),
    ("specs/overrides/x.yaml", "overrides", True),
    ("specs/kill/x.yaml", "overrides", False),
    ("specs/catalogue.yaml", "catalogue", True),
    ("specs/orders/catalogue.yaml", "catalogue", False),
    # A tree root (it holds catalogue.yaml) ends the walk: the folders above it are the user's.
    ("tries/kill/mine/catalogue.yaml", "catalogue", True),
    ("tries/kill/mine/gates/x.yaml", "gates", True),
    ("tries/kill/mine/x.yaml", "kill", False),
])
def test_kind_must_match_its_folder(tmp_path, rel, kind, ok):
    body = {"overrides": "kind: overrides\nscope: env\nkey: prod\n",
            "catalogue": "kind: catalogue\n"}.get(kind, MINIMAL.format(name="m").replace("kill", kind))
    if rel.startswith("tries/") and not rel.endswith("catalogue.yaml"):
        write(tmp_path, "tries/kill/mine/catalogue.yaml", "kind: catalogue\n")
    _, diags = load_specs([write(tmp_path, rel, body)])
    assert found(diags) == ([] if ok else [("SPEC_KIND_FOLDER", "x.yaml:1:7".replace("x", Path(rel).stem))])


def test_duplicate_machine_names_across_files(tmp_path):
    write(tmp_path, "specs/kill/a.yaml", MINIMAL.format(name="same"))
    write(tmp_path, "specs/kill/b.yaml", MINIMAL.format(name="same"))
    specset, diags = load_specs([tmp_path / "specs"])
    assert found(diags) == [("DUPLICATE_ID", "b.yaml:2:7")]
    assert "a.yaml:2:7" in diags[0].hint
    assert specset.machines["same"].path.endswith("a.yaml")


def test_duplicate_state_names_across_levels(tmp_path):
    body = "kind: kill\nname: m\nversion: 1\nstates:\n  a:\n    states:\n      b: {}\n  b: {}\n"
    _, diags = load_specs([write(tmp_path, "m.yaml", body)])
    assert found(diags) == [("DUPLICATE_ID", "m.yaml:8:3")] and "line 7" in diags[0].hint


def test_an_unexpected_error_in_one_file_is_internal_and_the_others_load(tmp_path, monkeypatch):
    write(tmp_path, "specs/kill/a.yaml", MINIMAL.format(name="a"))
    write(tmp_path, "specs/kill/b.yaml", MINIMAL.format(name="b"))
    real = loader._from_doc

    def flaky(doc, path, raw):
        if path.name == "a.yaml":
            raise RuntimeError("boom")
        return real(doc, path, raw)

    monkeypatch.setattr(loader, "_from_doc", flaky)
    specset, diags = load_specs([tmp_path / "specs"])
    assert found(diags) == [("INTERNAL", "a.yaml:1:1")] and "boom" in diags[0].message
    assert list(specset.machines) == ["b"]


def test_missing_path_is_a_diagnostic(tmp_path):
    _, diags = load_specs([tmp_path / "nope"])
    assert [d.code for d in diags] == ["INTERNAL"]


def test_directories_are_walked_recursively_in_sorted_order(tmp_path):
    for name in ("c", "a", "b"):
        write(tmp_path, f"specs/orders/{name}.yml" if name == "b" else f"specs/orders/deep/{name}.yaml",
              MINIMAL.format(name=name).replace("kill", "orders"))
    write(tmp_path, "specs/orders/notes.txt", "not yaml")
    specset, diags = load_specs([tmp_path / "specs"])
    assert diags == [] and list(specset.machines) == ["b", "a", "c"]  # b.yml sorts before deep/


def test_rollout_states_carry_gate_and_domains(tmp_path):
    body = """\
    kind: rollout
    name: rollout
    version: 1
    states:
      stage_1:
        initial: true
        gate: promote_1
        domains: {crypto_spot: paper, crypto_perp: "off"}
    """
    specset, diags = load_specs([write(tmp_path, "specs/rollout/r.yaml", body)])
    s = specset.machines["rollout"].states["stage_1"]
    assert diags == [] and s.gate == "promote_1"
    assert s.attrs["domains"] == {"crypto_spot": "paper", "crypto_perp": "off"}
    kill = "kind: kill\nname: k\nversion: 1\nstates:\n  a:\n    gate: g\n"
    _, diags = load_specs([write(tmp_path, "specs/kill/k.yaml", kill)])
    assert found(diags) == [("SCHEMA_UNKNOWN_KEY", "k.yaml:6:5")]


def test_catalogue(tmp_path):
    body = """\
    kind: catalogue
    guards:
      in_session: {provider: risk, args: {ts: float}, description: Session hours allow trading.}
    actions:
      attach_bracket: {provider: engine}
    """
    specset, diags = load_specs([write(tmp_path, "specs/catalogue.yaml", body)])
    assert diags == []
    g = specset.catalogue.guards["in_session"]
    assert (g.role, g.provider, dict(g.args), g.pos.line, g.pos.col) == ("guard", "risk", {"ts": "float"}, 3, 3)
    assert specset.catalogue.actions["attach_bracket"].role == "action"
    _, diags = load_specs([write(tmp_path, "c2.yaml", "kind: catalogue\nguards: {g: {provider: riks}}\n")])
    assert found(diags) == [("SCHEMA_VALUE", "c2.yaml:2:24")] and diags[0].hint == "did you mean `risk`?"


PARAMS = """\
kind: kill
name: km
version: 1
parameters:
  limit: {type: fraction, default: 0.05, max: 0.1}
  cooldown: {type: duration, default: 15m, min: 1m}
  losses: {type: int, default: 3, min: 1}
states: {a: {initial: true}}
"""


def overrides(scope: str, key: str, values: str) -> str:
    return f'kind: overrides\nscope: {scope}\nkey: "{key}"\nvalues:\n{values}'


def test_effective_params_apply_default_then_env_then_stage(tmp_path):
    write(tmp_path, "specs/kill/km.yaml", PARAMS)
    write(tmp_path, "specs/overrides/prod.yaml", overrides("env", "prod", "  km: {limit: 0.02, cooldown: 1h}\n"))
    write(tmp_path, "specs/overrides/stage2.yaml", overrides("stage", "2", "  km: {limit: 0.03}\n"))
    specset, diags = load_specs([tmp_path / "specs"])
    assert diags == [] and check_overrides(specset) == []
    assert effective_params(specset, "km") == {"limit": 0.05, "cooldown": 900.0, "losses": 3}
    assert effective_params(specset, "km", env="prod") == {"limit": 0.02, "cooldown": 3600.0, "losses": 3}
    assert effective_params(specset, "km", stage=2, env="prod")["limit"] == 0.03
    assert effective_params(specset, "km", stage=3)["limit"] == 0.05


def test_a_value_just_above_max_is_out_of_bounds_and_max_itself_is_in(tmp_path):
    """`max` is inclusive and exact: no tolerance lets a value a hair above it through, for a
    default or an override."""
    params = PARAMS.replace("states:", "  scale: {type: float, default: 2.0000001, max: 2}\nstates:")
    write(tmp_path, "specs/kill/km.yaml", params)
    write(tmp_path, "specs/overrides/o.yaml", overrides("env", "prod", "  km: {scale: 2.0000001, limit: 0.1}\n"))
    specset, diags = load_specs([tmp_path / "specs"])
    assert diags == []
    assert found(check_overrides(specset)) == [("PARAM_BOUNDS", "km.yaml:8:33"), ("PARAM_BOUNDS", "o.yaml:5:15")]
    write(tmp_path, "specs/kill/km.yaml", params.replace("default: 2.0000001", "default: 2"))
    write(tmp_path, "specs/overrides/o.yaml", overrides("env", "prod", "  km: {scale: 2, limit: 0.1}\n"))
    specset, diags = load_specs([tmp_path / "specs"])
    assert diags == [] and check_overrides(specset) == []


def test_an_open_upper_bound_rejects_its_own_endpoint():
    from engine.spec.bounds import Bounds

    below_one = Bounds(0, 1, hi_open=True)
    assert not below_one.contains(1.0) and below_one.contains(0.999999)
    assert Bounds(0, 1).contains(1.0) and not Bounds(0, 1).contains(1 + 1e-7)


def test_check_overrides(tmp_path):
    write(tmp_path, "specs/kill/km.yaml", PARAMS.replace("default: 3, min: 1", "default: 0, min: 1"))
    write(tmp_path, "specs/overrides/o.yaml", overrides("env", "prod",
          "  kmm: {limit: 0.02}\n  km:\n    limt: 0.02\n    limit: 0.5\n    cooldown: 30s\n    losses: 2.5\n"))
    specset, diags = load_specs([tmp_path / "specs"])
    assert diags == []
    found_ = found(check_overrides(specset))
    # A bad value is reported at the value, with the parameter's real bounds and a value inside them.
    assert found_ == [("PARAM_BOUNDS", "km.yaml:7:32"), ("UNRESOLVED_OVERRIDE", "o.yaml:5:3"),
                      ("UNRESOLVED_OVERRIDE", "o.yaml:7:5"), ("PARAM_BOUNDS", "o.yaml:8:12"),
                      ("PARAM_BOUNDS", "o.yaml:9:15"), ("PARAM_BOUNDS", "o.yaml:10:13")]
    diags = check_overrides(specset)
    hints = [d.hint for d in diags]
    assert hints[1] == "did you mean `km`?" and hints[2] == "did you mean `limit`?"
    assert diags[0].message == "default of `km.losses` `0` is out of bounds: it must be at least 1"
    assert diags[0].hint == "write an integer of at least 1, e.g. 1"
    assert diags[3].message == "`km.limit` `0.5` is out of bounds: it must be from 0 to 0.1"
    assert diags[3].hint.startswith("write a fraction from 0 to 0.1, e.g. 0.05 (declared at ")
    assert diags[4].hint.startswith("write a duration of at least 1m, e.g. 15m (declared at ")
    assert diags[5].message == "`km.losses` must be an integer of at least 1, not the number `2.5`"


class RiskDoc(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    max_leverage: float


@pytest.fixture
def risk_kind(monkeypatch):
    """`risk` validated by RiskDoc for one test; the model cache must not leak it to others."""
    monkeypatch.setitem(documents.DOCUMENT_KINDS, "risk", f"{__name__}:RiskDoc")
    documents.document_model.cache_clear()
    yield
    documents.document_model.cache_clear()


def test_registered_document_kinds(tmp_path, risk_kind):
    write(tmp_path, "specs/risk/risk.yaml", "kind: risk\nname: limits\nmax_leverage: 3\n")
    write(tmp_path, "specs/risk/bad.yaml", "kind: risk\nname: bad\nmax_levrage: 3\n")
    specset, diags = load_specs([tmp_path / "specs"])
    assert specset.extra["limits"] == RiskDoc(name="limits", max_leverage=3.0)
    assert found(diags) == [("SCHEMA_MISSING", "bad.yaml:1:1"), ("SCHEMA_UNKNOWN_KEY", "bad.yaml:3:1")]
    _, diags = load_specs([write(tmp_path, "x.yaml", "kind: rsk\n")])
    assert diags[0].hint == "did you mean `risk`?"


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("15m", 900), ("2h", 7200), ("7d", 604800),
                                          ("1w", 604800), ("1h30m", 5400), ("1.5h", 5400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "15 m", "m", "30m1h", "1m1m", "-1m", "15min"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("text, at, message, hint", [
    ("kind: kill\nstates:\n\ta: {}\n", (3, 1), "a tab in indentation", "indent with spaces"),
    ("kind: kill\nstates:\n  a: {}\n  \tb: {}\n", (4, 3), "a tab in indentation", "indent with spaces"),
    ('kind: kill\ndescription: "never closed\nstates:\n  a: {}\n', (2, 14),
     "this quote is never closed (the text ends at line 5)", "close the quote"),
    ("kind: kill\nstates: {a: {final: yes}}\n", (2, 21), "unquoted `yes` is read as a boolean",
     "write true or false"),
])
def test_yaml_errors_name_the_cause_where_it_is(tmp_path, text, at, message, hint):
    (tmp_path / "m.yaml").write_text(text)
    d = load_specs([tmp_path / "m.yaml"])[1][0]
    assert (d.pos.line, d.pos.col) == at and message in d.message and hint in d.hint
