"""``python -m cli ARGS`` = ``revenium-flow ARGS`` (the dashboard's Generate button starts this)."""

from cli import console

console()
