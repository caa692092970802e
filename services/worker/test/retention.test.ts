import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { createPgPool, type PgPool } from '@noa/kit';
import type { TestDatabase } from '@noa/kit/testing';
import { DatabaseSlots } from '../src/database-slots';
import { ProcessedJobsRetention } from '../src/retention';
import pg from 'pg';
import { migratedDatabase } from './support';

describe('processed_jobs retention against PostgreSQL', function () {
  this.timeout(20_000);
  let db: TestDatabase;
  let pool: PgPool;

  before(async () => {
    db = await migratedDatabase('worker_retention');
    pool = createPgPool({ url: db.url, max: 3, logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    await pool?.end();
    await db?.drop();
  });

  const record = (hoursAgo: number) =>
    pool.query(`INSERT INTO processed_jobs (user_id, job_id, job_type, attempt, processed_at) VALUES ($1, $2, 'analytics', 1, now() - $3 * interval '1 hour')`, [randomUUID(), randomUUID(), hoursAgo]);
  const remaining = async () => (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM processed_jobs')).rows[0]!.n;

  it('deletes the records older than the retention and keeps the rest, counting what it deleted', async () => {
    for (const hoursAgo of [0, 1, 23, 25, 200]) await record(hoursAgo);
    const pruned: number[] = [];
    const retention = new ProcessedJobsRetention({ pool, logger: pino({ level: 'silent' }), retentionHours: 24, onPruned: (n) => pruned.push(n) });
    assert.equal(await retention.sweep(), 2);
    assert.equal(await remaining(), 3);
    assert.equal(await retention.sweep(), 0, 'a second sweep finds nothing more');
    assert.deepEqual(pruned, [2, 0]);
    // The index the sweep's DELETE uses.
    const { rows } = await pool.query(`SELECT indexdef FROM pg_indexes WHERE tablename = 'processed_jobs' AND indexname = 'processed_jobs_processed_at_idx'`);
    assert.match(rows[0].indexdef, /\(processed_at\)/);
  });

  it('works off a backlog in batches, each its own transaction, and no more batches than allowed per sweep', async () => {
    await pool.query('DELETE FROM processed_jobs');
    await pool.query(
      `INSERT INTO processed_jobs (user_id, job_id, job_type, attempt, processed_at)
       SELECT gen_random_uuid(), gen_random_uuid(), 'analytics', 1, now() - interval '48 hours' FROM generate_series(1, 2500)`,
    );
    await record(1);
    const pruned: number[] = [];
    const retention = new ProcessedJobsRetention({ pool, logger: pino({ level: 'silent' }), retentionHours: 24, batchSize: 1000, maxBatches: 2, onPruned: (n) => pruned.push(n) });
    assert.equal(await retention.sweep(), 2000, 'two batches of 1000');
    assert.equal(await remaining(), 501);
    assert.equal(await retention.sweep(), 500, 'the rest at the next sweep');
    assert.equal(await remaining(), 1);
    assert.deepEqual(pruned, [2000, 500]);
  });

  it('sweeps on its own every interval once started, and stops cleanly', async () => {
    await pool.query('DELETE FROM processed_jobs');
    await record(48);
    let sweeps = 0;
    const retention = new ProcessedJobsRetention({ pool, logger: pino({ level: 'silent' }), retentionHours: 24, intervalMs: 50, onPruned: () => void sweeps++ });
    retention.start();
    const deadline = Date.now() + 5_000;
    while (sweeps < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await retention.stop();
    assert.ok(sweeps >= 3, `${sweeps} sweeps`);
    assert.equal(await remaining(), 0);
    const after = sweeps;
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(sweeps, after, 'no sweep after stop');
  });

  it('takes a job slot, so a sweep never takes the connection kept for readiness', async () => {
    await pool.query('DELETE FROM processed_jobs');
    await record(48);
    const small = createPgPool({ url: db.url, max: 2, connectionTimeoutMs: 1000, logger: pino({ level: 'silent' }) });
    try {
      const slots = new DatabaseSlots(1);
      const job = await slots.acquire(new AbortController().signal); // a job holds the only slot (and a connection)
      const held = await small.connect();
      const retention = new ProcessedJobsRetention({ pool: small, logger: pino({ level: 'silent' }), retentionHours: 24, slots });
      const sweeping = retention.sweep();
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      await small.query('SELECT 1'); // readiness: the pool's other connection is free
      assert.ok(Date.now() - started < 500);
      assert.equal(await remaining(), 1, 'the sweep waits for a slot');
      held.release();
      job();
      assert.equal(await sweeping, 1);
    } finally {
      await small.end();
    }
  });

  it('lets one replica sweep at a time: another one skips while the lock is held', async () => {
    await pool.query('DELETE FROM processed_jobs');
    await record(48);
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock($1)', [0x6e6f6170]);
      const retention = new ProcessedJobsRetention({ pool, logger: pino({ level: 'silent' }), retentionHours: 24 });
      assert.equal(await retention.sweep(), 0, 'skipped: another sweep holds the lock');
      assert.equal(await remaining(), 1);
      await other.query('COMMIT');
      assert.equal(await retention.sweep(), 1);
    } finally {
      await other.end();
    }
  });

  it('refuses a retention under an hour, naming the value', () => {
    assert.throws(() => new ProcessedJobsRetention({ pool, logger: pino({ level: 'silent' }), retentionHours: 0 }), /retentionHours \(0\) must be a whole number of at least 1/);
  });
});
