import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import amqp, { type ChannelModel } from 'amqplib';
import { Client } from 'pg';
import pino from 'pino';
import { Registry } from 'prom-client';
import { buildApp } from '../index';
import { JobConsumer, publishConfirmed } from '../src/consumer';
import { defaultHandlers } from '../src/handlers';
import { createWorkerMetrics } from '../src/metrics';
import { createAmqp, createLogger, createPgPool, JOBS_EXCHANGE, newJob, type PgPool } from '@noa/kit';
import { createTestVhost, freePort, startTcpProxy, type TestDatabase, type TestVhost } from '@noa/kit/testing';
import { migratedDatabase, waitFor } from './support';

/**
 * Holds an uncommitted analytics row so a worker's upsert of the same key
 * blocks inside its transaction: a handler verifiably "in progress".
 */
async function blockAnalytics(databaseUrl: string, probe: PgPool, userId: string, day: string, event: string) {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('BEGIN');
  await client.query(`INSERT INTO analytics_daily (user_id, day, event, count) VALUES ($1, $2, $3, 0)`, [userId, day, event]);
  let released = false;
  return {
    /** Resolves once some other session waits on our row lock. */
    waitForBlockedHandler: () =>
      // Asked from the pool, not from `client`: a transaction sees one frozen pg_stat_activity snapshot.
      waitFor('a handler blocked on the row lock', async () => {
        const { rows } = await probe.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
        return rows[0]?.pid as number | undefined;
      }),
    release: async () => {
      if (released) return;
      released = true;
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}

describe('worker lifecycle', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let vhost: TestVhost;
  let pool: PgPool;
  let connection: ChannelModel;

  before(async () => {
    [db, vhost] = await Promise.all([migratedDatabase('worker_lifecycle'), createTestVhost('worker_lifecycle')]);
    // The kit's pool listens for errors on idle clients; DROP DATABASE ... FORCE at the end would otherwise crash the run.
    pool = createPgPool({ url: db.url, max: 5, logger: pino({ level: 'silent' }) });
    connection = await amqp.connect(vhost.url);
  });

  after(async () => {
    await connection?.close();
    await pool?.end();
    await Promise.all([db?.drop(), vhost?.delete()]);
  });

  const newConsumer = () => {
    let consumer!: JobConsumer;
    consumer = new JobConsumer({
      openChannel: () => connection.createConfirmChannel(),
      pool,
      logger: pino({ level: 'silent' }),
      metrics: createWorkerMetrics(new Registry(), () => consumer.queueDepths()),
      handlers: defaultHandlers(),
      retry: { maxAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000 },
      prefetch: 10,
    });
    return consumer;
  };

  it('on stop, takes no new jobs but finishes and acknowledges the one in flight', async () => {
    const consumer = newConsumer();
    await consumer.start();
    const job = newJob('analytics', randomUUID(), { event: 'drain.test', occurredAt: '2026-05-01T12:00:00Z' });
    const blocker = await blockAnalytics(db.url, pool, job.userId, '2026-05-01', 'drain.test');
    try {
      const channel = await connection.createConfirmChannel();
      await publishConfirmed(channel, JOBS_EXCHANGE, 'analytics', Buffer.from(JSON.stringify(job)), { persistent: true });
      await blocker.waitForBlockedHandler();

      let stopped = false;
      const stopping = consumer.stop(10_000).then(() => (stopped = true));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(stopped, false, 'stop waits for the in-flight job');
      assert.equal(consumer.inFlightCount, 1);
      // A job published now must stay queued: the consumer was cancelled.
      const later = newJob('email', job.userId, { to: 'late@example.com', subject: 's', body: 'b' });
      await publishConfirmed(channel, JOBS_EXCHANGE, 'email', Buffer.from(JSON.stringify(later)), { persistent: true });

      await blocker.release();
      await stopping;
      const { rows } = await pool.query('SELECT count::int FROM analytics_daily WHERE user_id = $1', [job.userId]);
      assert.deepEqual(rows, [{ count: 1 }]);
      assert.equal((await channel.checkQueue('jobs.analytics')).messageCount, 0, 'the finished job was acknowledged');
      assert.equal((await channel.checkQueue('jobs.email')).messageCount, 1, 'the later job waits for another worker');
      assert.equal((await pool.query('SELECT 1 FROM outbox WHERE job_id = $1', [later.id])).rowCount, 0);
      await channel.purgeQueue('jobs.email');
      await channel.close();
    } finally {
      await blocker.release();
    }
  });

  let bundle: string;
  before(async () => {
    // The Dockerfile's compile step; the children run its output as the image does.
    bundle = await mkdtemp(join(tmpdir(), 'noa-worker-build-'));
    await promisify(execFile)(join(__dirname, '..', '..', '..', 'scripts', 'build-service.sh'), ['worker', bundle]);
  });
  after(() => rm(bundle, { recursive: true, force: true }));

  /** The built entry point in a child process: plain node, no tsx, no sources. */
  async function startWorkerProcess(): Promise<{ child: ChildProcess; port: number; output: () => string }> {
    const port = await freePort();
    let output = '';
    const child = spawn(process.execPath, ['--enable-source-maps', join(bundle, 'main.js')], {
      cwd: bundle,
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        LOG_LEVEL: 'info',
        DATABASE_URL: db.url,
        AMQP_URL: vhost.url,
        WORKER_PREFETCH: '10',
        JOB_RETRY_BASE_DELAY_MS: '100',
        SHUTDOWN_TIMEOUT_MS: '5000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (c) => (output += c));
    child.stderr!.on('data', (c) => (output += c));
    await waitFor(`the worker process to be ready (output so far: ${output})`, async () => {
      if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}: ${output}`);
      const res = await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null);
      return res?.status === 200;
    });
    return { child, port, output: () => output };
  }

  it('loses nothing when the worker is killed mid-job: the job is redelivered and applied once', async () => {
    const first = await startWorkerProcess();
    const job = newJob('analytics', randomUUID(), { event: 'kill.test', occurredAt: '2026-06-01T08:00:00Z' });
    const blocker = await blockAnalytics(db.url, pool, job.userId, '2026-06-01', 'kill.test');
    let second: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
    try {
      const channel = await connection.createConfirmChannel();
      await publishConfirmed(channel, JOBS_EXCHANGE, 'analytics', Buffer.from(JSON.stringify(job)), { persistent: true });
      // The handler is inside its transaction, waiting on our row lock.
      await blocker.waitForBlockedHandler();
      first.child.kill('SIGKILL');
      await once(first.child, 'exit');
      // The killed process's transaction never commits: it rolls back once its
      // backend gets the lock and finds the client gone.
      await blocker.release();

      second = await startWorkerProcess();
      const row = await waitFor('the redelivered job to be applied', async () => (await pool.query('SELECT count::int FROM analytics_daily WHERE user_id = $1', [job.userId])).rows[0]);
      assert.equal(row.count, 1);
      const processed = await pool.query('SELECT job_type, attempt FROM processed_jobs WHERE job_id = $1', [job.id]);
      assert.deepEqual(processed.rows, [{ job_type: 'analytics', attempt: 1 }]);
      assert.equal((await channel.checkQueue('jobs.analytics')).messageCount, 0);
      await channel.close();
      const metrics = await (await fetch(`http://127.0.0.1:${second.port}/metrics`)).text();
      assert.match(metrics, /worker_jobs_processed_total\{[^}]*type="analytics"[^}]*\} 1\n/);
      assert.match(metrics, /worker_queue_depth\{[^}]*queue="jobs.analytics"[^}]*\} 0\n/);

      // SIGTERM: the real entry point drains and exits 0.
      second.child.kill('SIGTERM');
      const [code] = await once(second.child, 'exit');
      assert.equal(code, 0, second.output());
      second = undefined;
    } finally {
      await blocker.release();
      if (first.child.exitCode === null && first.child.signalCode === null) first.child.kill('SIGKILL');
      if (second && second.child.exitCode === null) second.child.kill('SIGKILL');
    }
  });

  it('re-attaches its consumers after losing RabbitMQ, and reports the outage on /health/ready meanwhile', async () => {
    const proxy = await startTcpProxy(5672);
    const logger = createLogger('worker-test', 'silent');
    const url = new URL(vhost.url);
    url.port = String(proxy.port);
    const amqp = createAmqp({ url: url.toString(), logger, reconnectInitialDelayMs: 50, reconnectMaxDelayMs: 200 });
    const worker = buildApp({ pool, amqp, logger, prefetch: 10, retry: { maxAttempts: 2, baseDelayMs: 100, maxDelayMs: 100 } });
    const channel = await connection.createConfirmChannel();
    const applied = (jobId: string) => waitFor(`job ${jobId} to be applied`, async () => (await pool.query('SELECT 1 FROM outbox WHERE job_id = $1', [jobId])).rowCount);
    const readiness = async () => (await worker.app.inject({ method: 'GET', url: '/health/ready' })).statusCode;
    try {
      await worker.startConsuming();
      await amqp.waitForConnect(10_000);
      const before = newJob('email', randomUUID(), { to: 'before@example.com', subject: 's', body: 'b' });
      await publishConfirmed(channel, JOBS_EXCHANGE, 'email', Buffer.from(JSON.stringify(before)), { persistent: true });
      await applied(before.id);
      assert.equal(await readiness(), 200);

      await proxy.cut();
      await waitFor('readiness to fail', async () => (await readiness()) === 503);
      const during = newJob('email', randomUUID(), { to: 'during@example.com', subject: 's', body: 'b' });
      await publishConfirmed(channel, JOBS_EXCHANGE, 'email', Buffer.from(JSON.stringify(during)), { persistent: true });

      await proxy.restore();
      await applied(during.id);
      await waitFor('readiness to recover', async () => (await readiness()) === 200);
    } finally {
      await worker.consumer.stop(5000);
      await worker.retention.stop();
      await worker.app.close();
      await amqp.close();
      await channel.close();
      await proxy.close();
    }
  });
});
