/**
 * Errors that say PostgreSQL (or PgBouncer in front of it) could not be
 * used at all, as opposed to a job that failed: the worker puts such jobs
 * back for later without spending an attempt, so an ordinary failover does
 * not exhaust every job's retries and dead-letter it.
 */
export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`PostgreSQL unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'DatabaseUnavailableError';
  }
}

/** SQLSTATEs of a connection lost or refused: class 08, shutdowns (57P01-57P03), too many connections (53300). */
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[1-3]|53300)$/;

/** True for an error from a database connection that broke or was refused while a job used it. */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  const e = err as { code?: unknown; severity?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && typeof e.severity === 'string' && UNAVAILABLE_SQLSTATE.test(e.code)) return true;
  // node-postgres' own errors when the socket goes away mid-query.
  return typeof e?.message === 'string' && /^Connection terminated( unexpectedly)?$|^Client has encountered a connection error/.test(e.message);
}
