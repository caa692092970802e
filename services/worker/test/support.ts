import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@noa/kit';
import { createTestDatabase, type TestDatabase } from '@noa/kit/testing';
import { runMigrations } from '@noa/migrate';

/** A fresh database `noa_test_<name>` with every migration applied (plain PostgreSQL: Citus files skipped). */
export async function migratedDatabase(name: string): Promise<TestDatabase> {
  const db = await createTestDatabase(name);
  await runMigrations({ databaseUrl: db.url, logger: createLogger('migrate-test', 'silent') });
  return db;
}

/** Polls `probe` every 25 ms until it returns something truthy; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false | null>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface ReceivedWebhook {
  at: number;
  headers: IncomingMessage['headers'];
  body: any;
}

/**
 * A local webhook receiver on a loopback port. It answers with `statuses` in
 * order (the last one repeats; default 200), each after `delayMs` (default 0),
 * and records every request as it arrives.
 */
export async function webhookReceiver(options: { statuses?: number[]; delayMs?: number } = {}): Promise<{ url: string; received: ReceivedWebhook[]; close(): Promise<void> }> {
  const statuses = options.statuses ?? [200];
  const received: ReceivedWebhook[] = [];
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      received.push({ at: Date.now(), headers: req.headers, body: JSON.parse(data) });
      const status = statuses[Math.min(received.length - 1, statuses.length - 1)]!;
      setTimeout(() => {
        res.statusCode = status;
        res.end();
      }, options.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks`, received, close: () => new Promise((r) => server.close(() => r())) };
}
