"""FinOps analyzers."""
