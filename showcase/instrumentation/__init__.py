"""Client-side instrumentation examples: REST tracker and OpenTelemetry GenAI spans."""
