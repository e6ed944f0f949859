"""What lifts the kill switch (engine/suggest.py) reads `opens_risk` as the run does
(Session.entries_allowed, Instance.has_tag): a state enclosing the active leaf may carry it. Read
from the state's own tags only, a nested kill spec said the switch was engaged in a state that
allows entries, and that no command lifts it from `halted`."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine import suggest
from engine.runtime import BoundMachine, default_registry
from engine.spec.loader import load_machine

NESTED = """\
kind: kill
name: kill_modes
version: 1
description: Entries allowed anywhere under `trading` (docs/interpreter.md's restricted{close_only, flatten_all}).
events:
  tripped: {description: A tripwire.}
  manual_resume: {description: Operator command `resume`.}
  manual_halt: {description: Operator command `halt`.}
commands:
  resume: {event: manual_resume, description: Allow entries again.}
  halt: {event: manual_halt, description: Stop trading.}
states:
  trading:
    initial: true
    description: Entries allowed.
    tags: [opens_risk]
    states:
      normal: {initial: true, description: Calm.}
      cautious: {description: Careful.}
  restricted:
    description: No new entries.
    states:
      close_only: {initial: true, description: Exits only.}
      flatten_all: {description: Closing everything.}
  halted:
    description: Trading stopped.
transitions:
  - {event: tripped, source: trading, target: restricted}
  - {event: manual_halt, source: "*", target: halted}
  - {event: manual_resume, source: restricted, target: trading}
  - {event: manual_resume, source: halted, target: cautious}
"""


@pytest.fixture
def kill(tmp_path: Path):
    path = tmp_path / "kill_modes.yaml"
    path.write_text(NESTED)
    return load_machine(path)


def test_a_state_under_a_tagged_parent_allows_entries(kill) -> None:
    assert suggest.kill_engaged(kill, "normal") == suggest.kill_engaged(kill, "cautious") == ""
    assert "`restricted`" not in suggest.kill_engaged(kill, "close_only")
    assert suggest.kill_engaged(kill, "close_only").startswith("the kill switch is still engaged (kill mode `close_only`)")


def test_a_command_into_a_leaf_under_a_tagged_parent_lifts_the_switch(kill) -> None:
    assert suggest.kill_release(kill, "halted") == ["resume"]  # into `cautious`
    assert suggest.kill_release(kill, "flatten_all") == ["resume"]  # into `trading`, entering `normal`


def test_engaged_exactly_where_the_run_refuses_entries(kill) -> None:
    bound = BoundMachine.build(kill, default_registry)
    for leaf in bound.leaves:
        assert (suggest.kill_engaged(kill, leaf) == "") == ("opens_risk" in bound.tags[leaf]), leaf
