"""rollout: stages and their domains, gate then operator confirmation, demotion on a kill."""
import pytest

DOMAINS = {
    "stage_1": dict(crypto_spot="paper", crypto_perp="off", forex="off", forex_options="off"),
    "stage_2": dict(crypto_spot="live", crypto_perp="off", forex="off", forex_options="off"),
    "stage_3": dict(crypto_spot="live", crypto_perp="paper", forex="paper", forex_options="off"),
    "stage_4": dict(crypto_spot="live", crypto_perp="paper", forex="live", forex_options="paper"),
    "stage_5": dict(crypto_spot="live", crypto_perp="live", forex="live", forex_options="paper"),
    "stage_5_options_live": dict(crypto_spot="live", crypto_perp="live", forex="live", forex_options="live"),
}
GATES = [("crypto_spot", "candidate"), ("crypto_spot", "canary"), ("forex", "candidate"),
         ("crypto_perp", "candidate"), ("forex_options", "candidate")]


def started(machine, stage: int = 1):
    """A rollout activated as `engine run --stage N` does."""
    r = machine("rollout")
    assert r.state == "inactive" and not r.called("apply_stage")
    r.send("activate", stage=stage)
    return r


def test_activate_enters_the_requested_stage(machine):
    for n in range(1, 6):
        r = started(machine, n)
        assert (r.state, r.ctx["stage"]) == (f"stage_{n}", n)
    r = started(machine, 1)
    r.send("activate", stage=3)  # already active: a second activation changes nothing
    assert r.state == "stage_1"


def promote(r, domain, phase):
    r.send("gate_passed", domain=domain, phase=phase)
    assert r.inst.has_tag("awaiting_operator")
    r.send("operator_confirmed")


def test_domains_per_stage_follow_seed_001(specset):
    states = specset.machines["rollout"].states
    for stage, domains in DOMAINS.items():
        assert dict(states[stage].attrs["domains"]) == domains, stage
    for n in range(1, 6):
        assert states[f"stage_{n}"].gate == "model_promotion"


def test_gate_passes_then_waits_for_the_operator(machine):
    r = started(machine)
    assert r.called("apply_stage")[0]["paper_wallet_usd"] == 1000
    r.send("gate_passed", domain="forex", phase="candidate")  # not this stage's gate
    assert r.state == "stage_1"
    r.send("gate_passed", domain="crypto_spot", phase="candidate")
    assert r.state == "confirm_stage_2"
    r.wait(3600)
    assert r.state == "confirm_stage_2"  # no automatic promotion into live
    r.send("operator_confirmed")
    assert (r.state, r.ctx["stage"]) == ("stage_2", 2)
    assert r.states() == ["inactive", "stage_1", "confirm_stage_2", "stage_2"]


def test_all_the_way_to_options_live(machine):
    r = started(machine)
    for domain, phase in GATES:
        promote(r, domain, phase)
    assert r.states() == ["inactive", "stage_1", "confirm_stage_2", "stage_2", "confirm_stage_3", "stage_3",
                          "confirm_stage_4", "stage_4", "confirm_stage_5", "stage_5",
                          "confirm_options_live", "stage_5_options_live"]
    assert len(r.called("apply_stage")) == 6


def test_a_lapsed_or_declined_confirmation_stays_in_the_stage(machine):
    r = started(machine)
    r.send("gate_passed", domain="crypto_spot", phase="candidate")
    r.wait(r.params["confirmation_timeout"])
    assert r.state == "stage_1"
    r.send("gate_passed", domain="crypto_spot", phase="candidate")
    r.send("operator_rejected")
    assert r.state == "stage_1"


def test_no_promotion_while_the_kill_switch_is_engaged(machine):
    r = started(machine)
    r.send("kill_close_only")
    r.send("gate_passed", domain="crypto_spot", phase="candidate")
    assert r.state == "stage_1"
    r.send("kill_resume")
    r.send("gate_passed", domain="crypto_spot", phase="candidate")
    r.send("kill_close_only")
    r.send("operator_confirmed")
    assert r.state == "confirm_stage_2"


@pytest.mark.parametrize("kill", ["kill_flatten", "kill_halt"])
def test_a_kill_demotes_and_only_the_operator_reinstates(machine, kill):
    r = started(machine)
    for domain, phase in GATES[:3]:
        promote(r, domain, phase)
    assert r.state == "stage_4"
    r.send(kill)
    assert r.state == "demoted" and not r.inst.has_tag("live")
    r.send("operator_confirmed")  # the kill switch has not resumed yet
    assert r.state == "demoted"
    assert r.called("record_rejection")
    r.send("kill_resume")
    assert r.state == "demoted"  # a resume alone does not go live again
    r.send("operator_confirmed")
    assert r.state == "stage_4"


def test_kill_broadcasts_reach_the_rollout(machine):
    """A host relays the kill machine's broadcasts; the rollout demotes on the flatten."""
    k, r = machine("kill_modes"), started(machine)
    promote(r, "crypto_spot", "candidate")
    broadcasts = set(k.bound.machine.broadcasts)
    records = k.send("risk_update", inputs={"pnl": {"daily_loss": 0.0, "drawdown": 0.11}})
    for rec in records:
        if rec.event in broadcasts:
            r.send(rec.event)
    assert k.state == "flatten_all" and r.state == "demoted"
