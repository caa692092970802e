/**
 * Worker throughput: end-to-end jobs/s for no-op jobs on a quorum queue
 * (publish with confirms, many in flight -> consume -> ack), next to a raw
 * amqplib consumer with auto-ack on the same broker as the ceiling.
 *
 *   export PATH=$PWD/node_modules/.bin:$PATH
 *   tsx bench/worker.ts [--jobs 20000] [--prefetch 200] [--window 1000] [--with-db]
 *
 * --with-db adds a third run through a real transactional handler (analytics:
 * the processed_jobs insert plus a counter upsert in one PostgreSQL
 * transaction per job). Needs RabbitMQ (rabbitmqctl, for an isolated vhost)
 * and, with --with-db, PostgreSQL on 127.0.0.1. Bounded by --jobs and a
 * 120 s limit per run. Not part of `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import amqp, { type ConfirmChannel } from 'amqplib';
import { Client, Pool } from 'pg';
import pino from 'pino';
import { Registry } from 'prom-client';
import { z } from 'zod';
import { JobConsumer } from '../services/worker/src/consumer';
import { analyticsHandler, type JobHandler } from '../services/worker/src/handlers';
import { createWorkerMetrics } from '../services/worker/src/metrics';
import { JOBS_EXCHANGE, jobQueue, newJob } from '@noa/kit';

const { values: args } = parseArgs({
  options: {
    jobs: { type: 'string', default: '20000' },
    prefetch: { type: 'string', default: '200' },
    window: { type: 'string', default: '1000' },
    'with-db': { type: 'boolean', default: false },
  },
});
const JOBS = Number(args.jobs);
const PREFETCH = Number(args.prefetch);
const WINDOW = Number(args.window);
const RUN_LIMIT_MS = 120_000;
const AMQP_BASE = process.env.BENCH_AMQP_BASE ?? 'amqp://guest:guest@127.0.0.1:5672';
const PG_ADMIN = process.env.BENCH_PG_ADMIN ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Publishes `count` messages with publisher confirms, keeping up to `window`
 * unconfirmed at once and pausing on `drain`: awaiting each confirm in turn
 * caps a publisher at ~1-2.6k msg/s (DESIGN.md).
 */
async function publishAll(channel: ConfirmChannel, exchange: string, routingKey: string, body: (i: number) => Buffer, count: number): Promise<void> {
  let inFlight = 0;
  let failed: Error | null = null;
  let wake: (() => void) | null = null;
  const settle = (err: unknown) => {
    if (err) failed = err instanceof Error ? err : new Error('nacked');
    inFlight--;
    wake?.();
  };
  for (let i = 0; i < count; i++) {
    if (failed) throw failed;
    while (inFlight >= WINDOW) await new Promise<void>((r) => (wake = r));
    inFlight++;
    if (!channel.publish(exchange, routingKey, body(i), { persistent: true, contentType: 'application/json' }, settle)) {
      await once(channel, 'drain');
    }
  }
  while (inFlight > 0) await new Promise<void>((r) => (wake = r));
  if (failed) throw failed;
}

function withLimit<T>(what: string, work: Promise<T>): Promise<T> {
  return Promise.race([work, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} exceeded ${RUN_LIMIT_MS} ms`)), RUN_LIMIT_MS).unref())]);
}

interface Figure {
  run: string;
  jobs: number;
  seconds: number;
  perSecond: number;
}

async function rawCeiling(url: string): Promise<Figure> {
  const connection = await amqp.connect(url);
  try {
    const publisher = await connection.createConfirmChannel();
    const consumerChannel = await connection.createChannel();
    const queue = 'bench.raw';
    await publisher.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    let received = 0;
    let done!: () => void;
    const allReceived = new Promise<void>((r) => (done = r));
    await consumerChannel.consume(queue, () => ++received === JOBS && done(), { noAck: true });
    const body = Buffer.from(JSON.stringify(newJob('analytics', randomUUID(), { event: 'bench.noop' })));
    const started = performance.now();
    await withLimit('raw run', Promise.all([publishAll(publisher, '', queue, () => body, JOBS), allReceived]));
    const seconds = (performance.now() - started) / 1000;
    return { run: 'raw amqplib, auto-ack (ceiling)', jobs: JOBS, seconds, perSecond: JOBS / seconds };
  } finally {
    await connection.close();
  }
}

async function throughWorker(url: string, run: string, handler: JobHandler<any>, pool: Pool | null): Promise<Figure> {
  const connection = await amqp.connect(url);
  const registry = new Registry();
  let consumer!: JobConsumer;
  const metrics = createWorkerMetrics(registry, () => consumer.queueDepths());
  consumer = new JobConsumer({
    openChannel: () => connection.createConfirmChannel(),
    // Transactional handlers need a pool; the no-op one never touches it.
    pool: pool ?? (null as unknown as Pool),
    logger: pino({ level: 'silent' }),
    metrics,
    handlers: [handler],
    retry: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 4000 },
    prefetch: PREFETCH,
    types: ['analytics'],
  });
  try {
    await consumer.start();
    const publisher = await connection.createConfirmChannel();
    const started = performance.now();
    // One user per job: spread over many users like real traffic, not one hot counter row.
    const published = publishAll(publisher, JOBS_EXCHANGE, 'analytics', () => Buffer.from(JSON.stringify(newJob('analytics', randomUUID(), { event: 'bench.noop' }))), JOBS);
    const processed = (async () => {
      for (;;) {
        const value = (await metrics.processed.get()).values.find((v) => v.labels.type === 'analytics')?.value ?? 0;
        if (value >= JOBS) return;
        const failed = (await metrics.failed.get()).values.reduce((n, v) => n + v.value, 0);
        if (failed > 0) throw new Error(`${failed} jobs failed during the run`);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await withLimit(run, Promise.all([published, processed]));
    const seconds = (performance.now() - started) / 1000;
    const left = (await publisher.checkQueue(jobQueue('analytics'))).messageCount;
    if (left !== 0) throw new Error(`${left} messages left on the queue`);
    return { run, jobs: JOBS, seconds, perSecond: JOBS / seconds };
  } finally {
    await consumer.stop(5000);
    await connection.close();
  }
}

async function main(): Promise<void> {
  const vhost = `bench_worker_${randomBytes(4).toString('hex')}`;
  execFileSync('rabbitmqctl', ['add_vhost', vhost], { stdio: 'ignore' });
  execFileSync('rabbitmqctl', ['set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*'], { stdio: 'ignore' });
  const url = `${AMQP_BASE}/${vhost}`;
  const database = `bench_worker_${randomBytes(4).toString('hex')}`;
  let pool: Pool | null = null;
  try {
    const figures: Figure[] = [];
    figures.push(await rawCeiling(url));
    const noop: JobHandler<Record<string, unknown>> = {
      type: 'analytics',
      payload: z.record(z.string(), z.unknown()),
      transactional: false,
      handle: async () => undefined,
    };
    figures.push(await throughWorker(url, 'worker, no-op handler, manual ack', noop, null));
    if (args['with-db']) {
      const admin = new Client({ connectionString: PG_ADMIN });
      await admin.connect();
      await admin.query(`CREATE DATABASE "${database}"`);
      await admin.end();
      const dbUrl = new URL(PG_ADMIN);
      dbUrl.pathname = `/${database}`;
      pool = new Pool({ connectionString: dbUrl.toString(), max: 10, connectionTimeoutMillis: 10_000 });
      const migrations = join(__dirname, '../services/migrate/migrations');
      for (const file of readdirSync(migrations).filter((f) => /^\d{4}_[a-z_]+\.sql$/.test(f)).sort()) {
        await pool.query(readFileSync(join(migrations, file), 'utf8'));
      }
      figures.push(await throughWorker(url, 'worker, analytics handler (pg transaction per job)', analyticsHandler, pool));
    }
    const ceiling = figures[0]!.perSecond;
    console.log(`node ${process.version}, ${JOBS} jobs per run, prefetch ${PREFETCH}, ${WINDOW} confirms in flight, quorum queues`);
    for (const f of figures) {
      console.log(`${f.run.padEnd(52)} ${f.perSecond.toFixed(0).padStart(7)} jobs/s  (${f.seconds.toFixed(2)} s, ${((f.perSecond / ceiling) * 100).toFixed(0)}% of ceiling)`);
    }
    const worker = figures[1]!.perSecond;
    console.log(`target >= 3000 jobs/s through the worker: ${worker >= 3000 ? 'met' : 'NOT met'}`);
  } finally {
    await pool?.end();
    if (args['with-db']) {
      const admin = new Client({ connectionString: PG_ADMIN });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await admin.end();
    }
    execFileSync('rabbitmqctl', ['delete_vhost', vhost], { stdio: 'ignore' });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
