import { withTransaction, type Logger, type PgPool } from '@noa/kit';
import type { DatabaseSlots } from './database-slots';

/** Advisory lock key ('noa' + 'prune'): one replica sweeps at a time. */
const SWEEP_LOCK_KEY = 0x6e6f6170;

export interface RetentionOptions {
  readonly pool: PgPool;
  readonly logger: Logger;
  /** How long a processed job is remembered, for recognising a redelivery (hours). */
  readonly retentionHours: number;
  /** Time between sweeps (default 5 minutes); the first comes after a random part of it, so replicas spread out. */
  readonly intervalMs?: number;
  /** Counts the rows each sweep deleted. */
  readonly onPruned?: (rows: number) => void;
  /** The job consumer's database slots: a sweep takes one, so it never takes the connection kept for readiness. */
  readonly slots?: DatabaseSlots;
  /** Records deleted per statement (default 5000): each batch is its own short transaction, well inside the query timeout. */
  readonly batchSize?: number;
  /** Batches per sweep at most (default 200): a backlog is worked off over several sweeps rather than one long one. */
  readonly maxBatches?: number;
}

/**
 * Prunes `processed_jobs`, the worker's record of applied jobs, past its
 * retention. The record exists to recognise a redelivery (a retry, a crash
 * before the ack, a replay), which comes within minutes to hours; without
 * pruning the table grows by a row per job forever (at the seeds' peak of
 * 100,000 jobs a minute, 144 million rows a day). Every replica schedules
 * sweeps; a transaction-scoped advisory lock lets one run at a time (the
 * others skip). A sweep deletes in batches, each its own short transaction
 * (a backlog — after lowering the retention, or a day without sweeps — is
 * worked off batch by batch instead of one DELETE that would outlast the
 * query timeout and roll back every time), and stops between batches when
 * the worker shuts down.
 */
export class ProcessedJobsRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(private readonly options: RetentionOptions) {
    if (!(Number.isInteger(options.retentionHours) && options.retentionHours >= 1)) {
      throw new Error(`retentionHours (${options.retentionHours}) must be a whole number of at least 1`);
    }
  }

  /** Schedules the sweeps. */
  start(): void {
    const interval = this.options.intervalMs ?? 300_000;
    const next = (delay: number) => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.running = this.sweep()
          .catch((err: unknown) => {
            if (!this.stopped) this.options.logger.warn({ err }, 'pruning processed_jobs failed; trying again at the next sweep');
            return 0;
          })
          .finally(() => {
            this.running = undefined;
            next(interval);
          });
      }, delay);
      this.timer.unref();
    };
    next(Math.floor(Math.random() * interval));
  }

  /**
   * Deletes the records older than the retention; resolves with how many
   * (0 as well when another replica's sweep holds the lock).
   */
  async sweep(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - this.options.retentionHours * 3_600_000);
    const batchSize = this.options.batchSize ?? 5_000;
    const maxBatches = this.options.maxBatches ?? 200;
    let total = 0;
    for (let batch = 0; batch < maxBatches && !this.stopped; batch++) {
      const deleted = await this.deleteBatch(cutoff, batchSize);
      if (deleted === undefined) break; // another replica is sweeping
      total += deleted;
      if (deleted < batchSize) break;
    }
    if (total > 0) this.options.logger.info({ rows: total, before: cutoff.toISOString() }, 'pruned processed_jobs');
    this.options.onPruned?.(total);
    return total;
  }

  /** One batch in its own transaction, under the sweep lock; undefined when another replica holds it. */
  private async deleteBatch(cutoff: Date, batchSize: number): Promise<number | undefined> {
    const release = this.options.slots ? await this.options.slots.acquire(this.abort.signal) : () => {};
    try {
      return await withTransaction(this.options.pool, async (client) => {
        const { rows: locked } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [SWEEP_LOCK_KEY]);
        if (!locked[0]!.ok) return undefined;
        const result = await client.query(
          `DELETE FROM processed_jobs WHERE (user_id, job_id) IN (SELECT user_id, job_id FROM processed_jobs WHERE processed_at < $1 LIMIT $2)`,
          [cutoff, batchSize],
        );
        return result.rowCount ?? 0;
      });
    } finally {
      release();
    }
  }

  /** Stops sweeping and waits for a sweep in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort(new Error('worker shutting down'));
    await this.running;
  }
}
