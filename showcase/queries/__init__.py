"""Saved chart queries: the chart configuration model, the figure builder and the shared workspace.

``chart_builder`` turns a ``ChartConfig`` plus call data into a Plotly figure; ``chart_metrics`` holds the
vectorized aggregation behind it; ``workspace`` stores configurations as JSON files in a folder that a team
shares. Only plotly, pandas and ``metering`` are used, so the dashboard and scripts can import it.
"""
