-- The worker prunes processed_jobs past its retention (WORKER_PROCESSED_JOBS_RETENTION_HOURS):
-- without it the table grows by one row per job forever. The index serves that
-- DELETE ... WHERE processed_at < $1. (On Citus it is created on every shard.)
CREATE INDEX IF NOT EXISTS processed_jobs_processed_at_idx ON processed_jobs (processed_at);
