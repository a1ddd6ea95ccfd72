"""revenium-flow analyzers."""
