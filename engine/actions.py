"""Catalogue guard functions and actions of provider `engine`: quantities, stage
configuration, gate reports, alerts, audit.

Their host is the run session (engine/run/session.py) for the rollout, kill and
gate machines, and the order/bracket handles for `notify` and `record_rejection`.
"""
from engine.runtime import default_registry
from engine.runtime.hosted import hosted

hosted(default_registry, "apply_stage", "report_gate", "restate_gate", "recall_gates", "notify", "record_rejection",
       "flatten_all")


# Relative slack for a sum of fills: each float addition may be off by one unit in the last
# place (~1e-16 of the sum), while lots differ by far more than 1e-12 of any position.
_SUM_SLACK = 1e-12


@default_registry.guard("covers")
def covers(qty: float, need: float) -> bool:
    """`qty` is at least `need`, where either is a sum of fills: 631.42 + 609.27 must close a
    1,240.69 position although in floats the rest is 609.2700000000001."""
    return qty >= need - _SUM_SLACK * max(abs(qty), abs(need))
