import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { createLogger } from '@noa/kit';
import { createTestDatabase, type TestDatabase } from '@noa/kit/testing';
import { DEFAULT_MIGRATIONS_DIR, MigrationError, loadMigrations, runMigrations } from '../index.js';

const exec = promisify(execFile);
const logger = createLogger('migrate-test', 'silent');

async function tables(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ t: string }>(
      "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    );
    return rows.map((r) => r.t);
  } finally {
    await client.end();
  }
}

async function tempMigrations(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'noa-migrations-'));
  for (const [name, sql] of Object.entries(files)) await writeFile(path.join(dir, name), sql);
  return dir;
}

describe('loadMigrations', () => {
  it('orders by number with each plain file before its .citus companion', async () => {
    const dir = await tempMigrations({
      '0002_b.citus.sql': 'SELECT 2;',
      '0002_b.sql': 'SELECT 2;',
      '0001_a.citus.sql': 'SELECT 1;',
      '0001_a.sql': 'SELECT 1;',
      'README.txt': 'ignored',
    });
    try {
      const ids = (await loadMigrations(dir)).map((m) => m.id);
      assert.deepEqual(ids, ['0001_a', '0001_a.citus', '0002_b', '0002_b.citus']);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('lists every malformed name, reused number and orphan citus file', async () => {
    const dir = await tempMigrations({
      '0001_a.sql': '',
      '0001_other.sql': '',
      '1_short.sql': '',
      '0003_c.citus.sql': '',
      '0004_Upper.sql': '',
    });
    try {
      await assert.rejects(loadMigrations(dir), (err: unknown) => {
        assert.ok(err instanceof MigrationError);
        assert.match(err.message, /1_short\.sql: name must look like NNNN_name\.sql/);
        assert.match(err.message, /0004_Upper\.sql: name must look like/);
        assert.match(err.message, /0001_other\.sql: number 0001 is already used by 0001_a/);
        assert.match(err.message, /0003_c\.citus\.sql: has no plain 0003_\*\.sql companion/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('the repository set is well-formed and starts with users', async () => {
    const migrations = await loadMigrations(DEFAULT_MIGRATIONS_DIR);
    assert.equal(migrations[0]!.id, '0001_users');
    assert.equal(migrations[1]!.id, '0001_users.citus');
  });
});

describe('runMigrations', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase('migrate');
  });
  afterEach(async () => db?.drop());

  it('applies the repository set on plain PostgreSQL, skipping Citus-only files, once', async () => {
    const all = await loadMigrations();
    const first = await runMigrations({ databaseUrl: db.url, logger });
    assert.equal(first.citus, false);
    assert.deepEqual(first.applied, all.filter((m) => !m.citusOnly).map((m) => m.id));
    assert.deepEqual(first.skipped, all.filter((m) => m.citusOnly).map((m) => m.id));
    const created = await tables(db.url);
    for (const t of ['schema_migrations', 'users', 'user_emails']) assert.ok(created.includes(t), `table ${t}`);
    const second = await runMigrations({ databaseUrl: db.url, logger });
    assert.deepEqual(second.applied, []);
  });

  it('is safe when several runs race on a fresh database', async () => {
    const results = await Promise.all([1, 2, 3].map(() => runMigrations({ databaseUrl: db.url, logger })));
    const appliedIds = results.flatMap((r) => r.applied).sort();
    const expected = (await loadMigrations()).filter((m) => !m.citusOnly).map((m) => m.id).sort();
    assert.deepEqual(appliedIds, expected, 'each migration applied by exactly one runner');
  });

  it('refuses an applied migration whose file changed, and rolls back a failing one', async () => {
    const dir = await tempMigrations({ '0001_t.sql': 'CREATE TABLE t (id int);' });
    try {
      await runMigrations({ databaseUrl: db.url, logger, directory: dir });
      await appendFile(path.join(dir, '0001_t.sql'), '\n-- edited');
      await assert.rejects(
        runMigrations({ databaseUrl: db.url, logger, directory: dir }),
        /0001_t\.sql was changed after it was applied .*add a new migration instead/,
      );
      await writeFile(path.join(dir, '0001_t.sql'), 'CREATE TABLE t (id int);');
      await writeFile(path.join(dir, '0002_bad.sql'), 'CREATE TABLE u (id int); SELECT no_such_column FROM t;');
      await assert.rejects(runMigrations({ databaseUrl: db.url, logger, directory: dir }), /0002_bad\.sql failed: column "no_such_column" does not exist/);
      assert.ok(!(await tables(db.url)).includes('u'), 'the failed migration left nothing behind');
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('refuses a migration renamed after it was applied instead of applying it again', async () => {
    const dir = await tempMigrations({ '0001_t.sql': 'CREATE TABLE t (id int);', '0002_u.sql': 'CREATE TABLE u (id int);' });
    try {
      await runMigrations({ databaseUrl: db.url, logger, directory: dir });
      await rm(path.join(dir, '0002_u.sql'));
      await writeFile(path.join(dir, '0002_u_renamed.sql'), 'CREATE TABLE u (id int);');
      await assert.rejects(
        runMigrations({ databaseUrl: db.url, logger, directory: dir }),
        (err: Error) => err instanceof MigrationError && err.message === '0002_u_renamed.sql: number 0002 was applied as 0002_u; applied migrations keep their names (add a new number instead)',
      );
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('records one of two images that race with a migration under different names, and refuses the other', async () => {
    const a = await tempMigrations({ '0001_t.sql': 'CREATE TABLE t (id int);', '0002_u.sql': 'CREATE TABLE IF NOT EXISTS u (id int);' });
    const b = await tempMigrations({ '0001_t.sql': 'CREATE TABLE t (id int);', '0002_u_renamed.sql': 'CREATE TABLE IF NOT EXISTS u (id int);' });
    try {
      const results = await Promise.allSettled([runMigrations({ databaseUrl: db.url, logger, directory: a }), runMigrations({ databaseUrl: db.url, logger, directory: b })]);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        const ids = (await client.query<{ id: string }>(`SELECT id FROM schema_migrations WHERE id LIKE '0002%'`)).rows.map((r) => r.id);
        assert.equal(ids.length, 1, `recorded ${ids.join(', ')}`);
      } finally {
        await client.end();
      }
      const refused = results.filter((r) => r.status === 'rejected');
      assert.equal(refused.length, 1);
      assert.match(String((refused[0] as PromiseRejectedResult).reason), /number 0002 was applied as 0002_u(_renamed)?; applied migrations keep their names/);
    } finally {
      await rm(a, { recursive: true });
      await rm(b, { recursive: true });
    }
  });

  it('lets its statements wait only briefly for a table lock, rolling back and trying again, so queries on the table are not held up', async () => {
    const dir = await tempMigrations({ '0001_t.sql': 'CREATE TABLE t (id int); INSERT INTO t VALUES (1);' });
    const holder = new pg.Client({ connectionString: db.url });
    const reader = new pg.Client({ connectionString: db.url });
    try {
      await runMigrations({ databaseUrl: db.url, logger, directory: dir });
      await writeFile(path.join(dir, '0002_alter.sql'), 'ALTER TABLE t ADD COLUMN note text;');
      await Promise.all([holder.connect(), reader.connect()]);
      // A long transaction holds the table (a report, a backup)...
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM t');
      const migrating = runMigrations({ databaseUrl: db.url, logger, directory: dir, ddlLockTimeoutMs: 200, ddlLockAttempts: 20, ddlLockRetryDelayMs: 300 });
      await new Promise((r) => setTimeout(r, 100));
      // ...a plain read meanwhile is not stuck behind the waiting ALTER for more than its short lock timeout.
      const started = Date.now();
      await reader.query('SELECT * FROM t');
      assert.ok(Date.now() - started < 1_000, `a read waited ${Date.now() - started} ms behind the migration`);
      await holder.query('COMMIT');
      const result = await migrating;
      assert.deepEqual(result.applied, ['0002_alter']);
      // And when the lock never comes, it gives up with the reason after its tries.
      await writeFile(path.join(dir, '0003_alter.sql'), 'ALTER TABLE t ADD COLUMN other text;');
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM t');
      await assert.rejects(
        runMigrations({ databaseUrl: db.url, logger, directory: dir, ddlLockTimeoutMs: 50, ddlLockAttempts: 2, ddlLockRetryDelayMs: 10 }),
        /0003_alter\.sql failed: its statements waited 50 ms for a table lock 2 times .*a long transaction holds the table/,
      );
      await holder.query('ROLLBACK');
    } finally {
      await holder.end().catch(() => undefined);
      await reader.end().catch(() => undefined);
      await rm(dir, { recursive: true });
    }
  });

  it('the users schema stores one row per email through user_emails', async () => {
    await runMigrations({ databaseUrl: db.url, logger });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query("INSERT INTO user_emails (email, user_id) VALUES ('a@example.com', gen_random_uuid())");
      await assert.rejects(
        client.query("INSERT INTO user_emails (email, user_id) VALUES ('a@example.com', gen_random_uuid())"),
        /duplicate key value violates unique constraint "user_emails_pkey"/,
      );
    } finally {
      await client.end();
    }
  });
});

describe('migrate CLI', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('migrate_cli');
  });
  after(async () => db?.drop());
  const main = path.join(__dirname, '..', 'src', 'main.ts');
  const run = (args: string[], env: Record<string, string | undefined>) =>
    exec(process.execPath, ['--import', 'tsx', main, ...args], { env: { ...process.env, ...env } });

  it('migrates, then reports every file applied or pending', async () => {
    await run(['migrate'], { DATABASE_URL: db.url, LOG_LEVEL: 'warn' });
    const { stdout } = await run(['status'], { DATABASE_URL: db.url });
    const lines = stdout.trim().split('\n');
    const all = await loadMigrations();
    assert.equal(lines.length, all.length);
    assert.match(lines[0]!, /^applied \d{4}-.*  0001_users\.sql$/);
    assert.match(lines[1]!, /^skipped \(no citus\) +0001_users\.citus\.sql$/);
  });

  it('exits 2 naming a bad DATABASE_URL', async () => {
    await assert.rejects(run(['migrate'], { DATABASE_URL: 'mysql://x' }), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /DATABASE_URL: must be a postgres:\/\/ URL \(got "mysql:\/\/x"\)/);
      return true;
    });
  });
});
