"""Strategies: vectorised models that turn bars into a target position (fraction of capital).

Importing this package is cheap (no pandas): the spec linter reads
`strategies.config` and `strategies.registry` without loading any model code.
"""
