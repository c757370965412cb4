"""Shared test helpers: frames, strategies and model-file tools (importable from tests)."""
