import type { Logger, PgPool } from '@noa/kit';

export interface RetentionOptions {
  readonly pool: PgPool;
  readonly logger: Logger;
  /** How long a processed job is remembered, for recognising a redelivery (hours). */
  readonly retentionHours: number;
  /** Time between sweeps (default 5 minutes); the first comes after a random part of it, so replicas spread out. */
  readonly intervalMs?: number;
  /** Counts the rows each sweep deleted. */
  readonly onPruned?: (rows: number) => void;
}

/**
 * Prunes `processed_jobs`, the worker's record of applied jobs, past its
 * retention. The record exists to recognise a redelivery (a retry, a crash
 * before the ack, a replay), which comes within minutes to hours; without
 * pruning the table grows by a row per job forever (at the seeds' peak of
 * 100,000 jobs a minute, 144 million rows a day). Every replica sweeps;
 * the DELETE is idempotent, and frequent sweeps keep each one small. On
 * Citus it runs on every shard in parallel.
 */
export class ProcessedJobsRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;

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
            this.options.logger.warn({ err }, 'pruning processed_jobs failed; trying again at the next sweep');
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

  /** Deletes the records older than the retention; resolves with how many. */
  async sweep(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - this.options.retentionHours * 3_600_000);
    const { rowCount } = await this.options.pool.query('DELETE FROM processed_jobs WHERE processed_at < $1', [cutoff]);
    const rows = rowCount ?? 0;
    if (rows > 0) this.options.logger.info({ rows, before: cutoff.toISOString() }, 'pruned processed_jobs');
    this.options.onPruned?.(rows);
    return rows;
  }

  /** Stops sweeping and waits for a sweep in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
