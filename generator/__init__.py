"""revenium-flow generator."""
