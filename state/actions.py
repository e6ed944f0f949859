"""Catalogue actions of provider `state`: booking fills and settlements in the store.

The instance's host books them through the Store (engine/exec/handles.py for
orders; futures and option hosts for settlement, exercise and assignment).
"""
from engine.runtime import default_registry
from engine.runtime.hosted import hosted

hosted(default_registry, "record_fill", "settle_position", "exercise_option", "assign_option", "expire_option")
