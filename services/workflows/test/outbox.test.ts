import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Counter, createLogger, createPgPool, type PgPool } from '@noa/kit';
import type { TestDatabase } from '@noa/kit/testing';
import { JobOutbox, outboxBackoffMs, type JobOutboxOptions } from '../index';
import { jobsFor } from '../src/triggers';
import type { PublishFn } from '../src/routes';
import { migratedDatabase } from './support';

/**
 * The outbox's bookkeeping against real PostgreSQL: leases, backoff and
 * concurrent relays. Publishing is a function here (the RabbitMQ round trip
 * is in workflows.test.ts); the clock is injected so due times are exact.
 */
describe('JobOutbox against PostgreSQL', function () {
  this.timeout(30_000);
  let db: TestDatabase;
  let pool: PgPool;
  const logger = createLogger('outbox-test', 'silent');
  const T0 = Date.parse('2026-06-01T12:00:00Z');

  before(async () => {
    db = await migratedDatabase('workflows_outbox');
    pool = createPgPool({ url: db.url, max: 5, logger });
  });
  after(async () => {
    await pool?.end();
    await db?.drop();
  });
  beforeEach(() => pool.query('DELETE FROM job_outbox'));

  const counters = () => ({
    publishFailures: new Counter({ name: 'f', help: 'f', labelNames: ['type'] as const, registers: [] }),
    relayed: new Counter({ name: 'r', help: 'r', labelNames: ['type'] as const, registers: [] }),
  });
  function outbox(publish: PublishFn, clock: { t: number }, extra: Partial<JobOutboxOptions> = {}) {
    return new JobOutbox({ pool, publish, logger, ...counters(), leaseMs: 15_000, now: () => clock.t, ...extra });
  }
  const ok: PublishFn = async () => undefined;
  const down: PublishFn = async () => {
    throw new Error('publish timed out after 200 ms');
  };
  /** What a write's transaction records, without its dispatch (a pod killed right after COMMIT). */
  async function committedJobs(box: JobOutbox, userId = randomUUID()) {
    const jobs = jobsFor('workflow.created', userId, { id: randomUUID(), name: 'w', status: 'draft', version: 1, webhookUrl: 'https://hooks.example.com/z' });
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await box.add(client, jobs);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    return jobs;
  }
  const rows = async () =>
    (await pool.query(`SELECT job_type, attempts, next_attempt_at, last_error FROM job_outbox ORDER BY job_type`)).rows as {
      job_type: string;
      attempts: number;
      next_attempt_at: Date;
      last_error: string | null;
    }[];

  it('backs off 1 s, 2 s, 4 s … up to the cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 10].map((a) => outboxBackoffMs(a, 60_000)), [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
  });

  it('a writer that died after COMMIT leaves its jobs to the relay once their lease ends', async () => {
    const clock = { t: T0 };
    const sent: string[] = [];
    const box = outbox(async (_x, _k, body) => void sent.push((body as { id: string }).id), clock);
    const jobs = await committedJobs(box);
    assert.deepEqual(await box.relayOnce(), { claimed: 0, published: 0, failed: 0 }, 'the writing request still owns them');
    clock.t = T0 + 15_000;
    assert.deepEqual(await box.relayOnce(), { claimed: 2, published: 2, failed: 0 });
    assert.deepEqual(sent.sort(), jobs.map((j) => j.envelope.id).sort());
    assert.deepEqual(await rows(), []);
  });

  it('a failed first publish is due at once; each failed relay attempt backs off and keeps the error', async () => {
    const clock = { t: T0 };
    const jobs = await committedJobs(outbox(down, clock));
    await outbox(down, clock).dispatch(jobs);
    assert.deepEqual((await rows()).map((r) => [r.attempts, r.next_attempt_at.getTime(), r.last_error]), [
      [0, T0, 'publish timed out after 200 ms'],
      [0, T0, 'publish timed out after 200 ms'],
    ]);
    const relay = outbox(down, clock);
    assert.deepEqual(await relay.relayOnce(), { claimed: 2, published: 0, failed: 2 });
    assert.deepEqual((await rows()).map((r) => [r.attempts, r.next_attempt_at.getTime()]), [
      [1, T0 + 1000],
      [1, T0 + 1000],
    ]);
    clock.t = T0 + 999;
    assert.equal((await relay.relayOnce()).claimed, 0, 'not due during its backoff');
    clock.t = T0 + 1000;
    assert.equal((await relay.relayOnce()).failed, 2);
    assert.deepEqual((await rows()).map((r) => [r.attempts, r.next_attempt_at.getTime()]), [
      [2, T0 + 1000 + 2000],
      [2, T0 + 1000 + 2000],
    ]);
    clock.t = T0 + 3000;
    assert.deepEqual(await outbox(ok, clock).relayOnce(), { claimed: 2, published: 2, failed: 0 });
    assert.deepEqual(await rows(), []);
  });

  it('reports its backlog: rows waiting and the age of the oldest', async () => {
    const clock = { t: T0 };
    const box = outbox(ok, clock);
    assert.deepEqual(await box.backlog(), { pending: 0, oldestSeconds: 0 });
    await committedJobs(box);
    const { rows: [first] } = await pool.query<{ created_at: Date }>('SELECT min(created_at) AS created_at FROM job_outbox');
    clock.t = first!.created_at.getTime() + 90_500;
    assert.deepEqual(await box.backlog(), { pending: 2, oldestSeconds: 90.5 });
  });

  it('two relays racing claim each row once', async () => {
    const clock = { t: T0 };
    const seed = outbox(ok, clock, { leaseMs: 0 });
    for (let i = 0; i < 10; i++) await committedJobs(seed);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sent: string[] = [];
    const slow: PublishFn = async (_x, _k, body) => {
      await gate;
      sent.push((body as { id: string }).id);
    };
    const [a, b] = [outbox(slow, clock), outbox(slow, clock)];
    const passes = Promise.all([a.relayOnce(), b.relayOnce()]);
    await new Promise((r) => setTimeout(r, 200));
    release();
    const [ra, rb] = await passes;
    assert.equal(ra.claimed + rb.claimed, 20);
    assert.equal(new Set(sent).size, 20);
    assert.equal(sent.length, 20, 'no job published twice');
    assert.deepEqual(await rows(), []);
  });

  it('claims at most a batch per pass, the longest overdue first, and the timer drains a backlog batch by batch', async () => {
    const clock = { t: T0 };
    const seed = outbox(ok, clock, { leaseMs: 0 });
    const written: string[] = [];
    for (let i = 0; i < 4; i++) {
      clock.t = T0 + i * 1000; // each write's two jobs fall due a second after the previous write's
      written.push(...(await committedJobs(seed)).map((job) => job.envelope.id));
    }
    clock.t = T0 + 10_000;
    const sent: string[] = [];
    const record: PublishFn = async (_x, _k, body) => void sent.push((body as { id: string }).id);
    const box = outbox(record, clock, { relayBatchSize: 3 });
    assert.deepEqual(await box.relayOnce(), { claimed: 3, published: 3, failed: 0 });
    assert.ok(written.slice(0, 2).every((id) => sent.includes(id)), 'the oldest write\'s jobs are in the first batch');
    assert.equal((await rows()).length, 5);
    // One timer tick claims a full batch (3) and goes on at once with the rest (2), long before the next tick.
    const timed = outbox(record, clock, { relayBatchSize: 3, relayIntervalMs: 400 });
    const passes: Array<{ claimed: number; at: number }> = [];
    const original = timed.relayOnce.bind(timed);
    timed.relayOnce = async () => {
      const r = await original();
      passes.push({ claimed: r.claimed, at: Date.now() });
      return r;
    };
    timed.start();
    try {
      const deadline = Date.now() + 5000;
      while (sent.length < 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    } finally {
      await timed.stop();
    }
    assert.deepEqual(passes.slice(0, 2).map((p) => p.claimed), [3, 2]);
    assert.ok(passes[1]!.at - passes[0]!.at < 300, `second pass ${passes[1]!.at - passes[0]!.at} ms after the first, within the same tick`);
    assert.deepEqual(new Set(sent), new Set(written));
    assert.equal(sent.length, 8, 'each job published once');
    assert.deepEqual(await rows(), []);
  });

  it('the timer relay skips passes while the broker is away and stops cleanly', async () => {
    const clock = { t: T0 };
    let connected = false;
    const sent: string[] = [];
    const box = outbox(async (_x, _k, body) => void sent.push((body as { id: string }).id), clock, {
      leaseMs: 0,
      relayIntervalMs: 50,
      canPublish: () => connected,
    });
    await committedJobs(box);
    box.start();
    try {
      await new Promise((r) => setTimeout(r, 250));
      assert.equal(sent.length, 0);
      assert.equal((await rows()).every((r) => r.attempts === 0), true, 'nothing claimed while disconnected');
      connected = true;
      const deadline = Date.now() + 5000;
      while (sent.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(sent.length, 2);
    } finally {
      await box.stop();
    }
    assert.deepEqual(await rows(), []);
  });
});
