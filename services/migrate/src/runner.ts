import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '@noa/kit';

/** Where the SQL files live: `services/migrate/migrations` (next to `src/` and `dist/`). */
export const DEFAULT_MIGRATIONS_DIR = path.resolve(__dirname, '..', 'migrations');

/** `NNNN_<name>.sql`, or `NNNN_<name>.citus.sql` for Citus-only DDL. */
const FILE_NAME = /^(\d{4})_([a-z0-9_]+)(\.citus)?\.sql$/;

/**
 * Key for `pg_advisory_xact_lock`: every migrate run (a Job per rollout, or
 * several pods racing) serialises on it. Transaction-scoped so it also works
 * through PgBouncer in transaction-pooling mode, where a session lock could
 * end up on another server connection.
 */
export const MIGRATION_LOCK_KEY = 7_252_115_001;

export interface Migration {
  /** File name without `.sql`, e.g. `0001_users` or `0001_users.citus`; the key in schema_migrations. */
  readonly id: string;
  readonly file: string;
  readonly number: number;
  readonly citusOnly: boolean;
  readonly sql: string;
  /** sha256 of the file's bytes. */
  readonly checksum: string;
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

/**
 * Reads and orders the migrations: by number, the plain file before its
 * `.citus` companion (the companion distributes what the plain file created).
 * Rejects stray files and duplicate numbers with different names, so a typo
 * cannot silently skip a migration.
 */
export async function loadMigrations(directory = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(directory)).filter((f) => f.endsWith('.sql')).sort();
  const problems: string[] = [];
  const migrations: Migration[] = [];
  const nameByNumber = new Map<number, string>();
  for (const file of files) {
    const match = FILE_NAME.exec(file);
    if (!match) {
      problems.push(`${file}: name must look like NNNN_name.sql or NNNN_name.citus.sql (lower-case, digits, _)`);
      continue;
    }
    const number = Number(match[1]);
    const name = match[2]!;
    const known = nameByNumber.get(number);
    if (known !== undefined && known !== name) problems.push(`${file}: number ${match[1]} is already used by ${match[1]}_${known}`);
    nameByNumber.set(number, name);
    const bytes = await readFile(path.join(directory, file));
    migrations.push({
      id: file.slice(0, -'.sql'.length),
      file,
      number,
      citusOnly: match[3] !== undefined,
      sql: bytes.toString('utf8'),
      checksum: createHash('sha256').update(bytes).digest('hex'),
    });
  }
  for (const m of migrations) {
    if (m.citusOnly && !migrations.some((p) => p.number === m.number && !p.citusOnly)) {
      problems.push(`${m.file}: has no plain ${String(m.number).padStart(4, '0')}_*.sql companion`);
    }
  }
  if (problems.length > 0) throw new MigrationError(`invalid migrations in ${directory}:\n  - ${problems.join('\n  - ')}`);
  return migrations.sort((a, b) => a.number - b.number || Number(a.citusOnly) - Number(b.citusOnly));
}

export interface RunMigrationsArgs {
  /** The database to migrate. In the cluster the Job points at the Citus coordinator. */
  readonly databaseUrl: string;
  readonly logger: Logger;
  /** Folder with the SQL files (default {@link DEFAULT_MIGRATIONS_DIR}). */
  readonly directory?: string;
  /** Per-migration `statement_timeout` (default 0 = none: distributing a large table takes a while). */
  readonly statementTimeoutMs?: number;
  /** How long to wait for the migration lock held by another run (default 300000 ms). */
  readonly lockTimeoutMs?: number;
  /**
   * How long a migration's own statements may wait for a table lock (default
   * 5000 ms). An ALTER TABLE queued behind a long transaction would
   * otherwise hold up every later query on that table for as long as it
   * waits; past this it gives up, rolls back and is tried again.
   */
  readonly ddlLockTimeoutMs?: number;
  /** Tries per migration when its statements time out on a lock (default 8), with 1 s, 2 s, 4 s … (at most 30 s) between them. */
  readonly ddlLockAttempts?: number;
  /** First pause between those tries, in ms (default 1000); doubles each time. */
  readonly ddlLockRetryDelayMs?: number;
}

/** SQLSTATE lock_not_available: a lock_timeout expired. */
const LOCK_NOT_AVAILABLE = '55P03';

class LockTimeoutError extends Error {}

export interface MigrationResult {
  /** Ids applied by this run, in order. */
  readonly applied: string[];
  /** Citus-only ids skipped because the `citus` extension is absent. */
  readonly skipped: string[];
  /** Whether the database has the `citus` extension. */
  readonly citus: boolean;
}

/**
 * Applies every pending migration, each in its own transaction holding the
 * migration lock, recording `(id, checksum)` in `schema_migrations`. Safe to
 * run concurrently: a second runner waits for the lock, then sees the
 * migration already recorded. Refuses to continue if an applied file has
 * changed since (fix forward with a new file instead). `.citus.sql` files
 * run only where the `citus` extension exists, so the same set works on
 * plain PostgreSQL.
 */
export async function runMigrations(args: RunMigrationsArgs): Promise<MigrationResult> {
  const { logger } = args;
  const migrations = await loadMigrations(args.directory);
  const client = new pg.Client({
    connectionString: args.databaseUrl,
    connectionTimeoutMillis: 10_000,
    application_name: 'noa-migrate',
  });
  await client.connect();
  const applied: string[] = [];
  const skipped: string[] = [];
  try {
    // SET LOCAL per transaction, not SET per session: through PgBouncer's
    // transaction pooling a session setting would land on whichever server
    // connection ran it and leak to other clients.
    const settings = [
      `SET LOCAL lock_timeout = ${Math.max(0, Math.floor(args.lockTimeoutMs ?? 300_000))}`,
      `SET LOCAL statement_timeout = ${Math.max(0, Math.floor(args.statementTimeoutMs ?? 0))}`,
    ];
    const inTransaction = <T>(fn: () => Promise<T>) => transaction(client, settings, fn);
    await inTransaction(async () => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await client.query(`
        CREATE TABLE IF NOT EXISTS schema_migrations (
          id         text        PRIMARY KEY,
          checksum   text        NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`);
    });
    const citus = (await client.query("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).rowCount === 1;
    logger.info({ citus, files: migrations.length }, 'migrating');

    const ddlLockTimeout = Math.max(1, Math.floor(args.ddlLockTimeoutMs ?? 5_000));
    const attempts = Math.max(1, Math.floor(args.ddlLockAttempts ?? 8));
    for (const migration of migrations) {
      if (migration.citusOnly && !citus) {
        skipped.push(migration.id);
        continue;
      }
      const applyOnce = () => inTransaction(async () => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
        // Under the lock, so a run of another image cannot record the same number in between: a file
        // renamed after it was applied would otherwise run a second time under its new name.
        const { rows: sameNumber } = await client.query<{ id: string }>(
          `SELECT id FROM schema_migrations WHERE left(id, 4) = $1 AND id <> $2 AND (id LIKE '%.citus') = $3 ORDER BY id`,
          [migration.id.slice(0, 4), migration.id, migration.citusOnly],
        );
        if (sameNumber.length > 0) {
          throw new MigrationError(
            `${migration.file}: number ${migration.id.slice(0, 4)} was applied as ${sameNumber.map((r) => r.id).join(', ')}; applied migrations keep their names (add a new number instead)`,
          );
        }
        const { rows } = await client.query<{ checksum: string }>('SELECT checksum FROM schema_migrations WHERE id = $1', [migration.id]);
        if (rows.length === 1) {
          if (rows[0]!.checksum !== migration.checksum) {
            throw new MigrationError(
              `${migration.file} was changed after it was applied (recorded sha256 ${rows[0]!.checksum}, file ${migration.checksum}); ` +
                'applied migrations are immutable: add a new migration instead',
            );
          }
          return false;
        }
        const started = Date.now();
        // The long wait above was for the advisory lock; the migration's own statements get a short one.
        await client.query(`SET LOCAL lock_timeout = ${ddlLockTimeout}`);
        try {
          await client.query(migration.sql);
        } catch (err) {
          if ((err as { code?: string }).code === LOCK_NOT_AVAILABLE) throw new LockTimeoutError((err as Error).message);
          throw new MigrationError(`${migration.file} failed: ${(err as Error).message}`);
        }
        await client.query('INSERT INTO schema_migrations (id, checksum) VALUES ($1, $2)', [migration.id, migration.checksum]);
        logger.info({ migration: migration.id, ms: Date.now() - started }, 'applied migration');
        return true;
      });
      let ran = false;
      for (let attempt = 1; ; attempt++) {
        try {
          ran = await applyOnce();
          break;
        } catch (err) {
          if (!(err instanceof LockTimeoutError)) throw err;
          if (attempt >= attempts) {
            throw new MigrationError(`${migration.file} failed: its statements waited ${ddlLockTimeout} ms for a table lock ${attempts} times (${err.message}); a long transaction holds the table`);
          }
          const delayMs = Math.min(30_000, (args.ddlLockRetryDelayMs ?? 1_000) * 2 ** (attempt - 1));
          logger.warn({ migration: migration.id, attempt, delayMs, lockTimeoutMs: ddlLockTimeout }, 'migration waited too long for a table lock; rolled back, trying again');
          await new Promise((resolve) => setTimeout(resolve, delayMs));
        }
      }
      if (ran) applied.push(migration.id);
    }
    const known = new Set(migrations.map((m) => m.id));
    const { rows: recorded } = await client.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
    const unknown = recorded.map((r) => r.id).filter((id) => !known.has(id));
    if (unknown.length > 0) {
      // Expected briefly during a rollback to an older image; worth a look otherwise.
      logger.warn({ unknown }, 'database has migrations this image does not know');
    }
    logger.info({ applied: applied.length, skipped: skipped.length }, 'migrations up to date');
    return { applied, skipped, citus };
  } finally {
    await client.end();
  }
}

async function transaction<T>(client: pg.Client, settings: readonly string[], fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    for (const setting of settings) await client.query(setting);
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
