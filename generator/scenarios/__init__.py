"""Traffic scenarios, one module each."""
