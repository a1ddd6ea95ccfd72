"""Usage-based revenue analyzers."""
