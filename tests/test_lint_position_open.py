"""POSITION_UNTAGGED: every bracket state a position is held in carries `position_open`, the tag
max-hold exits go by (engine/spec/lint/position_open.py). Cases from the rev23 review: a state
reached after the fill, a state already leaving, a misspelt tag on an enclosing state."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.commands.validate import validate

BRACKET = """\
kind: orders
name: bracket
version: 1
events:
  entry_fill: {payload: {qty: float, price: float}}
  exit: {payload: {reason: str}}
  price_update: {payload: {price: float}}
  position_closed: {}
states:
  entry_working: {initial: true}
  protected: {tags: [position_open]}
  trailing: {tags: [position_open]}
  flattening: {}
  closed: {final: true}
transitions:
  - {event: entry_fill, source: entry_working, target: protected}
  - {event: entry_fill, source: [protected, trailing]}
  - {event: price_update, source: protected, target: trailing}
  - {event: exit, source: [entry_working, protected, trailing], target: flattening}
  - {event: exit, source: flattening}
  - {event: entry_fill, source: flattening}
  - {event: position_closed, source: flattening, target: closed}
"""


def _found(tmp_path: Path, text: str) -> list[str]:
    """Every diagnostic of the bracket alone: none but the rule's, so a case that fails to load
    cannot pass for one the rule accepts."""
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "bracket.yaml").write_text(text)
    diags, _ = validate([str(tmp_path)])
    return [f"{d.code} {d.pos.line}:{d.pos.col} {d.hint}" for d in diags]


def _edit(*pairs: tuple[str, str]) -> str:
    text = BRACKET
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


@pytest.mark.parametrize("text", [
    BRACKET,
    # The exit from `*`; flattening's own targetless exit is the one that fires there, so a late
    # entry fill moving the bracket into flattening does not make it a state the exit leaves.
    _edit(("source: [entry_working, protected, trailing], target: flattening", 'source: "*", target: flattening'),
          ("{event: entry_fill, source: flattening}", "{event: entry_fill, source: flattening, target: flattening}")),
    # An exit back into the state itself leaves nothing.
    _edit(("  flattening: {}\n", "  flattening: {}\n  hedged: {}\n"),
          ("{event: entry_fill, source: [protected, trailing]}",
           "{event: entry_fill, source: protected}\n  - {event: entry_fill, source: trailing, target: hedged}"),
          ("  - {event: exit, source: flattening}\n",
           "  - {event: exit, source: flattening}\n  - {event: exit, source: hedged, target: hedged}\n"
           "  - {event: position_closed, source: hedged, target: closed}\n")),
    # The tag on an enclosing state covers its children.
    _edit(("  protected: {tags: [position_open]}\n  trailing: {tags: [position_open]}\n",
           "  holding:\n    tags: [position_open]\n    states:\n      protected: {initial: true}\n"
           "      trailing: {}\n")),
], ids=["tagged", "exit_shadowed_where_leaving", "exit_into_itself", "tag_on_parent"])
def test_no_finding_where_every_held_position_is_tagged(tmp_path: Path, text: str) -> None:
    assert _found(tmp_path, text) == []


def test_a_state_reached_after_the_fill_is_asked_too(tmp_path: Path) -> None:
    """`trailing` is entered on a price update, not a fill: its positions went past max_hold."""
    text = _edit(("  trailing: {tags: [position_open]}", "  trailing: {}"))
    assert _found(tmp_path, text) == ["POSITION_UNTAGGED 12:3 add `position_open` to its `tags:`"]


def test_a_misspelt_tag_on_an_enclosing_state_is_reported_once_where_it_is_written(tmp_path: Path) -> None:
    text = _edit(("  protected: {tags: [position_open]}\n  trailing: {tags: [position_open]}\n",
                  "  holding:\n    tags: [position_opn]\n    states:\n      protected: {initial: true}\n"
                  "      trailing: {}\n"))
    assert _found(tmp_path, text) == ["POSITION_UNTAGGED 12:12 did you mean `position_open`?"]
