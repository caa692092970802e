-- Object metadata for the storage service. The bytes live in S3; this table
-- says who owns which key, what it may contain and how large it may be.
CREATE TABLE IF NOT EXISTS storage_objects (
  user_id        uuid        NOT NULL,
  id             uuid        NOT NULL,
  object_key     text        NOT NULL,
  type           text        NOT NULL,
  file_name      text        NOT NULL,
  content_type   text        NOT NULL,
  size_bytes     bigint      NOT NULL CHECK (size_bytes >= 0),
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, id)
);

CREATE INDEX IF NOT EXISTS storage_objects_user_created_idx ON storage_objects (user_id, created_at DESC, id DESC);
