import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createLogger } from '@noa/kit';
import { createTestDatabase, ensureRedisCluster, freePort, REDIS_CLUSTER_SEEDS, type TestDatabase } from '@noa/kit/testing';
import { runMigrations } from '@noa/migrate';
import { JWT } from './harness.js';

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, '..', '..', '..');

async function waitFor(url: string, status: number, timeoutMs = 15_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.status === status) return res;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) assert.fail(`${url} did not answer ${status} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The Dockerfile's build step (scripts/build-service.sh users), then the
// bundle run the way the image runs it: plain node, no tsx, no sources.
describe('users build (the Dockerfile compile step)', function () {
  this.timeout(60_000);
  let out: string;
  let db: TestDatabase;
  before(async () => {
    out = await mkdtemp(path.join(os.tmpdir(), 'noa-users-build-'));
    await ensureRedisCluster();
    db = await createTestDatabase('users_build');
    await runMigrations({ databaseUrl: db.url, logger: createLogger('users-build-test', 'silent') });
  });
  after(async () => {
    await rm(out, { recursive: true, force: true });
    await db?.drop();
  });

  it('bundles into one file that serves, answers readiness and exits 0 on SIGTERM', async () => {
    await exec(path.join(ROOT, 'scripts', 'build-service.sh'), ['users', out]);
    assert.ok((await stat(path.join(out, 'main.js'))).size > 100_000);
    const port = await freePort();
    const child = spawn(process.execPath, ['--enable-source-maps', path.join(out, 'main.js')], {
      cwd: out,
      env: {
        PATH: process.env['PATH'],
        PORT: String(port),
        LOG_LEVEL: 'warn',
        DATABASE_URL: db.url,
        REDIS_CLUSTER_NODES: REDIS_CLUSTER_SEEDS,
        JWT_SECRET: JWT.secret,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor(`${base}/health/startup`, 200);
      const ready = (await (await waitFor(`${base}/health/ready`, 200)).json()) as { checks: Record<string, { status?: string; mode?: string }> };
      assert.equal(ready.checks.postgres.status, 'ok');
      assert.equal(ready.checks.redis.mode, 'cluster');
      const signup = await fetch(`${base}/api/auth/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'bundle@example.com', password: 'bundle-password' }),
      });
      assert.equal(signup.status, 201);
      const { accessToken } = (await signup.json()) as { accessToken: string };
      const me = await fetch(`${base}/api/users/me`, { headers: { authorization: `Bearer ${accessToken}` } });
      assert.equal(((await me.json()) as { email: string }).email, 'bundle@example.com');
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });

  it('refuses to start with bad configuration, naming every variable (exit 2)', async () => {
    await exec(path.join(ROOT, 'scripts', 'build-service.sh'), ['users', out]);
    await assert.rejects(
      exec(process.execPath, [path.join(out, 'main.js')], { env: { PATH: process.env['PATH'], JWT_SECRET: 'short' } }),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 2);
        assert.match(err.stderr, /DATABASE_URL: /);
        assert.match(err.stderr, /JWT_SECRET: must be at least 32 characters/);
        assert.match(err.stderr, /REDIS_CLUSTER_NODES: set exactly one of REDIS_CLUSTER_NODES or REDIS_URL/);
        assert.doesNotMatch(err.stderr, /short/);
        return true;
      },
    );
  });
});
