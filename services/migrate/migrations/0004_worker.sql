-- Tables written by the worker. Every job's effects and its processed_jobs
-- record are written in one transaction keyed by the job's user, so on Citus
-- the whole transaction runs on one shard, and a redelivered job finds its
-- processed_jobs row and changes nothing.

CREATE TABLE IF NOT EXISTS processed_jobs (
  user_id      uuid        NOT NULL,
  job_id       uuid        NOT NULL,
  job_type     text        NOT NULL,
  attempt      integer     NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, job_id)
);

-- Email outbox: drained by a relay; no SMTP inside the worker.
CREATE TABLE IF NOT EXISTS outbox (
  user_id    uuid        NOT NULL,
  id         uuid        NOT NULL,
  job_id     uuid        NOT NULL,
  to_address text        NOT NULL,
  subject    text        NOT NULL,
  body       text        NOT NULL,
  status     text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, id)
);

CREATE INDEX IF NOT EXISTS outbox_pending_idx ON outbox (created_at) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS webhook_deliveries (
  user_id      uuid        NOT NULL,
  id           uuid        NOT NULL,
  job_id       uuid        NOT NULL,
  url          text        NOT NULL,
  event        text        NOT NULL,
  status_code  integer     NOT NULL,
  duration_ms  integer     NOT NULL,
  delivered_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, id)
);

CREATE TABLE IF NOT EXISTS reports (
  user_id    uuid        NOT NULL,
  id         uuid        NOT NULL,
  job_id     uuid        NOT NULL,
  kind       text        NOT NULL,
  data       jsonb       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, id)
);

CREATE TABLE IF NOT EXISTS exports (
  user_id    uuid        NOT NULL,
  id         uuid        NOT NULL,
  job_id     uuid        NOT NULL,
  format     text        NOT NULL,
  content    text        NOT NULL,
  row_count  integer     NOT NULL,
  sha256     text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, id)
);

CREATE TABLE IF NOT EXISTS analytics_daily (
  user_id    uuid        NOT NULL,
  day        date        NOT NULL,
  event      text        NOT NULL,
  count      bigint      NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, day, event)
);
