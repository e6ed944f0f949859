"""slot_init: the frozen domain and venue types keep the dataclass's constructor contract
(signature, defaults, values, frozen, eq and hash) with their faster __init__."""
from __future__ import annotations

import inspect
from dataclasses import FrozenInstanceError, dataclass, field, fields

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.base import OpenOrder, VenueEvent, VenueReport
from engine.domain import Bar, Fill, Instrument, OrderRequest, Quote, slot_init

TYPES = [Bar, Quote, Instrument, OrderRequest, Fill, VenueEvent, VenueReport, OpenOrder]


def twins():
    """The same dataclass twice: as dataclasses builds it, and with slot_init."""
    def build():
        @dataclass(frozen=True, slots=True)
        class T:
            a: str
            b: float
            c: float | None = None
            d: tuple = ()
            e: dict = field(default_factory=dict)
        return T
    return build(), slot_init(build())


@pytest.mark.parametrize("cls", TYPES)
def test_the_init_has_the_dataclass_signature(cls):
    params = list(inspect.signature(cls).parameters.values())
    assert [p.name for p in params] == [f.name for f in fields(cls)]
    for p, f in zip(params, fields(cls)):
        if f.default_factory is not field().default_factory:  # a factory: a fresh value per instance
            assert repr(p.default) == "<factory>"
        else:
            assert p.default == (inspect.Parameter.empty if f.default is field().default else f.default)


@given(st.text(), st.floats(allow_nan=False), st.none() | st.floats(allow_nan=False),
       st.lists(st.integers()).map(tuple), st.dictionaries(st.text(), st.integers()))
def test_slot_init_builds_what_the_dataclass_init_builds(a, b, c, d, e):
    plain, fast = twins()
    for args, kwargs in [((a, b), {}), ((a, b, c, d, e), {}), ((a,), {"b": b, "e": e}), ((), {"a": a, "b": b, "d": d})]:
        want, got = plain(*args, **kwargs), fast(*args, **kwargs)
        assert [getattr(got, f.name) for f in fields(fast)] == [getattr(want, f.name) for f in fields(plain)]
        assert got == fast(*args, **kwargs) and repr(got) == repr(want)
    assert fast(a, b).e is not fast(a, b).e  # the factory runs per instance
    with pytest.raises(TypeError):
        fast(a)  # b is required
    with pytest.raises(TypeError):
        fast(a, b, c, d, e, "one too many")


def test_the_types_stay_frozen():
    r = VenueReport("c", None, reason="x")
    with pytest.raises(FrozenInstanceError):
        r.reason = "y"  # type: ignore[misc]
    assert r == VenueReport("c", None, (), "x") and hash(r) == hash(VenueReport("c", None, (), "x"))


def test_slot_init_refuses_what_it_does_not_build():
    @dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclass(frozen=True, slots=True)
    class KwOnly:
        a: int = field(kw_only=True)

    for cls in (NoSlots, KwOnly):
        with pytest.raises(TypeError):
            slot_init(cls)


def test_final_statuses_are_the_ones_no_report_follows():
    from adapters.base import ReportStatus as S

    assert {s for s in S if s.is_final} == {S.REJECTED, S.FILLED, S.CANCELED, S.EXPIRED}
