-- Rate-limit counters need no crash safety: after a crash a window simply starts again. As an
-- UNLOGGED table they write no WAL, so a hit commits without waiting for a disk flush (the
-- token endpoint's limit is checked on every exchange; see BENCHMARKS.md). Every replica
-- still counts in the same table on the primary, so replicas share each limit.
ALTER TABLE rate_limit_windows SET UNLOGGED;
