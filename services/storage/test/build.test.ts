import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, type TestDatabase } from '@noa/kit/testing';
import S3rver from 's3rver';
import { migratedDatabase } from './support';

const ROOT = path.resolve(__dirname, '..', '..', '..');

// The Dockerfile's compile step, then the bundle run the way the image runs it,
// with credentials from the environment through the SDK's default chain.
describe('storage build (the Dockerfile compile step)', function () {
  this.timeout(60_000);
  const bucket = 'noa-build-objects';
  let out: string;
  let db: TestDatabase;
  let s3rver: S3rver;
  let s3Port: number;

  before(async () => {
    out = await mkdtemp(path.join(os.tmpdir(), 'noa-storage-build-'));
    s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: path.join(out, 's3'), configureBuckets: [{ name: bucket }] });
    [{ port: s3Port }, db] = await Promise.all([s3rver.run(), migratedDatabase('storage_build')]);
    await promisify(execFile)(path.join(ROOT, 'scripts', 'build-service.sh'), ['storage', path.join(out, 'dist')]);
  });
  after(async () => {
    await s3rver?.close();
    await db?.drop();
    await rm(out, { recursive: true, force: true });
  });

  it('bundles into one file that presigns a working upload and download and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    let output = '';
    const child = spawn(process.execPath, ['--enable-source-maps', path.join(out, 'dist', 'main.js')], {
      cwd: out,
      env: {
        PATH: process.env['PATH'],
        PORT: String(port),
        LOG_LEVEL: 'warn',
        DATABASE_URL: db.url,
        S3_BUCKET: bucket,
        AWS_REGION: 'us-east-1',
        S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
        S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c) => (output += c));
    child.stderr!.on('data', (c) => (output += c));
    try {
      const base = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 20_000;
      for (;;) {
        const res = await fetch(`${base}/health/ready`).catch(() => null);
        if (res?.status === 200) break;
        if (Date.now() > deadline) assert.fail(`not ready in time: ${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const user = randomUUID();
      const created = await fetch(`${base}/api/storage/uploads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-user-id': user },
        body: JSON.stringify({ fileName: 'hello.txt', contentType: 'text/plain', size: 5 }),
      });
      assert.equal(created.status, 201);
      const object = (await created.json()) as { id: string; upload: { url: string; headers: Record<string, string> } };
      assert.equal((await fetch(object.upload.url, { method: 'PUT', headers: object.upload.headers, body: 'hello' })).status, 200);
      const meta = (await (await fetch(`${base}/api/storage/objects/${object.id}`, { headers: { 'x-user-id': user } })).json()) as { download: { url: string } };
      assert.equal(await (await fetch(meta.download.url)).text(), 'hello');
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0, output);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
