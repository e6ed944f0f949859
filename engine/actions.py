"""Catalogue actions of provider `engine`: stage configuration, gate reports, alerts, audit.

Their host is the run session (engine/run/session.py) for the rollout, kill and
gate machines, and the order/bracket handles for `notify` and `record_rejection`.
"""
from engine.runtime import default_registry
from engine.runtime.hosted import hosted

hosted(default_registry, "apply_stage", "report_gate", "notify", "record_rejection", "flatten_all")
