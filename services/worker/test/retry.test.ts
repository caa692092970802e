import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { createWebhookHandler, PermanentJobError } from '../src/handlers';
import { isPrivateHost } from '../src/handlers/webhook';
import { backoffDelayMs, decideOnFailure, retryDelays, validateRetryPolicy, type RetryPolicy } from '../src/retry';

const policy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 5000 };

describe('retry policy', () => {
  it('doubles the delay per attempt up to the ceiling', () => {
    const table: [number, number][] = [
      [2, 1000],
      [3, 2000],
      [4, 4000],
      [5, 5000],
      [9, 5000],
    ];
    for (const [attempt, delay] of table) assert.equal(backoffDelayMs(policy, attempt), delay, `attempt ${attempt}`);
  });

  it('declares one delay queue per distinct delay', () => {
    assert.deepEqual(retryDelays(policy), [1000, 2000, 4000, 5000]);
    assert.deepEqual(retryDelays({ ...policy, maxAttempts: 1 }), []);
  });

  it('retries until the last attempt, then dead-letters; permanent failures go at once', () => {
    assert.deepEqual(decideOnFailure(policy, 1, false), { action: 'retry', nextAttempt: 2, delayMs: 1000 });
    assert.deepEqual(decideOnFailure(policy, 4, false), { action: 'retry', nextAttempt: 5, delayMs: 5000 });
    assert.deepEqual(decideOnFailure(policy, 5, false), { action: 'dead-letter', reason: 'exhausted' });
    assert.deepEqual(decideOnFailure(policy, 1, true), { action: 'dead-letter', reason: 'permanent' });
  });

  it('names every bad field and value at once', () => {
    assert.throws(
      () => validateRetryPolicy({ maxAttempts: 0, baseDelayMs: 2000, maxDelayMs: 1000 }),
      (err: Error) =>
        err.message === 'retry.maxAttempts (0) must be an integer from 1 to 20; retry.maxDelayMs (1000) must be an integer no smaller than retry.baseDelayMs (2000)',
    );
  });
});

describe('webhook target check', () => {
  it('flags loopback, private and cluster-internal hosts', () => {
    for (const host of ['localhost', '127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '[::1]', 'fd00::1', 'users.noa.svc.cluster.local']) {
      assert.equal(isPrivateHost(host), true, host);
    }
    for (const host of ['example.com', '8.8.8.8', '172.32.0.1', '2001:db8::1']) {
      assert.equal(isPrivateHost(host), false, host);
    }
  });
});

describe('webhook handler', () => {
  it('refuses a private target as a permanent failure before sending anything', async () => {
    const handler = createWebhookHandler();
    const job = { id: randomUUID(), type: 'webhook', userId: randomUUID(), createdAt: new Date().toISOString(), attempt: 1, payload: { url: 'http://169.254.169.254/latest/meta-data', event: 'x', data: {} } };
    await assert.rejects(
      handler.handle(job, { db: null, log: pino({ level: 'silent' }), signal: new AbortController().signal }),
      (err: Error) => err instanceof PermanentJobError && err.message === 'payload.url host 169.254.169.254 is on a private network',
    );
  });
});
