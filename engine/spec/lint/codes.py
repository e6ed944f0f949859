"""Every diagnostic code `engine validate` can print, with its severity.

One table so that the linter, docs/lint-rules.md and the tests agree on what
is an error (fails the build) and what is a warning (fails only `--strict`).
"""
from __future__ import annotations

from engine.diagnostics import Severity

E, W = Severity.ERROR, Severity.WARNING

# Codes the loader emits (engine/spec/loader.py); listed so docs and tests cover them too.
LOADER_CODES: dict[str, Severity] = {
    "YAML_SYNTAX": E,
    "YAML_DUPLICATE_KEY": E,
    "YAML_IMPLICIT_SCALAR": E,
    "YAML_ALIAS_LIMIT": E,
    "SCHEMA_MISSING": E,
    "SCHEMA_TYPE": E,
    "SCHEMA_VALUE": E,
    "SCHEMA_UNKNOWN_KEY": E,
    "SPEC_KIND_FOLDER": E,
    "DUPLICATE_ID": E,
    "UNRESOLVED_OVERRIDE": E,
    "PARAM_BOUNDS": E,
    "OVERRIDE_CONFLICT": E,
    "MISSING_DOCUMENT": E,  # engine/spec/validation.py: a full set lacks what `engine run` reads
    "SPEC_UNREADABLE": E,  # a folder, a dangling link or a link loop where a spec file's name is
    "INTERNAL": E,
}

LINT_CODES: dict[str, Severity] = {
    # names and references (DUPLICATE_ID, for machines and states, comes from the loader)
    "UNRESOLVED_STATE": E,
    "UNRESOLVED_EVENT": E,
    "UNRESOLVED_GATE": E,
    "UNRESOLVED_PHASE": E,
    "UNRESOLVED_PARAM": E,
    "UNRESOLVED_GUARD": E,
    "UNRESOLVED_ACTION": E,
    "ACTION_ARGS": E,
    "GUARD_ARGS": E,  # a catalogue guard called with arguments its declaration lacks (engine/spec/lint/arguments.py)
    "CONTEXT_DEFAULT": E,  # a context variable's default not of its declared type (engine/spec/lint/arguments.py)
    "ACTION_KIND": E,  # an action named in a kind of machine its catalogue entry's `kinds` leaves out (scope.py)
    "ARG_BOUNDS": E,  # an action argument outside the catalogue's bounds for it (engine/spec/lint/arguments.py)
    "ARG_BOUNDS_UNPROVEN": W,  # an argument expression whose bounds lint cannot prove (the run checks it)
    # initial and final states
    "INITIAL_MISSING": E,
    "INITIAL_MULTIPLE": E,
    "FINAL_OUTGOING": E,
    # graph
    "UNREACHABLE_STATE": E,
    "TRAP_STATE": E,
    "NO_PATH_TO_FINAL": W,
    # conflicts
    "NONDETERMINISTIC": E,
    "SHADOWED_TRANSITION": E,
    # expressions
    "EXPR_PARSE": E,
    "EXPR_NAME": E,
    "EXPR_FORBIDDEN": E,
    "EXPR_TYPE": E,
    # events and timers
    "UNHANDLED_BROADCAST": E,
    "UNHANDLED_RAISE": E,
    "TIMER_BOUNDS": E,
    # hygiene
    "UNUSED_PARAM": W,
    "UNUSED_EVENT": W,
    # declared checks
    "CHECK_REACHABLE_FROM_ALL": E,
    "CHECK_MUST_HANDLE": E,
    "CHECK_UNREACHABLE": E,
    "CHECK_MUST_ACT": E,
    "CHECK_NEVER_WIDENS": E,
    # the rollout's `live` tag agrees with its `domains`
    "ROLLOUT_LIVE_TAG": E,
    "STAGE_ASSIGN": E,  # a transition into stage_N assigns another stage number (engine/spec/lint/stage_numbers.py)
    "AWAITING_UNTAGGED": E,  # a state takes an operator command's event, untagged (engine/spec/lint/awaiting.py)
    "POSITION_UNTAGGED": E,  # a bracket state holding a position, untagged (engine/spec/lint/position_open.py)
    # what `engine run` needs of the specs (engine/spec/contract.py)
    "ENGINE_CONTRACT": E,
    # an engine event dropped where the engine sends it (engine/spec/lint/answers.py)
    "ENGINE_EVENT_UNHANDLED": E,
    "IGNORED_ANSWER": E,  # an `ignores` entry drops an answer its state waits for (engine/spec/lint/answers.py)
    "DEAD_IGNORE": W,  # an `ignores` entry that never applies (engine/spec/lint/ignores.py)
    # a transition on an event nothing sends (engine/spec/lint/senders.py)
    "NEVER_SENT": W,
    # a paper contract's quote currency with no USD rate a run could convert at (engine/spec/lint/rates.py)
    "CONTRACT_NO_RATE": W,
    "RISK_LIMIT_UNREAD": W,  # a risk limit no guard of the chain, nor the run, reads (engine/spec/lint/risk.py)
    "RISK_GUARD_UNUSED": W,  # a guard the engine provides that the chain leaves out (engine/spec/lint/risk.py)
    "RISK_SHORT_SPOT": W,  # shorting allowed where the markets are spot (engine/spec/lint/risk.py)
    "RISK_SIZE_OVER_CAP": W,  # a size the exposure cap rejects whole, or a canary over the base (lint/risk.py)
    "RISK_DOC_UNREAD": W,  # a risk document `engine run` does not read (engine/spec/lint/risk.py)
    "RISK_SECTOR_SYMBOL": E,  # a sector names a symbol the contract catalogue lacks (engine/spec/lint/sectors.py)
    "RISK_SECTOR_MISSING": W,  # a contract in no sector: a sector of its own (engine/spec/lint/sectors.py)
    "ML_UNKNOWN_NAME": E,  # a session, asset or regime an ML spec names that nothing defines (engine/spec/lint/ml.py)
    "UNIMPLEMENTED": E,  # a guard or action machines use that no provider implements (engine/spec/lint/implemented.py)
}

ALL_CODES: dict[str, Severity] = {**LOADER_CODES, **LINT_CODES}
