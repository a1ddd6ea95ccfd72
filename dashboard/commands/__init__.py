"""Subcommands of the ``revenium-flow`` CLI, one module each (see ``dashboard.cli``)."""
