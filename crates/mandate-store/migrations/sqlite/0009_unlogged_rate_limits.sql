-- PostgreSQL makes rate_limit_windows UNLOGGED in this migration; SQLite has no such table
-- kind, and keeps the numbering the same in both folders.
SELECT 1;
