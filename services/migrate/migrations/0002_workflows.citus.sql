-- Citus only: shard the workflow tables by user and co-locate them with users,
-- so joins and transactions for one user stay on one worker node.
SELECT create_distributed_table('workflows', 'user_id', colocate_with => 'users');
SELECT create_distributed_table('workflow_steps', 'user_id', colocate_with => 'workflows');
SELECT create_distributed_table('workflow_idempotency_keys', 'user_id', colocate_with => 'workflows');
