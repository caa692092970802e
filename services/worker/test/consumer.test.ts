import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import amqp, { type ChannelModel, type ConfirmChannel, type GetMessage } from 'amqplib';
import pino from 'pino';
import { Registry } from 'prom-client';
import { JobConsumer, publishConfirmed } from '../src/consumer';
import { defaultHandlers } from '../src/handlers';
import { createWorkerMetrics, type WorkerMetrics } from '../src/metrics';
import type { RetryPolicy } from '../src/retry';
import { createPgPool, DEAD_LETTER_QUEUE, JOBS_EXCHANGE, newJob, type PgPool } from '@noa/kit';
import { createTestVhost, type TestDatabase, type TestVhost } from '@noa/kit/testing';
import { migratedDatabase, waitFor, webhookReceiver } from './support';

const FAST_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 150, maxDelayMs: 1000 };

describe('JobConsumer against RabbitMQ and PostgreSQL', function () {
  this.timeout(30_000);
  let db: TestDatabase;
  let vhost: TestVhost;
  let pool: PgPool;
  let connection: ChannelModel;
  let publisher: ConfirmChannel;
  let consumer: JobConsumer;
  let registry: Registry;
  let metrics: WorkerMetrics;

  before(async () => {
    [db, vhost] = await Promise.all([migratedDatabase('worker_consumer'), createTestVhost('worker_consumer')]);
    // The kit's pool listens for errors on idle clients; DROP DATABASE ... FORCE at the end would otherwise crash the run.
    pool = createPgPool({ url: db.url, max: 5, logger: pino({ level: 'silent' }) });
    connection = await amqp.connect(vhost.url);
    registry = new Registry();
    consumer = new JobConsumer({
      openChannel: () => connection.createConfirmChannel(),
      pool,
      logger: pino({ level: 'silent' }),
      metrics: (metrics = createWorkerMetrics(registry, () => consumer.queueDepths())),
      handlers: defaultHandlers({ webhook: { timeoutMs: 2000, allowPrivateNetworks: true } }),
      retry: FAST_RETRY,
      prefetch: 50,
    });
    await consumer.start();
    publisher = await connection.createConfirmChannel();
  });

  after(async () => {
    await consumer?.stop(5000);
    await connection?.close();
    await pool?.end();
    await Promise.all([db?.drop(), vhost?.delete()]);
  });

  const publish = (routingKey: string, body: unknown) =>
    publishConfirmed(publisher, JOBS_EXCHANGE, routingKey, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), { persistent: true });

  /** Takes the next dead-lettered message (the queue is shared, so tests drain it in order). */
  const nextDead = () => waitFor<GetMessage>('a dead-lettered message', async () => (await publisher.get(DEAD_LETTER_QUEUE, { noAck: true })) || undefined);

  const counter = async (name: string, labels: Record<string, string>) => {
    const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name)!;
    const match = (metric.values as { value: number; labels: Record<string, string | number> }[]).find((v) =>
      Object.entries(labels).every(([k, val]) => v.labels[k] === val),
    );
    return match?.value ?? 0;
  };

  it('writes an email job into the outbox once', async () => {
    const job = newJob('email', randomUUID(), { to: 'ada@example.com', subject: "Robert'); DROP TABLE outbox;--", body: 'hello' });
    await publish('email', job);
    const row = await waitFor('the outbox row', async () => (await pool.query('SELECT * FROM outbox WHERE job_id = $1', [job.id])).rows[0]);
    assert.equal(row.user_id, job.userId);
    assert.equal(row.to_address, 'ada@example.com');
    assert.equal(row.subject, "Robert'); DROP TABLE outbox;--");
    assert.equal(row.status, 'pending');
  });

  it('applies a job delivered twice exactly once', async () => {
    const job = newJob('analytics', randomUUID(), { event: 'workflow.created', occurredAt: '2026-03-04T23:30:00-02:00' });
    const before = await counter('worker_jobs_duplicate_total', { type: 'analytics' });
    await publish('analytics', job);
    await publish('analytics', job);
    await waitFor('the duplicate to be skipped', async () => (await counter('worker_jobs_duplicate_total', { type: 'analytics' })) === before + 1);
    const { rows } = await pool.query('SELECT day::text, event, count::int FROM analytics_daily WHERE user_id = $1', [job.userId]);
    assert.deepEqual(rows, [{ day: '2026-03-05', event: 'workflow.created', count: 1 }]);
    const processed = await pool.query('SELECT count(*)::int AS n FROM processed_jobs WHERE job_id = $1', [job.id]);
    assert.equal(processed.rows[0].n, 1);
  });

  it('delivers a webhook with the job id for deduplication and records it', async () => {
    const receiver = await webhookReceiver({ statuses: [204] });
    try {
      const job = newJob('webhook', randomUUID(), { url: receiver.url, event: 'workflow.updated', data: { workflowId: 'w1' } });
      await publish('webhook', job);
      const row = await waitFor('the delivery row', async () => (await pool.query('SELECT * FROM webhook_deliveries WHERE job_id = $1', [job.id])).rows[0]);
      assert.equal(receiver.received.length, 1);
      const [request] = receiver.received;
      assert.equal(request!.headers['webhook-id'], job.id);
      assert.equal(request!.headers['content-type'], 'application/json');
      assert.deepEqual(request!.body, { id: job.id, event: 'workflow.updated', createdAt: job.createdAt, data: { workflowId: 'w1' } });
      assert.equal(row.status_code, 204);
      assert.equal(row.url, receiver.url);
    } finally {
      await receiver.close();
    }
  });

  it('retries a failing job with exponential backoff, then dead-letters it after the last attempt', async () => {
    const receiver = await webhookReceiver({ statuses: [500] });
    try {
      const job = newJob('webhook', randomUUID(), { url: receiver.url, event: 'always.fails' });
      await publish('webhook', job);
      const dead = await nextDead();
      assert.equal(receiver.received.length, FAST_RETRY.maxAttempts);
      const [a, b, c] = receiver.received.map((r) => r.at);
      // The delay queues' TTL is a lower bound: 150 ms before attempt 2, 300 ms before attempt 3.
      assert.ok(b! - a! >= 140, `second attempt came ${b! - a!} ms after the first`);
      assert.ok(c! - b! >= 290, `third attempt came ${c! - b!} ms after the second`);
      assert.equal(JSON.parse(dead.content.toString()).id, job.id);
      assert.equal(dead.properties.headers?.['x-attempt'], 3);
      assert.equal(dead.properties.headers?.['x-dead-reason'], 'exhausted');
      assert.equal(dead.properties.headers?.['x-original-queue'], 'jobs.webhook');
      assert.match(String(dead.properties.headers?.['x-last-error']), /answered 500/);
      assert.equal(await counter('worker_jobs_retried_total', { type: 'webhook' }), 2);
      assert.equal(await counter('worker_jobs_dead_lettered_total', { type: 'webhook', reason: 'exhausted' }), 1);
      const processed = await pool.query('SELECT count(*)::int AS n FROM processed_jobs WHERE job_id = $1', [job.id]);
      assert.equal(processed.rows[0].n, 0, 'failed attempts leave no processed record');
    } finally {
      await receiver.close();
    }
  });

  it('dead-letters a 4xx webhook answer at once: a retry cannot fix it', async () => {
    const receiver = await webhookReceiver({ statuses: [410] });
    try {
      const job = newJob('webhook', randomUUID(), { url: receiver.url, event: 'gone' });
      await publish('webhook', job);
      const dead = await nextDead();
      assert.equal(receiver.received.length, 1);
      assert.equal(dead.properties.headers?.['x-dead-reason'], 'permanent');
    } finally {
      await receiver.close();
    }
  });

  it('sends a poison message straight to the dead-letter queue and keeps consuming', async () => {
    await publish('email', '{not json');
    const dead = await nextDead();
    assert.equal(dead.content.toString(), '{not json');
    assert.equal(dead.properties.headers?.['x-dead-reason'], 'poison');
    assert.match(String(dead.properties.headers?.['x-last-error']), /body is not JSON/);

    const job = newJob('email', randomUUID(), { to: 'grace@example.com', subject: 's', body: 'b' });
    await publish('email', { ...job, type: 'x'.repeat(60) });
    const misrouted = await nextDead();
    assert.match(String(misrouted.properties.headers?.['x-last-error']), /does not belong on queue jobs\.email/);
    const labels = ((await registry.getMetricsAsJSON()).find((m) => m.name === 'worker_jobs_dead_lettered_total')!.values as { labels: Record<string, string> }[]).map((v) => v.labels.type);
    assert.ok(labels.every((t) => ['email', 'webhook', 'report', 'export', 'analytics'].includes(t)), `labels come from queues only: ${labels}`);

    await publish('email', { ...job, payload: { to: 'not-an-address', subject: 's', body: 'b' } });
    const invalid = await nextDead();
    assert.equal(invalid.properties.headers?.['x-dead-reason'], 'invalid-payload');
    assert.match(String(invalid.properties.headers?.['x-last-error']), /payload\.to/);

    await publish('email', { ...job, id: randomUUID(), payload: { to: 'grace@example.com', subject: 'Hello\r\nBcc: everyone@example.com', body: 'b' } });
    const injected = await nextDead();
    assert.equal(injected.properties.headers?.['x-dead-reason'], 'invalid-payload');
    assert.match(String(injected.properties.headers?.['x-last-error']), /payload\.subject.*must be a single line/);

    await publish('email', job);
    await waitFor('the good job after the poison ones', async () => (await pool.query('SELECT 1 FROM outbox WHERE job_id = $1', [job.id])).rowCount);
    assert.ok(consumer.consuming);
  });

  it('builds a report and an export from the user\'s workflows', async () => {
    const userId = randomUUID();
    const [w1, w2, w3, w4] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await pool.query(
      `INSERT INTO workflows (user_id, id, name, status, created_at, updated_at)
       VALUES ($1, $2, 'alpha, "quoted"', 'active', '2026-01-01T00:00:00Z', '2026-01-03T00:00:00Z'),
              ($1, $3, 'beta', 'draft', '2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z'),
              ($1, $4, '=HYPERLINK("https://evil.example","open")', 'draft', '2026-01-02T00:00:01Z', '2026-01-02T00:00:01Z'),
              ($1, $5, '-1+2', 'draft', '2026-01-02T00:00:02Z', '2026-01-02T00:00:02Z')`,
      [userId, w1, w2, w3, w4],
    );
    await pool.query(
      `INSERT INTO workflow_steps (user_id, workflow_id, id, position, name, kind) VALUES ($1, $2, $3, 0, 's1', 'http'), ($1, $2, $4, 1, 's2', 'email')`,
      [userId, w1, randomUUID(), randomUUID()],
    );
    const report = newJob('report', userId, { kind: 'workflow-summary' });
    const exportJob = newJob('export', userId, { format: 'csv' });
    await publish('report', report);
    await publish('export', exportJob);
    const r = await waitFor('the report', async () => (await pool.query('SELECT data FROM reports WHERE job_id = $1', [report.id])).rows[0]);
    assert.deepEqual(r.data, { totalWorkflows: 4, totalSteps: 2, byStatus: { active: { workflows: 1, steps: 2 }, draft: { workflows: 3, steps: 0 } } });
    const e = await waitFor('the export', async () => (await pool.query('SELECT * FROM exports WHERE job_id = $1', [exportJob.id])).rows[0]);
    assert.equal(e.row_count, 4);
    // Names a spreadsheet would run as formulas are written as text (a leading ').
    assert.equal(
      e.content,
      'id,name,status,steps,created_at,updated_at\r\n' +
        `${w1},"alpha, ""quoted""",active,2,2026-01-01T00:00:00.000Z,2026-01-03T00:00:00.000Z\r\n` +
        `${w2},beta,draft,0,2026-01-02T00:00:00.000Z,2026-01-02T00:00:00.000Z\r\n` +
        `${w3},"'=HYPERLINK(""https://evil.example"",""open"")",draft,0,2026-01-02T00:00:01.000Z,2026-01-02T00:00:01.000Z\r\n` +
        `${w4},'-1+2,draft,0,2026-01-02T00:00:02.000Z,2026-01-02T00:00:02.000Z\r\n`,
    );
    assert.match(e.sha256, /^[0-9a-f]{64}$/);
  });

  it('reports the depth of every job queue', async () => {
    const depths = await consumer.queueDepths();
    assert.deepEqual(Object.keys(depths).sort(), ['jobs.analytics', 'jobs.email', 'jobs.export', 'jobs.report', 'jobs.webhook']);
    const text = await registry.metrics();
    assert.match(text, /worker_queue_depth\{queue="jobs.email"\} 0/);
  });
});
