"""Shared core: AWS clients and errors, settings, events, the table registry, the state table, metrics."""
