"""The chart builder page: its layout and callbacks (``page.py``) beside its charts."""
