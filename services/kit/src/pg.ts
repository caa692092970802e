import pg from 'pg';
import type { Logger } from 'pino';

/** The pool type services pass around (so they need not depend on `pg` themselves). */
export type PgPool = pg.Pool;
export type PgPoolClient = pg.PoolClient;

export interface PgPoolArgs {
  /** `postgres://user:pass@host:port/db` (PgBouncer in front of the Citus coordinator in the cluster). */
  readonly url: string;
  /** Maximum connections per process (default 10; `DATABASE_POOL_MAX`). */
  readonly max?: number;
  /** Logs idle-client errors (a dropped server connection must not crash the process). */
  readonly logger: Logger;
  /** How long a request waits for a free connection before failing (default 5000 ms; pg's own default waits forever). */
  readonly connectionTimeoutMs?: number;
  /**
   * Client-side deadline for a query's answer (default 15000 ms). Enforced by
   * pg itself, so it holds through PgBouncer and when the server is
   * unreachable; the server-side statement is cancelled only by
   * `statementTimeoutMs` or the role's own `statement_timeout`.
   */
  readonly queryTimeoutMs?: number;
  /**
   * Server-side `statement_timeout`, sent as a startup parameter (default
   * unset). Leave unset behind PgBouncer: in transaction pooling it refuses
   * startup parameters it does not know, so the cluster sets the timeout on
   * the database role instead (`ALTER ROLE ... SET statement_timeout`).
   */
  readonly statementTimeoutMs?: number;
  /** Server-side `idle_in_transaction_session_timeout` startup parameter (default unset; same PgBouncer caveat). */
  readonly idleInTransactionTimeoutMs?: number;
  /** Idle connections are closed after this long (default 30000 ms). */
  readonly idleTimeoutMs?: number;
  /** `application_name` shown in pg_stat_activity (default: the logger's service). */
  readonly applicationName?: string;
}

/**
 * A pg pool that fails fast instead of hanging: pg waits forever for a
 * connection by default (`connectionTimeoutMillis: 0`) and for a query's
 * answer too, so a saturated pool or a dead database would stall every
 * request until the pod's deadline.
 */
export function createPgPool(args: PgPoolArgs): pg.Pool {
  const pool = new pg.Pool({
    connectionString: args.url,
    max: args.max ?? 10,
    connectionTimeoutMillis: args.connectionTimeoutMs ?? 5_000,
    idleTimeoutMillis: args.idleTimeoutMs ?? 30_000,
    query_timeout: args.queryTimeoutMs ?? 15_000,
    ...(args.statementTimeoutMs !== undefined ? { statement_timeout: args.statementTimeoutMs } : {}),
    ...(args.idleInTransactionTimeoutMs !== undefined
      ? { idle_in_transaction_session_timeout: args.idleInTransactionTimeoutMs }
      : {}),
    application_name: args.applicationName ?? serviceOf(args.logger),
    keepAlive: true,
  });
  // Without a listener, an error on an idle client (database restart,
  // failover) is an uncaught 'error' event and kills the process.
  pool.on('error', (err) => args.logger.warn({ err }, 'idle PostgreSQL client failed; it was removed from the pool'));
  return pool;
}

/** A readiness check: one round trip through the pool. */
export async function checkPg(pool: pg.Pool): Promise<{ totalCount: number; idleCount: number; waitingCount: number }> {
  await pool.query('SELECT 1');
  return { totalCount: pool.totalCount, idleCount: pool.idleCount, waitingCount: pool.waitingCount };
}

function serviceOf(logger: Logger): string {
  const bindings = logger.bindings() as { service?: unknown };
  return typeof bindings.service === 'string' ? bindings.service : 'noa';
}

/**
 * Runs `fn` in one transaction on a connection of `pool`: COMMIT when it
 * resolves, ROLLBACK when it throws (the error is rethrown). A connection
 * whose ROLLBACK failed is destroyed rather than returned to the pool.
 */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    client.release(broken);
  }
}
