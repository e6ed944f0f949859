"""Every command that may load a native thread pool (numpy's BLAS, xgboost's OpenMP) pins it to one
thread before the pool loads: on this project's 2-core machines spinning pools made xgboost and PPO
8-38x slower, and `engine run` predicts with the ML filter on every entry."""
from __future__ import annotations

import argparse
import importlib
import os

import pytest

from engine.threads import POOLS


@pytest.mark.parametrize("command, inner", [("run", "_run"), ("tune", "_tune"), ("select", "_select"),
                                            ("train", "_train")])
def test_the_pools_are_pinned_before_the_command_starts(monkeypatch, command, inner):
    for var in POOLS:
        monkeypatch.delenv(var, raising=False)
    module = importlib.import_module(f"engine.commands.{command}")
    seen: dict = {}
    monkeypatch.setattr(module, inner, lambda args: seen.update({v: os.environ.get(v) for v in POOLS}) or 0)
    assert module.run(argparse.Namespace(kind="ml")) == 0
    assert seen == dict.fromkeys(POOLS, "1")


def test_a_value_the_user_set_wins(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    module = importlib.import_module("engine.commands.run")
    seen: dict = {}
    monkeypatch.setattr(module, "_run", lambda args: seen.update(omp=os.environ["OMP_NUM_THREADS"]) or 0)
    module.run(argparse.Namespace())
    assert seen == {"omp": "2"}
