import type { Logger, PgPoolClient, z } from '@noa/kit';
import type { Job } from '../jobs';

/** What a handler may use while it runs. */
export interface JobContext {
  /**
   * A client inside the transaction that also records the job as processed
   * (`processed_jobs`): effects written through it happen exactly once even
   * when the job is delivered twice. Null for non-transactional handlers.
   */
  readonly db: PgPoolClient | null;
  readonly log: Logger;
  /** Aborted when the worker gives up on the attempt (shutdown deadline). */
  readonly signal: AbortSignal;
}

/** One job type's behaviour. The worker chooses it by the envelope's `type`. */
export interface JobHandler<P = unknown> {
  readonly type: string;
  /** Validates the payload; a payload that fails is dead-lettered at once (it would fail every retry). */
  readonly payload: z.ZodType<P>;
  /**
   * True when the handler's effects live in PostgreSQL and must be applied in
   * the same transaction as the processed-jobs record (the default for every
   * real job type). False only for handlers with no effects of their own.
   */
  readonly transactional: boolean;
  handle(job: Job<P>, ctx: JobContext): Promise<void>;
}

/**
 * A failure that no retry can fix (a 4xx from a webhook endpoint, a missing
 * user): the job goes straight to the dead-letter queue.
 */
export class PermanentJobError extends Error {
  override readonly name = 'PermanentJobError';
}

export function requireDb(ctx: JobContext): PgPoolClient {
  if (!ctx.db) throw new Error('this handler is transactional but ran without a database client');
  return ctx.db;
}
