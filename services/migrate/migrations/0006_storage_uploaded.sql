-- When the storage service has seen an object's bytes in S3. The row is
-- written when the upload URL is issued; the first read of the object checks
-- S3 (HeadObject) and sets this, so later reads need no S3 round trip. NULL:
-- not confirmed yet (rows from before this migration included: they are
-- checked the same way on their next read).
-- On Citus, ALTER TABLE on a distributed table propagates to every shard.
ALTER TABLE storage_objects ADD COLUMN IF NOT EXISTS uploaded_at timestamptz;
