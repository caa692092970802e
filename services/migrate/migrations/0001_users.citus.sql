-- Citus only: shard users by id (every user-owned table is co-located with
-- it, see 0002+), and the email index by email so the uniqueness check and
-- the login lookup are single-shard. No foreign key between them: they are
-- distributed on different columns.
SELECT create_distributed_table('users', 'id');
SELECT create_distributed_table('user_emails', 'email');
