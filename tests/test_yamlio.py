"""YAML front end: positions, and each YAML_* diagnostic at its exact file:line:col."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.diagnostics import Pos
from engine.spec import yamlio
from engine.spec.yamlio import parse_yaml


@pytest.fixture(params=["libyaml", "pure"], autouse=True)
def parser(request, monkeypatch):
    """Every test runs on both composers: libyaml (ruamel.yaml.clib) and the pure-Python fallback."""
    if request.param == "pure":
        monkeypatch.setattr(yamlio, "CSafeLoader", None)
    elif yamlio.CSafeLoader is None:
        pytest.skip("ruamel.yaml.clib is not installed")
    return request.param


def codes(text: str) -> list[tuple[str, str]]:
    _, diags = parse_yaml(text, "f.yaml")
    return [(d.code, str(d.pos)) for d in diags]


def test_plain_data_and_positions():
    text = "a:\n  b: [1, 'x']\n  c: {d: 2.5, e: true}\nf: null\n"
    doc, diags = parse_yaml(text, "f.yaml")
    assert diags == []
    assert doc.data == {"a": {"b": [1, "x"], "c": {"d": 2.5, "e": True}}, "f": None}
    assert doc.pos_of(("a",)) == Pos("f.yaml", 2, 3)  # a block mapping starts at its first key
    assert doc.key_pos_of(("a",)) == Pos("f.yaml", 1, 1)
    assert doc.pos_of(("a", "b", 1)) == Pos("f.yaml", 2, 10)  # the opening quote
    assert doc.content_pos_of(("a", "b", 1)) == Pos("f.yaml", 2, 11)  # past it
    assert doc.key_pos_of(("a", "c", "e")) == Pos("f.yaml", 3, 15)
    assert doc.pos_of(("a", "c", "e")) == Pos("f.yaml", 3, 18)
    # a missing path resolves to its deepest existing ancestor
    assert doc.pos_of(("a", "c", "nope", 3)) == doc.pos_of(("a", "c"))


def test_empty_document():
    doc, diags = parse_yaml("# nothing\n", "f.yaml")
    assert diags == [] and doc.data is None and doc.pos_of(()) == Pos("f.yaml", 1, 1)


@pytest.mark.parametrize("text,where", [
    ("a: [1, 2\nb: 3\n", "f.yaml:2:2"),
    ("a: b: c\n", "f.yaml:1:5"),
    ("a:\n  - 1\n b: 2\n", "f.yaml:3:2"),
    ("a: 1\n---\nb: 2\n", "f.yaml:2:1"),
    ("a: !custom x\n", "f.yaml:1:4"),
])
def test_syntax_errors_have_the_parser_position(text, where):
    assert codes(text) == [("YAML_SYNTAX", where)]


@pytest.mark.parametrize("text,says", [
    ("a: 1\nb: !!int abc\n", "`abc` cannot be read as a YAML int"),
    ("a: 1\nb: !!float x\n", "`x` cannot be read as a YAML float"),
    ("a: 1\nb: !!bool maybe\n", "`maybe` cannot be read as a YAML bool"),
    ("a: 1\nb: " + "9" * 5000 + "\n", "an integer of 5000 digits is too long"),
])
def test_a_scalar_the_constructor_cannot_read_is_a_syntax_error_at_it(text, says):
    """These were INTERNAL ("a bug in the loader") at 1:1: the constructor's ValueError or
    KeyError names no place."""
    _, diags = parse_yaml(text, "f.yaml")
    assert [(d.code, str(d.pos)) for d in diags] == [("YAML_SYNTAX", "f.yaml:2:4")] and says in diags[0].message


def test_every_duplicate_key_is_reported_at_its_second_occurrence():
    text = "a: 1\nb:\n  x: 1\n  x: 2\na: 3\n"
    doc, diags = parse_yaml(text, "f.yaml")
    assert [(d.code, str(d.pos)) for d in diags] == [
        ("YAML_DUPLICATE_KEY", "f.yaml:4:3"), ("YAML_DUPLICATE_KEY", "f.yaml:5:1")]
    assert "line 3" in diags[0].hint and "line 1" in diags[1].hint
    assert doc.data == {"a": 1, "b": {"x": 1}}  # the first definition is kept


@pytest.mark.parametrize("text,where", [
    ("on: 1\n", "f.yaml:1:1"),
    ("a: yes\n", "f.yaml:1:4"),
    ("a: OFF\n", "f.yaml:1:4"),
    ("a: [x, N]\n", "f.yaml:1:8"),
    ("mode: 0755\n", "f.yaml:1:7"),
    ("t: 1:30\n", "f.yaml:1:4"),
    ("t: 190:20:30.15\n", "f.yaml:1:4"),
])
def test_yaml_11_implicit_scalars(text, where):
    _, diags = parse_yaml(text, "f.yaml")
    assert [(d.code, str(d.pos)) for d in diags] == [("YAML_IMPLICIT_SCALAR", where)]
    assert "quote" in diags[0].hint


@pytest.mark.parametrize("text", ['"on": 1\n', "a: 'yes'\n", 'a: "0755"\n', "a: true\n", "a: 0\n",
                                  "a: 10\n", "a: 15m\n", "a: 0.5\n", "a: 'off'\n", "a: |\n  on\n"])
def test_quoted_and_unambiguous_scalars_pass(text):
    assert codes(text) == []


def test_a_few_aliases_and_merge_keys_are_fine():
    text = ("base: &b {u: 1, v: 2}\n"
            "one: *b\n"
            "two:\n  <<: *b\n  v: 3\n")
    doc, diags = parse_yaml(text, "f.yaml")
    assert diags == []
    assert doc.data["one"] == {"u": 1, "v": 2}
    assert doc.data["two"] == {"u": 1, "v": 3}
    assert doc.pos_of(("two", "v")) == Pos("f.yaml", 5, 6)
    assert doc.pos_of(("two", "u")) == Pos("f.yaml", 1, 14)  # merged: where it was written


def test_billion_laughs_fails_before_expanding():
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghi":  # 9**9 nodes when expanded, with only 72 aliases
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
        prev = name
    doc, diags = parse_yaml("\n".join(lines) + "\n", "bomb.yaml")
    assert doc is None
    assert [d.code for d in diags] == ["YAML_ALIAS_LIMIT"]


def test_more_than_100_aliases():
    text = "a: &a x\nb: [" + ", ".join(["*a"] * 101) + "]\n"
    doc, diags = parse_yaml(text, "f.yaml")
    assert doc is None and [(d.code, str(d.pos)) for d in diags] == [("YAML_ALIAS_LIMIT", "f.yaml:1:4")]
    assert parse_yaml("a: &a x\nb: [" + ", ".join(["*a"] * 100) + "]\n", "f.yaml")[1] == []


def test_recursive_alias():
    assert codes("a: &a [1, *a]\n") == [("YAML_ALIAS_LIMIT", "f.yaml:1:4")]


def test_not_utf8():
    text, diags = yamlio.decode(b"a: 1\nb: \xff\n", "f.yaml")
    assert text is None and [(d.code, str(d.pos)) for d in diags] == [("YAML_SYNTAX", "f.yaml:2:4")]


@given(st.text(alphabet=st.sampled_from(list("ab: -[]{}&*!|>'\"#\n\t0o1yes,?%@`")), max_size=60))
def test_never_raises(text):
    doc, diags = parse_yaml(text, "f.yaml")
    assert doc is not None or diags


def test_an_undefined_alias_is_named_with_the_anchor_it_was_meant_for():
    """rev33: the parser's message names no alias, and the hint spoke of indentation."""
    _, [d] = parse_yaml("a: &announce_flatten {x: 1}\nb: [*announce_flatten]\nc: [1, *announce_flattn]\n", "f.yaml")
    assert (d.code, str(d.pos)) == ("YAML_SYNTAX", "f.yaml:3:8")
    assert d.message == "invalid YAML: `*announce_flattn` names no anchor: no `&announce_flattn` is defined before it"
    assert d.hint == "did you mean `announce_flatten`?"
