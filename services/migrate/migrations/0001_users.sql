-- Users, owned by the users service.
-- `users` is keyed by id, its Citus distribution column. On Citus every unique
-- key must include the distribution column, so a UNIQUE (email) on users is
-- impossible there; email uniqueness lives in `user_emails`, keyed (and
-- distributed) by the normalised email and pointing at the user. Sign-up
-- writes both rows in one transaction; login reads user_emails then users,
-- each a single-shard lookup.

CREATE TABLE IF NOT EXISTS users (
  id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
  -- Normalised (trimmed, lower-case); unique through user_emails.
  email         text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
  -- Self-describing scrypt hash: `scrypt$N$r$p$salt$hash` (base64url parts).
  password_hash text        NOT NULL,
  display_name  text        NOT NULL DEFAULT '' CHECK (char_length(display_name) <= 100),
  bio           text        NOT NULL DEFAULT '' CHECK (char_length(bio) <= 1000),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS user_emails (
  email      text        PRIMARY KEY CHECK (char_length(email) BETWEEN 3 AND 254),
  user_id    uuid        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
