-- Workflows and their steps, owned by the workflows service.
-- Every table leads its primary key with user_id: it is the Citus distribution
-- column (co-located with users), so a user's rows live on one shard and every
-- unique key must include it. No foreign key to users: users belong to another
-- service, and a cross-service constraint would couple their deploys.

CREATE TABLE IF NOT EXISTS workflows (
  user_id     uuid        NOT NULL,
  id          uuid        NOT NULL,
  name        text        NOT NULL,
  description text        NOT NULL DEFAULT '',
  status      text        NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'paused', 'archived')),
  webhook_url text,
  version     integer     NOT NULL DEFAULT 1,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, id)
);

-- Keyset pagination: newest first, ties broken by id.
CREATE INDEX IF NOT EXISTS workflows_user_created_idx ON workflows (user_id, created_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS workflow_steps (
  user_id     uuid    NOT NULL,
  workflow_id uuid    NOT NULL,
  id          uuid    NOT NULL,
  position    integer NOT NULL,
  name        text    NOT NULL,
  kind        text    NOT NULL,
  config      jsonb   NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (user_id, workflow_id, id),
  UNIQUE (user_id, workflow_id, position),
  FOREIGN KEY (user_id, workflow_id) REFERENCES workflows (user_id, id) ON DELETE CASCADE
);

-- Idempotency keys for POST /api/workflows: the first response is replayed for
-- the same key and body; a different body under the same key is refused.
CREATE TABLE IF NOT EXISTS workflow_idempotency_keys (
  user_id      uuid        NOT NULL,
  key          text        NOT NULL,
  request_hash text        NOT NULL,
  status_code  integer     NOT NULL,
  response     jsonb       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, key)
);

-- Lets a periodic job drop keys older than the replay window.
CREATE INDEX IF NOT EXISTS workflow_idempotency_keys_created_idx ON workflow_idempotency_keys (created_at);
