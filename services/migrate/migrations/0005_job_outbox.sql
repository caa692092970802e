-- Transactional outbox for the jobs a workflow write triggers. The write and
-- its job rows commit in one transaction on the user's shard; the service
-- then publishes each job with a publisher confirm and deletes its row, and a
-- relay in every workflows replica republishes rows whose publish did not
-- happen (RabbitMQ down, the pod killed between commit and confirm). So no
-- committed write loses its jobs. Delivery is at least once: the envelope
-- (and its id) is stored, so a republished job has the same id and the worker
-- deduplicates it through processed_jobs.

CREATE TABLE IF NOT EXISTS job_outbox (
  user_id         uuid        NOT NULL,
  id              uuid        NOT NULL,
  job_type        text        NOT NULL,
  envelope        jsonb       NOT NULL,
  attempts        integer     NOT NULL DEFAULT 0,
  -- Not due before this time: the writing request owns a fresh row for a
  -- short lease, a claimed row is leased to its relay, a failed one backs off.
  next_attempt_at timestamptz NOT NULL,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, id)
);

CREATE INDEX IF NOT EXISTS job_outbox_due_idx ON job_outbox (next_attempt_at);
