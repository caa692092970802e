import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createWebhookHandler, PermanentJobError } from '../src/handlers';
import { isPrivateAddress } from '@noa/kit';
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

describe('webhook handler', () => {
  it('refuses a private target as a permanent failure before sending anything', async () => {
    const handler = createWebhookHandler();
    const job = { id: randomUUID(), type: 'webhook', userId: randomUUID(), createdAt: new Date().toISOString(), attempt: 1, payload: { url: 'http://169.254.169.254/latest/meta-data', event: 'x', data: {} } };
    await assert.rejects(
      handler.handle(job, { db: null, log: pino({ level: 'silent' }), signal: new AbortController().signal }),
      (err: Error) => err instanceof PermanentJobError && err.message === 'payload.url host 169.254.169.254 is on a private network',
    );
  });

  describe('a host name that resolves to a private address', () => {
    let receiver: Server;
    let port: number;
    let received = 0;
    before(async () => {
      receiver = createServer((_request, response) => {
        received++;
        response.writeHead(204).end();
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      port = (receiver.address() as AddressInfo).port;
    });
    after(() => new Promise<void>((resolve) => receiver.close(() => resolve())));

    /** DNS as the test says: `hooks.example.com` has these addresses. */
    const dns = (addresses: string[]) =>
      ((hostname: string, _options: unknown, callback: (error: Error | null, addresses?: { address: string; family: number }[]) => void) => {
        assert.equal(hostname, 'hooks.example.com');
        callback(null, addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
      }) as never;
    const job = () => ({ id: randomUUID(), type: 'webhook', userId: randomUUID(), createdAt: new Date().toISOString(), attempt: 1, payload: { url: `http://hooks.example.com:${port}/noa`, event: 'x', data: {} } });
    const recorded: unknown[][] = [];
    const ctx = () => ({ db: { query: async (...args: unknown[]) => void recorded.push(args) } as never, log: pino({ level: 'silent' }), signal: new AbortController().signal });

    it('is refused when the connection is made, as a permanent failure, and nothing is sent', async () => {
      for (const addresses of [['127.0.0.1'], ['10.0.3.7'], ['203.0.113.5', '127.0.0.1'], ['::ffff:169.254.169.254']]) {
        const handler = createWebhookHandler({ lookup: dns(addresses) });
        const refused = addresses.find((address) => isPrivateAddress(address));
        await assert.rejects(
          handler.handle(job(), ctx()),
          (err: Error) => err instanceof PermanentJobError && err.message === `payload.url host hooks.example.com resolves to ${refused}, a private address`,
          addresses.join(', '),
        );
      }
      assert.equal(received, 0);
      assert.equal(recorded.length, 0);
    });

    it('is delivered to that address when private networks are allowed (local use): the check sits on the connection itself', async () => {
      const handler = createWebhookHandler({ lookup: dns(['127.0.0.1']), allowPrivateNetworks: true });
      await handler.handle(job(), ctx());
      assert.equal(received, 1);
      assert.equal(recorded.length, 1);
    });
  });
});
