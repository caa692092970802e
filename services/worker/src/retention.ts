import type { Logger, PgPool } from '@noa/kit';
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
}

/**
 * Prunes `processed_jobs`, the worker's record of applied jobs, past its
 * retention. The record exists to recognise a redelivery (a retry, a crash
 * before the ack, a replay), which comes within minutes to hours; without
 * pruning the table grows by a row per job forever (at the seeds' peak of
 * 100,000 jobs a minute, 144 million rows a day). Every replica schedules
 * sweeps; a transaction-scoped advisory lock lets one run at a time (the
 * others skip), frequent sweeps keep each one small, and on Citus the
 * DELETE runs on every shard in parallel.
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
    const release = this.options.slots ? await this.options.slots.acquire(this.abort.signal) : () => {};
    try {
      const client = await this.options.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const { rows: locked } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [SWEEP_LOCK_KEY]);
        let rows = 0;
        if (locked[0]!.ok) rows = (await client.query('DELETE FROM processed_jobs WHERE processed_at < $1', [cutoff])).rowCount ?? 0;
        await client.query('COMMIT');
        if (rows > 0) this.options.logger.info({ rows, before: cutoff.toISOString() }, 'pruned processed_jobs');
        this.options.onPruned?.(rows);
        return rows;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw err;
      } finally {
        client.release(broken);
      }
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
