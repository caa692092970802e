import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTestVhost, ensureRedisCluster, freePort, REDIS_CLUSTER_SEEDS, type TestDatabase, type TestVhost } from '@noa/kit/testing';
import { migratedDatabase } from './support';

const ROOT = path.resolve(__dirname, '..', '..', '..');

// The Dockerfile's compile step, then the bundle run the way the image runs it.
describe('workflows build (the Dockerfile compile step)', function () {
  this.timeout(60_000);
  let out: string;
  let db: TestDatabase;
  let vhost: TestVhost;

  before(async () => {
    out = await mkdtemp(path.join(os.tmpdir(), 'noa-workflows-build-'));
    await ensureRedisCluster();
    [db, vhost] = await Promise.all([migratedDatabase('workflows_build'), createTestVhost('workflows_build')]);
    await promisify(execFile)(path.join(ROOT, 'scripts', 'build-service.sh'), ['workflows', out]);
  });
  after(async () => {
    await rm(out, { recursive: true, force: true });
    await Promise.all([db?.drop(), vhost?.delete()]);
  });

  it('bundles into one file that serves the API, is ready on all dependencies and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    let output = '';
    const child = spawn(process.execPath, ['--enable-source-maps', path.join(out, 'main.js')], {
      cwd: out,
      env: { PATH: process.env['PATH'], PORT: String(port), LOG_LEVEL: 'warn', DATABASE_URL: db.url, REDIS_CLUSTER_NODES: REDIS_CLUSTER_SEEDS, AMQP_URL: vhost.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c) => (output += c));
    child.stderr!.on('data', (c) => (output += c));
    try {
      const base = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 20_000;
      let ready: any;
      for (;;) {
        const res = await fetch(`${base}/health/ready`).catch(() => null);
        if (res?.status === 200) {
          ready = await res.json();
          if (ready.status === 'ok') break;
        }
        if (Date.now() > deadline) assert.fail(`not ready in time: ${JSON.stringify(ready)} ${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(Object.keys(ready.checks).sort(), ['postgres', 'rabbitmq', 'redis']);
      const user = randomUUID();
      const created = await fetch(`${base}/api/workflows`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-user-id': user }, body: JSON.stringify({ name: 'from the bundle' }) });
      assert.equal(created.status, 201);
      const id = ((await created.json()) as { id: string }).id;
      const read = await fetch(`${base}/api/workflows/${id}`, { headers: { 'x-user-id': user } });
      assert.equal(read.status, 200);
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0, output);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('refuses to start on bad configuration, naming every variable, with exit code 2', async () => {
    const child = spawn(process.execPath, [path.join(out, 'main.js')], {
      cwd: out,
      env: { PATH: process.env['PATH'], DATABASE_URL: 'mysql://nope', AMQP_URL: vhost.url, WORKFLOW_CACHE_TTL_S: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (c) => (stderr += c));
    const [code] = await once(child, 'exit');
    assert.equal(code, 2);
    assert.match(stderr, /DATABASE_URL: must be a postgres:\/\/ URL/);
    assert.match(stderr, /REDIS_CLUSTER_NODES: set exactly one of REDIS_CLUSTER_NODES or REDIS_URL \(neither set\)/);
    assert.match(stderr, /WORKFLOW_CACHE_TTL_S: .*\(got "0"\)/);
  });
});
