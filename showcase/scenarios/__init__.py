"""End-to-end stories that show what revenium-flow is for, runnable from the terminal."""
