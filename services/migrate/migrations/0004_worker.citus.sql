-- Citus only: the worker's tables sharded by user and co-located with users,
-- so a job's transaction (processed_jobs + its effect) is single-shard.
SELECT create_distributed_table('processed_jobs', 'user_id', colocate_with => 'users');
SELECT create_distributed_table('outbox', 'user_id', colocate_with => 'users');
SELECT create_distributed_table('webhook_deliveries', 'user_id', colocate_with => 'users');
SELECT create_distributed_table('reports', 'user_id', colocate_with => 'users');
SELECT create_distributed_table('exports', 'user_id', colocate_with => 'users');
SELECT create_distributed_table('analytics_daily', 'user_id', colocate_with => 'users');
