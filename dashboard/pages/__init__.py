"""Dash pages: the overview and one page per analyzer (registered with ``dash.register_page``)."""
