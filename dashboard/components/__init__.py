"""Reusable Dash building blocks: shell, cards, grids, recommendations and one module per chart."""
