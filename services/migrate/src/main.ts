/**
 * `migrate` — applies pending migrations and exits (0 done, 1 failed, 2 bad
 * configuration). The deploy runs it as a Kubernetes Job before rolling out
 * the services; running it twice at once is safe (see runMigrations).
 *
 *   node dist/main.js migrate     # apply (default)
 *   node dist/main.js status      # list files and whether each is applied
 */
import { ConfigError, commonEnv, createLogger, intVar, loadEnv, pgEnv, envSchema, z } from '@noa/kit';
import pg from 'pg';
import { DEFAULT_MIGRATIONS_DIR, loadMigrations, runMigrations } from '../index.js';

const schema = envSchema(
  commonEnv.pick({ LOG_LEVEL: true }),
  pgEnv.pick({ DATABASE_URL: true }),
  z.object({
    MIGRATIONS_DIR: z.string().min(1).default(DEFAULT_MIGRATIONS_DIR),
    MIGRATE_LOCK_TIMEOUT_MS: intVar(0).default(300_000),
    MIGRATE_DDL_LOCK_TIMEOUT_MS: intVar(1, 600_000).default(5_000),
  }),
);

async function status(databaseUrl: string, directory: string): Promise<void> {
  const migrations = await loadMigrations(directory);
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    const exists = (await client.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS ok")).rows[0].ok as boolean;
    const citus = (await client.query("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).rowCount === 1;
    const applied = new Map<string, Date>();
    if (exists) {
      for (const row of (await client.query<{ id: string; applied_at: Date }>('SELECT id, applied_at FROM schema_migrations')).rows) {
        applied.set(row.id, row.applied_at);
      }
    }
    for (const m of migrations) {
      const at = applied.get(m.id);
      const state = at ? `applied ${at.toISOString()}` : m.citusOnly && !citus ? 'skipped (no citus)' : 'pending';
      process.stdout.write(`${state.padEnd(32)}  ${m.file}\n`);
    }
  } finally {
    await client.end();
  }
}

async function main(): Promise<number> {
  const command = process.argv[2] ?? 'migrate';
  let env: z.infer<typeof schema>;
  try {
    env = loadEnv(schema);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`migrate: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const logger = createLogger('migrate', env.LOG_LEVEL);
  try {
    if (command === 'migrate' || command === 'up') {
      await runMigrations({
        databaseUrl: env.DATABASE_URL,
        logger,
        directory: env.MIGRATIONS_DIR,
        lockTimeoutMs: env.MIGRATE_LOCK_TIMEOUT_MS,
        ddlLockTimeoutMs: env.MIGRATE_DDL_LOCK_TIMEOUT_MS,
      });
      return 0;
    }
    if (command === 'status') {
      await status(env.DATABASE_URL, env.MIGRATIONS_DIR);
      return 0;
    }
    process.stderr.write(`migrate: unknown command ${JSON.stringify(command)} (expected migrate or status)\n`);
    return 2;
  } catch (err) {
    logger.error({ err }, 'migration failed');
    return 1;
  }
}

void main().then((code) => {
  process.exitCode = code;
});
