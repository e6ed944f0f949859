"""Live trading needs a triple opt-in (seed 000): config, the `--live` flag and an env var.

Anything short of all three fails closed, with a message naming every switch,
and `--paper` routes the stage's live legs to the paper venue instead: those of the
stage the run starts in, and those of any stage an operator promotes it to later.
A run with neither never opens a live leg: the engine refuses a promotion to one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

ENV_VAR = "ENABLE_LIVE_TRADING"
CONFIG_KEY = "execution.trading_enabled"


@dataclass(frozen=True, slots=True)
class Routing:
    """Where each domain's orders go for this run."""

    modes: Mapping[str, str]  # domain -> off | paper | live: the start stage's domains, as routed
    live_domains: tuple[str, ...]  # domains that will reach a live venue
    paper_routed: tuple[str, ...]  # live legs sent to the paper venue by --paper
    paper: bool = False  # --paper: a live leg of any stage the run enters goes to the paper venue

    def leg(self, domain: str, mode: str) -> str | None:
        """How this run trades `domain` where a rollout state says `mode`: None for a live leg it
        has no opt-in for (and no --paper), which it must not open."""
        if mode != "live":
            return mode
        if domain in self.live_domains:
            return "live"
        return "paper" if self.paper else None

    def state_modes(self, start_stage: int, state: str, spec: Mapping[str, str]) -> dict[str, str | None]:
        """The modes this run trades a rollout state's `domains` in: the start stage's as routed
        at start (`modes`), any other state's by `leg`."""
        if state == f"stage_{start_stage}":
            return {d: self.modes.get(d, m) for d, m in spec.items()}
        return {d: self.leg(d, m) for d, m in spec.items()}

    def to_json(self, start_stage: int) -> dict:
        return {"stage": start_stage, "modes": dict(self.modes), "live": list(self.live_domains),
                "paper_routed": list(self.paper_routed), "paper": self.paper}

    @classmethod
    def from_json(cls, data: Mapping) -> tuple[int, "Routing"]:
        """(start stage, routing) as `to_json` stored them."""
        return data["stage"], cls(dict(data["modes"]), tuple(data["live"]), tuple(data["paper_routed"]),
                                  data["paper"])


class OptInError(Exception):
    pass


class Misused(OptInError):
    """The routing flags are wrong in themselves, whatever the opt-ins: a usage error (exit 2)."""


class NotLive(Misused):
    """--live for a stage that routes no leg live: the user misreads the stage."""


def route(stage: int, modes: Mapping[str, str], *, config_enabled: bool, live_flag: bool, paper_flag: bool,
          environ: Mapping[str, str] | None = None, paper_command: str = "") -> Routing:
    """`paper_command` is the user's command line with --paper, to suggest (default:
    `engine run --stage N --paper`)."""
    env = os.environ if environ is None else environ
    if live_flag and paper_flag:
        raise Misused("--live and --paper contradict each other: --live opts in to live legs, --paper routes "
                         "them to the paper venue; pass one of them")
    live = tuple(d for d, m in modes.items() if m == "live")
    if not live and live_flag:
        legs = ", ".join(f"{d} {m}" for d, m in modes.items())
        raise NotLive(f"stage {stage} routes no leg live (its domains in the rollout spec: {legs}), so --live is "
                      "not needed: leave it out")
    if not live:
        return Routing(dict(modes), (), (), paper_flag)
    if paper_flag:
        return Routing({d: ("paper" if m == "live" else m) for d, m in modes.items()}, (), live, True)
    value = env.get(ENV_VAR)
    switches = [(config_enabled, f"config: `{CONFIG_KEY}: true` in the run config (--config FILE)"),
                (live_flag, "flag: --live on the command line"),
                (value == "1", f"environment: `export {ENV_VAR}=1` in this shell"
                               + (f" (it is {value!r}: only `1` opts in)" if value not in (None, "1") else ""))]
    if not all(on for on, _ in switches):
        lines = "\n".join(f"  - {what}: {'set' if on else 'MISSING'}" for on, what in switches)
        raise OptInError(
            f"stage {stage} trades live in {', '.join(live)}, which needs all three opt-ins:\n{lines}\n"
            f"Or run `{paper_command or f'engine run --stage {stage} --paper'}` to route the live legs to the paper venue.")
    return Routing(dict(modes), live, ())
