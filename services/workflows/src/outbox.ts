import { JOBS_EXCHANGE, type Counter, type Logger, type PgPool, type PgPoolClient } from '@noa/kit';
import type { PublishFn } from './routes';
import type { JobMessage } from './triggers';

/**
 * Transactional outbox for the jobs a workflow write triggers (table
 * `job_outbox`, migration 0005).
 *
 * 1. `add` inserts the job rows in the write's own transaction, so a write
 *    commits with its jobs or not at all. A fresh row is not due for
 *    `leaseMs`: the request that wrote it publishes it first.
 * 2. `dispatch`, after the commit, publishes each job with a publisher
 *    confirm and deletes the confirmed rows. A failed publish makes its row
 *    due at once (counted and logged; the write stands).
 * 3. `relayOnce`, on a timer in every replica (`start`), claims due rows —
 *    each claim leases its rows with a backoff that grows with the attempts —
 *    publishes them and deletes the confirmed ones. This covers RabbitMQ
 *    outages and a pod that died between commit and confirm.
 *
 * At least once: a job may be published twice (a relay racing a slow first
 * publish, a confirm lost with the connection), always with the envelope and
 * id stored at write time; the worker deduplicates by job id.
 *
 * Citus: every statement but the claim is a single-shard router query on the
 * user's shard. The claim is two plain statements, so it needs no
 * subquery planning: a multi-shard SELECT of the oldest due rows with ORDER
 * BY and LIMIT (at most `relayBatchSize` per pass, so a long outage's
 * backlog is republished in bounded batches rather than claimed whole by one
 * replica), then a multi-shard UPDATE of exactly those rows that re-checks
 * they are still due. A relay racing another blocks on the rows the other
 * claimed and, once it commits, finds them no longer due: each row is claimed
 * once. Times are parameters from here, not `now()` inside the statement.
 */
export interface JobOutboxOptions {
  readonly pool: PgPool;
  readonly publish: PublishFn;
  readonly logger: Logger;
  /** Counts jobs whose publish failed (they stay in the outbox and are retried). */
  readonly publishFailures: Counter<'type'>;
  /** Counts jobs published by the relay, not by the request that wrote them. */
  readonly relayed: Counter<'type'>;
  /** How long the writing request owns a fresh row, and how long a claim leases rows (ms, default 15 000). */
  readonly leaseMs?: number;
  /** Longest wait between two attempts of one job (ms, default 60 000). */
  readonly maxBackoffMs?: number;
  /** Relay period (ms, default 2000). */
  readonly relayIntervalMs?: number;
  /** Most rows one relay pass claims (default 500); a full batch is followed by another pass at once. */
  readonly relayBatchSize?: number;
  /** Whether publishing can work at all now (the AMQP connection is open); the relay does not claim rows otherwise. */
  readonly canPublish?: () => boolean;
  /** Clock, for tests. */
  readonly now?: () => number;
}

/** What one relay pass did. */
export interface RelayResult {
  readonly claimed: number;
  readonly published: number;
  readonly failed: number;
}

interface OutboxRow {
  user_id: string;
  id: string;
  job_type: JobMessage['type'];
  envelope: JobMessage['envelope'];
  attempts: number;
}

/** Backoff before attempt `attempts + 1`: 1 s, 2 s, 4 s … capped. */
export function outboxBackoffMs(attempts: number, maxMs: number): number {
  return Math.min(maxMs, 1000 * 2 ** Math.max(0, attempts - 1));
}

export class JobOutbox {
  private readonly leaseMs: number;
  private readonly maxBackoffMs: number;
  private readonly relayIntervalMs: number;
  private readonly relayBatchSize: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly options: JobOutboxOptions) {
    this.leaseMs = options.leaseMs ?? 15_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 60_000;
    this.relayIntervalMs = options.relayIntervalMs ?? 2_000;
    this.relayBatchSize = options.relayBatchSize ?? 500;
    this.now = options.now ?? Date.now;
  }

  /** Records `jobs` in the caller's open transaction (one multi-row INSERT on the user's shard). */
  async add(client: PgPoolClient, jobs: readonly JobMessage[]): Promise<void> {
    if (jobs.length === 0) return;
    const values: unknown[] = [new Date(this.now() + this.leaseMs)];
    const tuples = jobs.map(({ type, envelope }) => {
      values.push(envelope.userId, envelope.id, type, JSON.stringify(envelope));
      const n = values.length;
      return `($${n - 3}, $${n - 2}, $${n - 1}, $${n}, $1)`;
    });
    await client.query(`INSERT INTO job_outbox (user_id, id, job_type, envelope, next_attempt_at) VALUES ${tuples.join(', ')}`, values);
  }

  /** After the commit: publishes `jobs` now and deletes the confirmed rows; never throws. */
  async dispatch(jobs: readonly JobMessage[]): Promise<void> {
    if (jobs.length === 0) return;
    const outcomes = await Promise.all(jobs.map((job) => this.publishOne(job.type, job.envelope)));
    await this.settle(jobs.map((job, i) => ({ userId: job.envelope.userId, id: job.envelope.id, type: job.type, error: outcomes[i], attempts: 1 })), false);
  }

  /**
   * One relay pass: claims up to `relayBatchSize` due rows (the longest
   * overdue first), publishes them, deletes the confirmed ones and backs the
   * rest off.
   */
  async relayOnce(): Promise<RelayResult> {
    const now = this.now();
    const { pool } = this.options;
    const due = await pool.query<{ user_id: string; id: string }>(
      'SELECT user_id, id FROM job_outbox WHERE next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2',
      [new Date(now), this.relayBatchSize],
    );
    if (due.rows.length === 0) return { claimed: 0, published: 0, failed: 0 };
    // user_id narrows the statement to the shards that hold the rows; the ids (UUIDs) pick the rows.
    const { rows } = await pool.query<OutboxRow>(
      `UPDATE job_outbox SET attempts = attempts + 1, next_attempt_at = $2
        WHERE user_id = ANY($3::uuid[]) AND id = ANY($4::uuid[]) AND next_attempt_at <= $1
        RETURNING user_id, id, job_type, envelope, attempts`,
      [new Date(now), new Date(now + this.leaseMs), [...new Set(due.rows.map((r) => r.user_id))], due.rows.map((r) => r.id)],
    );
    if (rows.length === 0) return { claimed: 0, published: 0, failed: 0 };
    const outcomes = await Promise.all(rows.map((row) => this.publishOne(row.job_type, row.envelope)));
    const results = rows.map((row, i) => ({ userId: row.user_id, id: row.id, type: row.job_type, error: outcomes[i], attempts: row.attempts }));
    await this.settle(results, true);
    const failed = results.filter((r) => r.error !== undefined).length;
    return { claimed: rows.length, published: rows.length - failed, failed };
  }

  /**
   * Runs relay passes every `relayIntervalMs` (never two at once) until
   * `stop`; a pass that claimed a full batch is followed by another at once,
   * so a backlog drains batch by batch without waiting for the timer.
   */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running || (this.options.canPublish && !this.options.canPublish())) return;
      this.running = this.drain()
        .then((r) => {
          if (r.claimed > 0) this.options.logger.info({ outbox: r }, 'job outbox relay: republished jobs whose first publish did not complete');
        })
        .catch((err: Error) => this.options.logger.warn({ err: { message: err.message } }, 'job outbox relay pass failed; retrying on the next tick'))
        .finally(() => (this.running = undefined));
    }, this.relayIntervalMs);
    this.timer.unref();
  }

  /** Relay passes until one claims less than a full batch, the broker goes away, or `stop`; totals of all of them. */
  private async drain(): Promise<RelayResult> {
    let total = { claimed: 0, published: 0, failed: 0 };
    for (;;) {
      const r = await this.relayOnce();
      total = { claimed: total.claimed + r.claimed, published: total.published + r.published, failed: total.failed + r.failed };
      // A batch that failed to publish waits for its backoff rather than being retried in a tight loop.
      if (r.claimed < this.relayBatchSize || r.failed > 0 || !this.timer) return total;
      if (this.options.canPublish && !this.options.canPublish()) return total;
    }
  }

  /**
   * What waits in the outbox right now: rows, and the age of the oldest in
   * seconds (0 when empty). Read at scrape time for the backlog metrics; on
   * Citus one small query per shard (the table only holds unpublished jobs).
   */
  async backlog(): Promise<{ pending: number; oldestSeconds: number }> {
    const { rows } = await this.options.pool.query<{ pending: number; oldest: Date | null }>(
      'SELECT count(*)::int AS pending, min(created_at) AS oldest FROM job_outbox',
    );
    const { pending, oldest } = rows[0] ?? { pending: 0, oldest: null };
    return { pending, oldestSeconds: oldest ? Math.max(0, (this.now() - oldest.getTime()) / 1000) : 0 };
  }

  /** Stops the timer and waits for a pass in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async publishOne(type: JobMessage['type'], envelope: JobMessage['envelope']): Promise<Error | undefined> {
    try {
      await this.options.publish(JOBS_EXCHANGE, type, envelope, { messageId: envelope.id, type });
      return undefined;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** Deletes confirmed rows and reschedules failed ones, grouped by user (one shard each). */
  private async settle(results: { userId: string; id: string; type: JobMessage['type']; error: Error | undefined; attempts: number }[], relayed: boolean): Promise<void> {
    const { pool, logger } = this.options;
    const done = new Map<string, string[]>();
    const work: Promise<unknown>[] = [];
    for (const r of results) {
      if (r.error === undefined) {
        if (relayed) this.options.relayed.inc({ type: r.type });
        done.set(r.userId, [...(done.get(r.userId) ?? []), r.id]);
        continue;
      }
      this.options.publishFailures.inc({ type: r.type });
      logger.warn({ err: { message: r.error.message }, jobId: r.id, jobType: r.type, attempts: r.attempts }, 'job publish failed; kept in the outbox for the relay');
      // A fresh row is due at once (the relay's backoff starts from there); a relayed one backs off.
      const due = relayed ? this.now() + outboxBackoffMs(r.attempts, this.maxBackoffMs) : this.now();
      work.push(
        pool.query('UPDATE job_outbox SET next_attempt_at = $3, last_error = $4 WHERE user_id = $1 AND id = $2', [r.userId, r.id, new Date(due), r.error.message.slice(0, 500)]),
      );
    }
    for (const [userId, ids] of done) {
      work.push(pool.query('DELETE FROM job_outbox WHERE user_id = $1 AND id = ANY($2::uuid[])', [userId, ids]));
    }
    // A row whose delete or reschedule fails stays in the outbox: the relay publishes it again later (the worker deduplicates).
    const settled = await Promise.allSettled(work);
    for (const s of settled) {
      if (s.status === 'rejected') logger.warn({ err: { message: (s.reason as Error).message } }, 'job outbox bookkeeping failed; the row stays for the relay');
    }
  }
}
