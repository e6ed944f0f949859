"""Registry, missing implementations, audit sinks and clocks."""
from __future__ import annotations

import dataclasses
import json

import pytest

from engine.diagnostics import Pos
from engine.runtime import (FanoutSink, JsonlSink, ListSink, NullSink, Record, Registry, ReplayClock,
                            WallClock, missing_implementations)
from engine.runtime import registry as registry_mod
from engine.runtime.audit import AuditGap, record_from, trail_gap
from engine.spec.ir import Catalogue, CatalogueEntry, SpecSet
from runtime_support import build, log

P = Pos("catalogue.yaml", 1, 1)


def test_decorators_register_and_a_second_provider_is_refused():
    reg = Registry()

    @reg.guard("in_session")
    def in_session(ts: float) -> bool:
        return True

    assert reg.guards["in_session"] is in_session
    reg.guard("in_session")(in_session)  # re-import of the same function: fine
    with pytest.raises(ValueError, match="already provided"):
        reg.guard("in_session")(lambda ts: False)
    with pytest.raises(ValueError, match="built-in"):
        reg.action("assign")


def specset() -> SpecSet:
    m = build({"a": {"initial": True, "entry": [log("x"), "train"]}, "b": {}},
              [{"event": "e", "source": "a", "target": "b", "guard": "in_session(1.0) and abs(-1) > 0"}])
    cat = Catalogue(guards={"in_session": CatalogueEntry("in_session", "guard", "risk", P)},
                    actions={n: CatalogueEntry(n, "action", p, P)
                             for n, p in (("log", "engine"), ("train", "rl"), ("unused", "state"))})
    return SpecSet(machines={"m": m}, catalogue=cat)


def test_missing_implementations_imports_only_used_providers_and_tolerates_import_errors(monkeypatch):
    imported = []

    def fake_import(module: str):
        imported.append(module)
        if module == "rl.actions":
            raise ImportError("No module named 'torch'")

    monkeypatch.setattr(registry_mod.importlib, "import_module", fake_import)
    reg = Registry()
    reg.action("log")(lambda ctx, tag: None)
    assert missing_implementations(specset(), reg) == ["in_session", "train"]
    assert sorted(imported) == ["engine.actions", "engine.risk.actions", "rl.actions"]  # not state
    reg.guard("in_session")(lambda ts: True)
    reg.action("train")(lambda ctx: None)
    assert missing_implementations(specset(), reg) == []


def test_import_providers_reports_why():
    errors = registry_mod.import_providers(["nonsense"])
    assert "unknown provider" in errors["nonsense"]


def record(**kw) -> Record:
    base = dict(machine="m", instance_id="i", source="a", target="b", event="e",
                guard_inputs={"kpi.x": {"y": (1, 2)}}, time=1.5, spec_hash="h", kind="transition")
    return Record(**{**base, **kw})


def test_records_are_plain_data():
    d = record().as_dict()
    assert d["guard_inputs"] == {"kpi.x": {"y": [1, 2]}} and json.loads(json.dumps(d)) == d
    with pytest.raises(AttributeError):
        record().kind = "x"  # type: ignore[misc]


def test_jsonl_and_fanout_sinks(tmp_path):
    path = tmp_path / "audit.jsonl"
    mem = ListSink()
    with JsonlSink(path, fsync=True) as js:
        sink = FanoutSink(js, mem, NullSink())
        sink.write(record())
        sink.write(record(kind="unhandled", target=None))
        sink.flush()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["transition", "unhandled"] and len(mem.records) == 2
    assert lines[0] == record().as_dict()


@pytest.mark.parametrize("fsync", [False, True])
def test_jsonl_sink_resumes_at_a_checkpoint_mark(tmp_path, fsync):
    """A crash leaves records after the last checkpoint's mark on disk (always with fsync,
    with a full buffer otherwise); the resumed run re-makes them, so the trail is cut back to
    the mark and the crashed tail kept aside, never deleted."""
    path = tmp_path / "audit.jsonl"
    js = JsonlSink(path, fsync=fsync)
    js.write(record(event="before"))
    mark = js.mark()
    js.write(record(event="after"))
    js.flush()  # what reached the disk before the crash (the process dies without closing)
    with JsonlSink(path, fsync=fsync) as resumed:
        resumed.resume_at(mark)
        resumed.write(record(event="again"))
    assert [json.loads(x)["event"] for x in path.read_text().splitlines()] == ["before", "again"]
    assert [json.loads(x)["event"] for x in (tmp_path / "audit.jsonl.after-crash").read_text().splitlines()] == ["after"]
    js.close()


def test_jsonl_sink_writes_its_lines_on_flush_mark_a_full_spill_or_collection(tmp_path, monkeypatch):
    """Lines gather in memory and reach the file where a 1 MiB file buffer would have put them:
    on flush, on mark, once _SPILL bytes are gathered, and when the sink is collected unclosed."""
    import gc

    from engine.runtime import audit

    path = tmp_path / "audit.jsonl"
    js = JsonlSink(path)
    js.write(record(event="e1"))
    assert path.read_bytes() == b""
    js.flush()
    size = len(path.read_bytes())
    js.write(record(event="e2"))
    assert js.mark() == len(path.read_bytes()) == 2 * size
    js.write(record(event="e3"))
    del js
    gc.collect()
    assert [json.loads(x)["event"] for x in path.read_text().splitlines()] == ["e1", "e2", "e3"]
    monkeypatch.setattr(audit, "_SPILL", 2 * size)
    with JsonlSink(path) as small:
        small.write(record(event="e4"))
        assert len(path.read_bytes()) == 3 * size
        small.write(record(event="e5"))
        assert len(path.read_bytes()) == 5 * size
    with JsonlSink(path, fsync=True) as synced:
        synced.write(record(event="e6"))
        assert len(path.read_bytes()) == 6 * size


def test_jsonl_sink_refuses_a_trail_shorter_than_its_mark(tmp_path):
    path = tmp_path / "audit.jsonl"
    with JsonlSink(path) as js:
        js.write(record())
        mark = js.mark()
    path.write_bytes(path.read_bytes()[:-5])
    with JsonlSink(path) as js, pytest.raises(AuditGap, match="lost records"):
        js.resume_at(mark)


def test_trail_gap_is_the_one_rule_of_a_trail_shorter_than_its_mark(tmp_path):
    """`engine run --resume` checks it before anything is written, resume_at when it cuts: same rule, same words."""
    path = tmp_path / "audit.jsonl"
    assert trail_gap(path, 0) is None  # no trail and a mark at 0: nothing lost
    assert trail_gap(path, 10) == (f"{path} has 0 bytes but the saved run's last checkpoint covers 10: the audit "
                                   "trail lost records (was it moved, cut or replaced?)")
    path.write_bytes(b"x" * 2000)
    assert trail_gap(path, 2000) is trail_gap(path, 1999) is None
    assert trail_gap(path, 2001).startswith(f"{path} has 2,000 bytes but the saved run's last checkpoint covers 2,001")
    with JsonlSink(path) as js, pytest.raises(AuditGap) as e:
        js.resume_at(2001)
    assert str(e.value).startswith(trail_gap(path, 2001) + "; resume refused")


def test_record_from_makes_the_same_record(tmp_path):
    """The interpreter's shortcut past the frozen __init__: equal records, equal JSON lines,
    still frozen, still a dataclass."""
    kw = dict(machine="m", instance_id="i", source="a", target=None, event="e",
              guard_inputs={"kpi.x": 1.5, "n": None}, time=2.25, spec_hash="h", kind="transition", reason="r")
    fast, slow = record_from(dict(kw)), Record(**kw)
    assert fast == slow and dataclasses.astuple(fast) == dataclasses.astuple(slow)
    with pytest.raises(AttributeError):
        fast.kind = "x"  # type: ignore[misc]
    with JsonlSink(tmp_path / "a.jsonl") as js:
        js.write(fast)
        js.write(slow)
        js.write(record(guard_inputs={1: (2, 3)}))  # a non-str key: written with OPT_NON_STR_KEYS
    first, second, third = (tmp_path / "a.jsonl").read_bytes().splitlines()
    assert first == second and json.loads(third)["guard_inputs"] == {"1": [2, 3]}


def test_clocks():
    c = ReplayClock(10)
    c.advance(5)
    c.set(20)
    assert c.now() == 20
    with pytest.raises(ValueError):
        c.set(19)
    with pytest.raises(ValueError):
        c.advance(-1)
    assert WallClock().now() > 1.6e9
