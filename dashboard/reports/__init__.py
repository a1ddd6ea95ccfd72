"""Static HTML reports rendered from analyzer results (used by `revenium-flow report`)."""
