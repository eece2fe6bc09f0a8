"""Live updates: the per-process broker that fans events out to open streams, the
PostgreSQL LISTEN loop that feeds it across processes, and the SSE streams themselves."""
