-- Citus only: the job outbox on the workflow's shard, so a write and its job
-- rows commit in one single-shard transaction.
SELECT create_distributed_table('job_outbox', 'user_id', colocate_with => 'workflows');
