"""The owned specs validate clean: no error and no warning from the linter."""
from engine.spec.lint import lint


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
