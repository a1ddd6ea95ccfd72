"""Validated call metadata for the instrumentation examples."""
