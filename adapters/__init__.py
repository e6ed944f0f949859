"""Venue adapters. Every venue (the paper simulator, Bybit, IBKR) implements
adapters.base.Venue; the engine talks to nothing else. Importing this package
imports no venue: adapters are loaded by name when a domain is switched on."""
