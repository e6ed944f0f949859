"""Live trading needs a triple opt-in (seed 000): config, the `--live` flag and an env var.

Anything short of all three fails closed, with a message naming every switch,
and `--paper` routes the stage's live legs to the paper venue instead.
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

    modes: Mapping[str, str]  # domain -> off | paper | live, as the rollout spec says
    live_domains: tuple[str, ...]  # domains that will reach a live venue
    paper_routed: tuple[str, ...]  # live legs sent to the paper venue by --paper


class OptInError(Exception):
    pass


def route(stage: int, modes: Mapping[str, str], *, config_enabled: bool, live_flag: bool, paper_flag: bool,
          environ: Mapping[str, str] | None = None, paper_command: str = "") -> Routing:
    """`paper_command` is the user's command line with --paper, to suggest (default:
    `engine run --stage N --paper`)."""
    env = os.environ if environ is None else environ
    live = tuple(d for d, m in modes.items() if m == "live")
    if not live:
        return Routing(dict(modes), (), ())
    if paper_flag:
        return Routing({d: ("paper" if m == "live" else m) for d, m in modes.items()}, (), live)
    missing = []
    if not config_enabled:
        missing.append(f"config: set `{CONFIG_KEY}: true` in your run config (--config FILE)")
    if not live_flag:
        missing.append("flag: pass --live")
    if env.get(ENV_VAR) != "1":
        missing.append(f"environment: export {ENV_VAR}=1")
    if missing:
        lines = "\n".join(f"  - {m}" for m in missing)
        raise OptInError(
            f"stage {stage} trades live in {', '.join(live)}, which needs all three opt-ins; missing:\n{lines}\n"
            f"Or run `{paper_command or f'engine run --stage {stage} --paper'}` to route the live legs to the paper venue.")
    return Routing(dict(modes), live, ())
