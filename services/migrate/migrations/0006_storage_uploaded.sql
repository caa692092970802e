-- The upload's state. A row is written when its upload URL is issued, before
-- any bytes exist:
--   upload_expires_at  when that URL stops working: the URL's lifetime, or
--                      sooner when the credentials that signed it expire
--                      first (IRSA sessions); NULL on rows from before this
--                      migration (the service then assumes created_at + its
--                      URL lifetime);
--   uploaded_at        when the service first saw the bytes in S3: the first
--                      read of the object checks (HeadObject) and sets it, so
--                      later reads need no S3 round trip; NULL until then
--                      (older rows included: they are checked the same way).
-- On Citus, ALTER TABLE on a distributed table propagates to every shard.
ALTER TABLE storage_objects ADD COLUMN IF NOT EXISTS upload_expires_at timestamptz;
ALTER TABLE storage_objects ADD COLUMN IF NOT EXISTS uploaded_at timestamptz;
