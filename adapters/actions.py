"""Catalogue actions of provider `adapters`: what an order or bracket asks of its venue.

The host of each order/bracket instance (engine/exec/handles.py) holds the
venue; these names bind to its methods.
"""
from engine.runtime import default_registry
from engine.runtime.hosted import hosted

hosted(default_registry, "submit_order", "amend_order", "cancel_order", "request_reconciliation",
       "submit_entry", "cancel_entry", "place_legs", "resize_legs", "amend_stop", "cancel_sibling",
       "cancel_legs", "close_position", "roll_slice")
