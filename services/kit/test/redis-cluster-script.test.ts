import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * scripts/redis-cluster.sh owns the nodes it started from its directory and
 * no others: tests, `dev-services.sh` and the gateway benchmark each run a
 * cluster through it, and one of them must never adopt, or shut down, a Redis
 * that another started on the same ports.
 */

const SCRIPT = path.resolve(__dirname, '..', '..', '..', 'scripts', 'redis-cluster.sh');

function script(action: 'start' | 'stop' | 'status', dir: string, basePort: number) {
  return spawnSync('bash', [SCRIPT, action], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NOA_REDIS_CLUSTER_DIR: dir, NOA_REDIS_CLUSTER_BASE_PORT: String(basePort) },
  });
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Six consecutive free loopback ports, from a range no other suite uses (7000s: the shared cluster, 7100s: the benchmark). */
async function freeBase(): Promise<number> {
  for (let base = 7300; base < 7900; base += 10) {
    const taken = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => answers(base + i)));
    if (!taken.includes(true)) return base;
  }
  throw new Error('no six consecutive free ports in 7300–7900');
}

/** A plain redis-server that the script did not start. */
async function startForeignRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !(await answers(port)); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await answers(port), true, `redis-server on ${port} did not start`);
  return child;
}

describe('scripts/redis-cluster.sh', function () {
  this.timeout(90_000);
  let dir: string;
  let base: number;
  let foreign: ChildProcess | undefined;

  beforeEach(async () => {
    dir = path.join(mkdtempSync(path.join(tmpdir(), 'noa-redis-script-')), 'cluster');
    base = await freeBase();
  });

  afterEach(async () => {
    foreign?.kill('SIGKILL');
    foreign = undefined;
    script('stop', dir, base);
    rmSync(path.dirname(dir), { recursive: true, force: true });
  });

  it('refuses to start when a Redis it did not start answers on one of its ports, naming the port', async () => {
    foreign = await startForeignRedis(base + 2);
    const run = script('start', dir, base);
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`127\\.0\\.0\\.1:${base + 2} already answers, but not as a node started from ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    // Nothing was started: the check comes before any node.
    assert.equal(await answers(base), false);
  });

  it('stop leaves a Redis it did not start running, and says so', async () => {
    foreign = await startForeignRedis(base + 4);
    const run = script('stop', dir, base);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`left 127\\.0\\.0\\.1:${base + 4} running: not started from`));
    assert.equal(await answers(base + 4), true);
  });

  it('starts its own cluster, adopts it again on a second start, and stop shuts every node down', async () => {
    const first = script('start', dir, base);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`redis cluster ok: 127\\.0\\.0\\.1:${base},`));
    const again = script('start', dir, base);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(script('status', dir, base).status, 0);
    const stop = script('stop', dir, base);
    assert.equal(stop.status, 0, stop.stderr);
    assert.equal(stop.stderr, '');
    const up = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => answers(base + i)));
    assert.deepEqual(up, [false, false, false, false, false, false]);
  });
});
