"""kill_modes: losing streak -> cooldown, daily loss -> close-only, drawdown and manual flatten."""
import pytest

OK = {"pnl": {"daily_loss": 0.0, "drawdown": 0.0}}


def pnl(daily_loss: float = 0.0, drawdown: float = 0.0) -> dict:
    return {"pnl": {"daily_loss": daily_loss, "drawdown": drawdown}}


def raised(records) -> list[str]:
    """Broadcast events the kill machine raised (recorded as events it does not itself take)."""
    return [r.event for r in records if r.event.startswith("kill_")]


def test_three_losses_start_a_cooldown_that_ends_on_its_timer(machine):
    k = machine("kill_modes")
    assert k.inst.has_tag("opens_risk")
    k.send("trade_closed", pnl=-10.0)
    k.send("trade_closed", pnl=-5.0)
    assert (k.state, k.ctx["consecutive_losses"]) == ("normal", 2)
    k.send("trade_closed", pnl=-1.0)
    assert k.state == "cooldown"
    assert not k.inst.has_tag("opens_risk")
    k.wait(k.params["cooldown"] - 1)
    assert k.state == "cooldown"
    k.wait(1)
    assert k.state == "normal"
    assert k.states() == ["normal", "cooldown", "normal"]


def test_a_win_resets_the_losing_streak(machine):
    k = machine("kill_modes")
    k.send("trade_closed", pnl=-1.0)
    k.send("trade_closed", pnl=-1.0)
    k.send("trade_closed", pnl=3.0)
    k.send("trade_closed", pnl=-1.0)
    assert (k.state, k.ctx["consecutive_losses"]) == ("normal", 1)


def test_daily_loss_goes_close_only_until_the_next_day(machine):
    """Seed 000's daily stop: close-only at 3.5%, below the FTMO 5% limit."""
    k = machine("kill_modes")
    k.send("risk_update", inputs=pnl(daily_loss=0.0349))
    assert k.state == "normal"
    records = k.send("risk_update", inputs=pnl(daily_loss=0.035))
    assert k.state == "close_only" and k.ctx["tripped_by"] == "daily_loss"
    assert raised(records) == ["kill_close_only"]
    assert records[0].guard_inputs == {"pnl.daily_loss": 0.035, "params.daily_loss_limit": 0.035}
    assert not k.inst.has_tag("opens_risk")
    assert k.called("notify")
    records = k.send("day_rolled")
    assert k.state == "normal" and raised(records) == ["kill_resume"]


def test_stage_2_override_tightens_the_daily_loss_limit(machine):
    k = machine("kill_modes", stage=2)
    assert k.params["daily_loss_limit"] == 0.03
    k.send("risk_update", inputs=pnl(daily_loss=0.03))
    assert k.state == "close_only"


def test_manual_close_only_is_not_lifted_by_the_day_roll(machine):
    k = machine("kill_modes")
    k.send("manual_close_only")
    k.send("day_rolled")
    assert k.state == "close_only"
    k.send("manual_resume", inputs=OK)
    assert k.state == "normal"


def test_resume_is_refused_outside_the_limits(machine):
    k = machine("kill_modes")
    k.send("manual_halt")
    assert k.state == "halted"
    k.send("manual_resume", inputs=pnl(drawdown=0.10))
    assert k.state == "halted"
    k.send("manual_resume")  # no inputs: the guard errors and counts as false (fail closed)
    assert k.state == "halted"
    assert k.sink.records[-1].kind in ("guard_error", "unhandled")


def test_max_drawdown_flattens_then_halts(machine):
    k = machine("kill_modes")
    records = k.send("risk_update", inputs=pnl(daily_loss=0.06, drawdown=0.10))
    assert k.state == "flatten_all" and k.ctx["tripped_by"] == "max_drawdown"
    assert raised(records) == ["kill_flatten"]
    assert k.called("flatten_all") == [{}]
    k.wait(k.params["flatten_retry"])  # not flat yet: the flatten is sent again
    assert k.state == "flatten_all" and len(k.called("flatten_all")) == 2
    records = k.send("flattened")
    assert k.state == "halted" and raised(records) == ["kill_halt"]


def test_an_overdue_flatten_is_resent_every_period_and_announced_once_per_flatten(machine):
    """Each retry re-sends the flatten (flatten_all, kill_flatten) and counts itself; the operator
    hears that a flatten started and that it is overdue once each, not at every retry."""
    k = machine("kill_modes")
    k.send("manual_flatten")
    for n in range(3):
        records = k.wait(k.params["flatten_retry"])
        assert raised(records) == ["kill_flatten"] and records[0].guard_inputs == {"ctx.flatten_retries": n}
    assert len(k.called("flatten_all")) == 4 and k.ctx["flatten_retries"] == 3
    assert [a["text"] for a in k.called("notify")] == [
        "kill: flatten all, manual", "kill: flatten overdue, re-sending until the venues report flat"]
    k.send("flattened")
    assert (k.state, k.ctx["flatten_retries"]) == ("halted", 0)
    k.send("disaster")  # the next flatten is announced, and so is its own overdue
    k.wait(k.params["flatten_retry"])
    assert [a["text"] for a in k.called("notify")][-2:] == [
        "kill: flatten all, disaster", "kill: flatten overdue, re-sending until the venues report flat"]


@pytest.mark.parametrize("again", ["manual_flatten", "disaster"])
def test_a_flatten_started_during_an_overdue_one_is_announced_overdue_too(machine, again):
    """A new flatten counts its own retries: started while one is overdue, it is not silent."""
    k = machine("kill_modes")
    k.send("manual_flatten")
    k.wait(k.params["flatten_retry"])
    k.send(again)
    assert k.ctx["flatten_retries"] == 0
    k.wait(k.params["flatten_retry"])
    assert [a["text"] for a in k.called("notify")][-1] == "kill: flatten overdue, re-sending until the venues report flat"
    assert sum(a["text"].startswith("kill: flatten overdue") for a in k.called("notify")) == 2


@pytest.mark.parametrize("start", ["normal", "cooldown", "close_only", "halted"])
def test_manual_flatten_works_from_every_mode(machine, start):
    k = machine("kill_modes")
    if start == "cooldown":
        for _ in range(3):
            k.send("trade_closed", pnl=-1.0)
    elif start == "close_only":
        k.send("manual_close_only")
    elif start == "halted":
        k.send("manual_halt")
    assert k.state == start
    k.send("manual_flatten")
    assert k.state == "flatten_all" and k.ctx["tripped_by"] == "manual"


def test_disaster_and_fault(machine):
    k = machine("kill_modes")
    k.send("fault", reason="feed lost")
    assert k.state == "close_only" and k.ctx["tripped_by"] == "fault: feed lost"
    k.send("disaster")
    assert k.state == "flatten_all" and k.ctx["tripped_by"] == "disaster"


def test_only_normal_opens_risk(specset):
    m = specset.machines["kill_modes"]
    assert {n for n, s in m.states.items() if "opens_risk" in s.tags} == {"normal"}


@pytest.mark.parametrize("start", ["normal", "close_only"])
def test_the_ftmo_daily_limit_flattens_and_halts_until_an_operator_resumes(machine, start):
    """FTMO's 5% daily loss is the account's hard limit: past the 3.5% stop (entries already
    stopped) it flattens, then halts; the day roll lifts nothing, and an operator may resume only
    once the day's loss is back under the daily stop (a new day)."""
    k = machine("kill_modes")
    if start == "close_only":
        k.send("risk_update", inputs=pnl(daily_loss=0.04))
        k.send("risk_update", inputs=pnl(daily_loss=0.0499))
        assert (k.state, k.ctx["tripped_by"]) == ("close_only", "daily_loss")
    records = k.send("risk_update", inputs=pnl(daily_loss=0.05))
    assert k.state == "flatten_all" and k.ctx["tripped_by"] == "max_daily_loss"
    assert raised(records) == ["kill_flatten"] and k.called("flatten_all") == [{}]
    k.send("flattened")
    k.send("day_rolled")
    assert k.state == "halted"
    k.send("manual_resume", inputs=pnl(daily_loss=0.05))
    assert k.state == "halted"
    k.send("manual_resume", inputs=OK)
    assert k.state == "normal"


def test_the_day_roll_lifts_the_daily_stop_only(machine):
    k = machine("kill_modes")
    k.send("risk_update", inputs=pnl(daily_loss=0.036))
    assert (k.state, k.ctx["tripped_by"]) == ("close_only", "daily_loss")
    k.send("day_rolled")
    assert k.state == "normal" and k.inst.has_tag("opens_risk")


@pytest.mark.parametrize("breach,tripped_by", [(pnl(drawdown=0.10), "max_drawdown"),
                                               (pnl(daily_loss=0.05), "max_daily_loss")])
def test_a_hard_limit_flattens_what_a_manual_halt_kept_open(machine, breach, tripped_by):
    """`engine kill --mode halt` leaves positions on their stops; FTMO's limits still bind them:
    a breach flattens. Once flat, halted stays put however long the breached pnl stays breached
    (no flatten -> flattened -> halted loop on every bar)."""
    k = machine("kill_modes")
    k.send("manual_halt")
    k.send("risk_update", inputs=pnl(daily_loss=0.0499, drawdown=0.0999))
    assert (k.state, k.ctx["positions_kept"]) == ("halted", True)
    records = k.send("risk_update", inputs=breach)
    assert (k.state, k.ctx["tripped_by"]) == ("flatten_all", tripped_by)
    assert raised(records) == ["kill_flatten"] and k.called("flatten_all") == [{}]
    records = k.send("flattened")
    assert (k.state, k.ctx["positions_kept"]) == ("halted", False) and raised(records) == ["kill_halt"]
    for _ in range(3):
        assert raised(k.send("risk_update", inputs=pnl(daily_loss=0.2, drawdown=0.2))) == []
        assert k.state == "halted"
    assert k.called("flatten_all") == [{}]


def test_a_halt_after_a_flatten_does_not_flatten_again(machine):
    """The FTMO daily limit flattened and halted: the next day's drawdown breach has nothing to close."""
    k = machine("kill_modes")
    k.send("risk_update", inputs=pnl(daily_loss=0.05))
    k.send("flattened")
    k.send("day_rolled")
    k.send("risk_update", inputs=pnl(drawdown=0.12))
    assert (k.state, k.ctx["tripped_by"]) == ("halted", "max_daily_loss") and k.called("flatten_all") == [{}]


@pytest.mark.parametrize("kept", [False, True])
def test_the_quiet_bar_screen_skips_a_flat_halt_however_breached(machine, kept):
    """The quiet-bar screen proves with scalars that no risk_update fires in a halt that kept no
    position (engine/runtime/vector.py none_below), so a halted replay still skips its bars; one
    that kept positions is screened by its pnl."""
    from engine.runtime.vector import SampledEvent

    k = machine("kill_modes")
    k.send("manual_halt")
    k.ctx["positions_kept"] = kept
    cands = k.bound.table[("halted", "risk_update")]
    upper = {"pnl": {"daily_loss": 0.3, "drawdown": 0.3}}
    assert SampledEvent().none_below(cands, k.bound.globals["params"], k.ctx, {}, upper) is not kept
