import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '@noa/kit/testing';
import { loadMigrations } from '../index.js';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..', '..');

// The image's layout: /app/dist/main.js beside /app/migrations.
describe('migrate build (the Dockerfile compile step)', function () {
  this.timeout(60_000);
  let app: string;
  let db: TestDatabase;
  before(async () => {
    app = await mkdtemp(path.join(os.tmpdir(), 'noa-migrate-build-'));
    db = await createTestDatabase('migrate_build');
  });
  after(async () => {
    await rm(app, { recursive: true, force: true });
    await db?.drop();
  });

  it('the bundle applies the shipped migrations from ../migrations', async () => {
    await exec(path.join(ROOT, 'scripts', 'build-service.sh'), ['migrate', path.join(app, 'dist')]);
    await cp(path.join(ROOT, 'services', 'migrate', 'migrations'), path.join(app, 'migrations'), { recursive: true });
    await exec(process.execPath, [path.join(app, 'dist', 'main.js'), 'migrate'], {
      cwd: '/',
      env: { PATH: process.env['PATH'], DATABASE_URL: db.url, LOG_LEVEL: 'warn' },
    });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
      const expected = (await loadMigrations()).filter((m) => !m.citusOnly).map((m) => m.id);
      assert.deepEqual(rows.map((r) => r.id), expected);
    } finally {
      await client.end();
    }
  });
});
