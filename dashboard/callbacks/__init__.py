"""Server-side glue the callbacks share: the per-data-file hub and the shell callbacks."""
