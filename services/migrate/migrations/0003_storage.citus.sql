-- Citus only: object metadata sharded by owner, co-located with users.
SELECT create_distributed_table('storage_objects', 'user_id', colocate_with => 'users');
