"""The owned specs validate clean: no error and no warning from the linter."""
from pathlib import Path

import pytest

from engine.spec.lint import lint

SPECS = Path(__file__).resolve().parents[2] / "specs"


def test_specs_lint_clean(specset):
    assert [d.text() for d in lint(specset)] == []


def test_every_machine_is_present(specset):
    assert set(specset.machines) == {"rollout", "model_promotion", "kill_modes", "order", "bracket",
                                     "futures_roll", "option_expiry"}


def test_every_non_kill_machine_answers_every_broadcast(specset):
    broadcasts = set(specset.machines["kill_modes"].broadcasts)
    assert broadcasts == {"kill_close_only", "kill_flatten", "kill_halt", "kill_resume"}
    for m in specset.machines.values():
        if m.kind == "kill":
            continue
        handled = {t.event for t in m.transitions}
        assert broadcasts <= handled | set(m.ignores), m.name


def _without(text: str, start: str, end: str) -> str:
    i = text.index(start)
    return text[:i] + text[text.index(end, i + len(start)):]


@pytest.mark.parametrize("file, start, end, code", [
    # rev26: each of these edits passed validate and left an order or a position in a bad state
    ("futures_roll.yaml", "  - event: expiry_reached\n    source: rolling\n",
     "  - event: expiry_reached\n    source: closing\n", "CHECK_MUST_HANDLE"),  # unsettled past expiry
    ("option_expiry.yaml", "  - event: expiry_reached\n    source: &held [holding, closing]\n    target: unwinding\n",
     "  - event: position_closed\n", "CHECK_MUST_HANDLE"),  # no expiry at all: held past it
    ("order.yaml", "  - event: ack_timeout\n    source: SUBMITTED\n",
     "  # The request that went unanswered", "UNHANDLED_RAISE"),  # waits in SUBMITTED for ever
])
def test_validate_refuses_a_shipped_machine_that_would_leave_a_position_unhandled(tmp_path, file, start, end, code):
    import shutil

    from engine.commands.validate import validate

    tree = tmp_path / "specs"
    shutil.copytree(SPECS, tree)
    path = tree / "orders" / file
    path.write_text(_without(path.read_text(), start, end))
    diags, _ = validate([str(tree)])
    assert code in {d.code for d in diags}, [d.text() for d in diags]
