"""revenium-flow showcase."""
