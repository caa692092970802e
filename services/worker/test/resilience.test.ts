import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import amqp, { type ChannelModel, type ConfirmChannel, type GetMessage } from 'amqplib';
import pino from 'pino';
import { Registry } from 'prom-client';
import { JobConsumer, publishConfirmed } from '../src/consumer';
import { deadJobType, replayDeadLetters } from '../src/dead-letters';
import { defaultHandlers } from '../src/handlers';
import { createWorkerMetrics } from '../src/metrics';
import type { RetryPolicy } from '../src/retry';
import { createPgPool, DEAD_LETTER_QUEUE, JOBS_EXCHANGE, newJob, type PgPool } from '@noa/kit';
import { createTestVhost, startTcpProxy, type TcpProxy, type TestDatabase, type TestVhost } from '@noa/kit/testing';
import { migratedDatabase, waitFor, webhookReceiver } from './support';

const FAST_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 150, maxDelayMs: 600 };
const silent = pino({ level: 'silent' });

describe('worker resilience against RabbitMQ and PostgreSQL', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let vhost: TestVhost;
  let connection: ChannelModel;
  let publisher: ConfirmChannel;
  let proxy: TcpProxy;
  const started: { consumer: JobConsumer; pool: PgPool }[] = [];

  before(async () => {
    [db, vhost] = await Promise.all([migratedDatabase('worker_resilience'), createTestVhost('worker_resilience')]);
    connection = await amqp.connect(vhost.url);
    publisher = await connection.createConfirmChannel();
    proxy = await startTcpProxy(5432);
  });

  afterEach(async () => {
    for (const { consumer, pool } of started.splice(0)) {
      await consumer.stop(3000);
      await pool.end();
    }
    await proxy.restore();
    await publisher.purgeQueue(DEAD_LETTER_QUEUE).catch(() => undefined);
  });

  after(async () => {
    await connection?.close();
    await proxy?.close();
    await Promise.all([db?.drop(), vhost?.delete()]);
  });

  /** A consumer on its own pool (through the TCP proxy when `viaProxy`), with its own metrics. */
  async function startConsumer(options: { poolMax: number; connectionTimeoutMs?: number; prefetch: number; viaProxy?: boolean; retry?: RetryPolicy }) {
    const url = new URL(db.url);
    if (options.viaProxy) url.port = String(proxy.port);
    const pool = createPgPool({ url: url.toString(), max: options.poolMax, connectionTimeoutMs: options.connectionTimeoutMs, logger: silent });
    const registry = new Registry();
    const consumer: JobConsumer = new JobConsumer({
      openChannel: () => connection.createConfirmChannel(),
      pool,
      logger: silent,
      metrics: createWorkerMetrics(registry, () => consumer.queueDepths()),
      handlers: defaultHandlers({ webhook: { timeoutMs: 5000, allowPrivateNetworks: true } }),
      retry: options.retry ?? FAST_RETRY,
      prefetch: options.prefetch,
      reconnectDelayMs: 100,
    });
    await consumer.start();
    started.push({ consumer, pool });
    const counter = async (name: string, labels: Record<string, string> = {}) => {
      const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name)!;
      return (metric.values as { value: number; labels: Record<string, string | number> }[])
        .filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
        .reduce((sum, v) => sum + v.value, 0);
    };
    return { consumer, pool, counter };
  }

  const publish = (routingKey: string, body: unknown) => publishConfirmed(publisher, JOBS_EXCHANGE, routingKey, Buffer.from(JSON.stringify(body)), { persistent: true });
  const deadCount = async () => (await publisher.checkQueue(DEAD_LETTER_QUEUE)).messageCount;

  it('runs every job when more are in flight than the pool has connections: they wait for a slot, not the pool timeout', async () => {
    // 2 connections, a 1 s pool timeout, 10 webhooks of 400 ms each taken at once: before, the jobs queued in
    // the pool past its timeout failed as if the job had, and some were dead-lettered without ever running.
    const receiver = await webhookReceiver({ delayMs: 400 });
    try {
      const { pool, counter } = await startConsumer({ poolMax: 2, connectionTimeoutMs: 1000, prefetch: 20 });
      const jobs = Array.from({ length: 10 }, (_, i) => newJob('webhook', randomUUID(), { url: receiver.url, event: `slow.${i}` }));
      for (const job of jobs) await publish('webhook', job);
      // While every slot is busy, one connection stays free for readiness.
      await waitFor('the receiver to be busy', async () => receiver.received.length >= 1);
      const started = Date.now();
      await pool.query('SELECT 1');
      assert.ok(Date.now() - started < 500, `readiness query waited ${Date.now() - started} ms`);
      await waitFor('every webhook recorded', async () => (await counter('worker_jobs_processed_total', { type: 'webhook' })) === 10);
      assert.equal(await counter('worker_jobs_failed_total'), 0);
      assert.equal(await deadCount(), 0);
      assert.equal(receiver.received.length, 10, 'each webhook was sent once');
    } finally {
      await receiver.close();
    }
  });

  it('puts jobs back without spending attempts while PostgreSQL is down, and applies each once when it is back', async () => {
    const { counter } = await startConsumer({ poolMax: 3, connectionTimeoutMs: 500, prefetch: 10, viaProxy: true });
    await proxy.cut();
    const userId = randomUUID();
    const jobs = Array.from({ length: 3 }, (_, i) => newJob('analytics', userId, { event: `outage.${i}` }));
    for (const job of jobs) await publish('analytics', job);
    // Three attempts of FAST_RETRY would be used up in under a second; the outage lasts longer than that.
    await waitFor('each job deferred at least twice', async () => (await counter('worker_jobs_deferred_total', { type: 'analytics' })) >= 6);
    assert.equal(await counter('worker_jobs_failed_total'), 0, 'no attempt was spent');
    assert.equal(await deadCount(), 0);
    await proxy.restore();
    await waitFor('the jobs applied', async () => (await counter('worker_jobs_processed_total', { type: 'analytics' })) === 3);
    const { rows } = await (started[0]!.pool).query(`SELECT count(*)::int AS n FROM processed_jobs WHERE user_id = $1`, [userId]);
    assert.equal(rows[0].n, 3);
  });

  it('dead-letters a payload with text PostgreSQL cannot store before any effect, as invalid-payload', async () => {
    const receiver = await webhookReceiver();
    try {
      await startConsumer({ poolMax: 3, prefetch: 10 });
      const job = newJob('webhook', randomUUID(), { url: receiver.url, event: 'nul\u0000inside' });
      await publish('webhook', job);
      const dead = await waitFor<GetMessage>('the dead letter', async () => (await publisher.get(DEAD_LETTER_QUEUE, { noAck: true })) || undefined);
      assert.equal(dead.properties.headers?.['x-dead-reason'], 'invalid-payload');
      assert.match(String(dead.properties.headers?.['x-last-error']), /payload\.event: must not contain NUL/);
      assert.equal(receiver.received.length, 0, 'nothing was POSTed');
    } finally {
      await receiver.close();
    }
  });

  it('replays a job that died after its retries: its type is read from its queue, not from the retry routing key', async () => {
    const receiver = await webhookReceiver({ statuses: [500] });
    try {
      await startConsumer({ poolMax: 3, prefetch: 10, retry: { maxAttempts: 2, baseDelayMs: 100, maxDelayMs: 100 } });
      const job = newJob('webhook', randomUUID(), { url: receiver.url, event: 'always.fails' });
      await publish('webhook', job);
      await waitFor('the dead letter', async () => (await deadCount()) === 1);
      for (const { consumer } of started) await consumer.stop(3000);
      const dead = (await publisher.get(DEAD_LETTER_QUEUE, { noAck: false })) as GetMessage;
      assert.equal(dead.properties.headers?.['x-dead-reason'], 'exhausted');
      assert.equal(dead.fields.routingKey, 'webhook', 'dead-lettered under its job type');
      publisher.nack(dead, false, true);
      const summary = await replayDeadLetters(publisher, { limit: 10, reasons: ['exhausted'], dryRun: false });
      assert.deepEqual(summary, { examined: 1, replayed: { webhook: 1 }, kept: {} });
      const back = await waitFor<GetMessage>('the replayed job', async () => (await publisher.get('jobs.webhook', { noAck: true })) || undefined);
      assert.equal(JSON.parse(back.content.toString()).id, job.id);
    } finally {
      await receiver.close();
    }
  });

  it('reads the job type of dead letters from before: routed by queue name, or dead-lettered by the queue itself', () => {
    const message = (routingKey: string, headers: Record<string, unknown>) => ({ fields: { routingKey }, properties: { headers } }) as unknown as GetMessage;
    assert.equal(deadJobType(message('jobs.webhook', { 'x-dead-reason': 'exhausted', 'x-original-queue': 'jobs.webhook' })), 'webhook');
    assert.equal(deadJobType(message('jobs.email', {})), 'email');
    assert.equal(deadJobType(message('email', { 'x-death': [{ queue: 'jobs.email', reason: 'delivery_limit' }] })), 'email');
    assert.equal(deadJobType(message('report', {})), 'report');
  });

  it('rejects a publish whose channel closes while its buffer is full, with nothing left unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const channel = new EventEmitter() as EventEmitter & { publish: (...args: unknown[]) => boolean };
      let confirm: ((err: Error | null) => void) | undefined;
      channel.publish = (...args: unknown[]) => {
        confirm = args[4] as (err: Error | null) => void;
        return false; // buffer full: wait for drain
      };
      const publishing = publishConfirmed(channel as unknown as ConfirmChannel, 'x', 'k', Buffer.from('{}'), {});
      // amqplib on a lost connection: the channel closes, no drain, and the pending confirm is rejected.
      channel.emit('close');
      confirm!(new Error('channel closed'));
      await assert.rejects(publishing, /channel closed before its buffer drained/);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
