"""One module per chart (8Knot style): card layout, pure ``process_data`` and ``create_figure``, one callback."""
