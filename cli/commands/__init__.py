"""Subcommands of the ``revenium-flow`` CLI, one module each (see ``cli``)."""
