"""The seed 003 strategy family, one module per idea (see strategies.registry for the names)."""
