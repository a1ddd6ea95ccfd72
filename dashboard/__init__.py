"""revenium-flow dashboard."""
