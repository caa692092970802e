import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import amqp, { type ChannelModel, type ConfirmChannel, type GetMessage } from 'amqplib';
import { assertJobTopology, DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, jobQueue, JOBS_EXCHANGE } from '@noa/kit';
import { createTestVhost, type TestVhost } from '@noa/kit/testing';
import { publishConfirmed } from '../src/consumer';
import { replayDeadLetters } from '../src/dead-letters';

/**
 * Replaying `jobs.dead` against a real broker: dead letters written the way
 * the worker writes them (x-dead-reason …) and one dead-lettered by RabbitMQ
 * itself (a rejected delivery, with only `x-death`).
 */
describe('replaying dead-lettered jobs against RabbitMQ', function () {
  this.timeout(30_000);
  let vhost: TestVhost;
  let connection: ChannelModel;
  let channel: ConfirmChannel;
  const AT = new Date('2026-11-22T20:00:00.000Z');

  before(async () => {
    vhost = await createTestVhost('worker_dead_letters');
    connection = await amqp.connect(vhost.url);
    channel = await connection.createConfirmChannel();
  });
  after(async () => {
    await connection?.close();
    await vhost?.delete();
  });

  /** Fresh topology with five dead letters: webhook/exhausted, email/permanent, analytics/poison, report/broker-rejected, a stray routing key. */
  beforeEach(async () => {
    for (const q of [DEAD_LETTER_QUEUE, ...['email', 'webhook', 'report', 'export', 'analytics'].map(jobQueue)]) await channel.deleteQueue(q);
    await assertJobTopology(channel);
    const dead = (type: string, id: string, reason: string) =>
      publishConfirmed(channel, DEAD_LETTER_EXCHANGE, type, Buffer.from(JSON.stringify({ id, type })), {
        persistent: true,
        messageId: id,
        type,
        contentType: 'application/json',
        headers: { 'x-attempt': 5, 'x-dead-reason': reason, 'x-last-error': 'Error: receiver said 503', 'x-original-queue': jobQueue(type), 'x-trace': 't-1' },
      });
    await dead('webhook', 'm-webhook', 'exhausted');
    await dead('email', 'm-email', 'permanent');
    await dead('analytics', 'm-poison', 'poison');
    // RabbitMQ's own dead-lettering: a rejected delivery of a report job.
    await publishConfirmed(channel, JOBS_EXCHANGE, 'report', Buffer.from('{"id":"m-report"}'), { persistent: true, messageId: 'm-report', type: 'report' });
    const report = await waitForMessage(jobQueue('report'));
    channel.nack(report, false, false);
    await waitForDepth(DEAD_LETTER_QUEUE, 4);
    await publishConfirmed(channel, DEAD_LETTER_EXCHANGE, 'mystery', Buffer.from('{}'), { persistent: true, messageId: 'm-mystery' });
  });

  async function waitForMessage(queue: string): Promise<GetMessage> {
    for (let i = 0; i < 100; i++) {
      const msg = await channel.get(queue, { noAck: false });
      if (msg) return msg;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no message on ${queue}`);
  }
  async function waitForDepth(queue: string, depth: number) {
    for (let i = 0; i < 100; i++) {
      if ((await channel.checkQueue(queue)).messageCount === depth) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal((await channel.checkQueue(queue)).messageCount, depth, queue);
  }
  /** Takes every message off a queue: id → [reason header, headers]. */
  async function drain(queue: string): Promise<Map<string, GetMessage>> {
    const out = new Map<string, GetMessage>();
    for (;;) {
      const msg = await channel.get(queue, { noAck: true });
      if (!msg) return out;
      out.set(String(msg.properties.messageId), msg);
    }
  }

  it('a dry run reports what it would replay and leaves every job dead, with its reason', async () => {
    const summary = await replayDeadLetters(channel, { limit: 100, dryRun: true, now: () => AT });
    assert.deepEqual(summary, {
      examined: 5,
      replayed: { webhook: 1, email: 1, report: 1 },
      kept: { 'dry-run': 3, 'not-replayable:poison': 1, 'not-a-job-type': 1 },
    });
    for (const type of ['email', 'webhook', 'report', 'analytics']) assert.equal((await channel.checkQueue(jobQueue(type))).messageCount, 0, type);
    await waitForDepth(DEAD_LETTER_QUEUE, 5);
    const dead = await drain(DEAD_LETTER_QUEUE);
    assert.deepEqual([...dead.keys()].sort(), ['m-email', 'm-mystery', 'm-poison', 'm-report', 'm-webhook']);
    assert.equal(dead.get('m-report')!.properties.headers!['x-dead-reason'], 'broker:rejected', "the broker's reason is kept in our header");
    assert.equal(dead.get('m-webhook')!.properties.headers!['x-last-error'], 'Error: receiver said 503');
  });

  it('replays one type into its queue with the same id and body, a fresh attempt count and the reason it died', async () => {
    const summary = await replayDeadLetters(channel, { types: ['webhook'], limit: 100, dryRun: false, now: () => AT });
    assert.deepEqual(summary, { examined: 5, replayed: { webhook: 1 }, kept: { 'other-type': 3, 'not-a-job-type': 1 } });
    const [replayed] = [...(await drain(jobQueue('webhook'))).values()];
    assert.ok(replayed);
    assert.equal(replayed.properties.messageId, 'm-webhook');
    assert.equal(replayed.properties.type, 'webhook');
    assert.equal(replayed.properties.deliveryMode, 2, 'persistent');
    assert.deepEqual(JSON.parse(replayed.content.toString()), { id: 'm-webhook', type: 'webhook' });
    // x-delivery-count is the broker's, added when this test reads the queue.
    const { 'x-delivery-count': _count, ...headers } = replayed.properties.headers ?? {};
    assert.deepEqual(headers, {
      'x-attempt': 1,
      'x-trace': 't-1',
      'x-replayed-reason': 'exhausted',
      'x-replayed-at': '2026-11-22T20:00:00.000Z',
    });
    await waitForDepth(DEAD_LETTER_QUEUE, 4);
  });

  it('by default replays what a retry can fix; unreadable jobs only when their reason is named', async () => {
    const first = await replayDeadLetters(channel, { limit: 100, dryRun: false });
    assert.deepEqual(first.replayed, { webhook: 1, email: 1, report: 1 });
    for (const type of ['webhook', 'email', 'report']) assert.equal((await channel.checkQueue(jobQueue(type))).messageCount, 1, type);
    await waitForDepth(DEAD_LETTER_QUEUE, 2);
    const poison = await replayDeadLetters(channel, { reasons: ['poison'], limit: 100, dryRun: false });
    assert.deepEqual(poison, { examined: 2, replayed: { analytics: 1 }, kept: { 'not-a-job-type': 1 } });
    assert.equal((await channel.checkQueue(jobQueue('analytics'))).messageCount, 1);
    await waitForDepth(DEAD_LETTER_QUEUE, 1);
  });

  it('stops at the limit and leaves the rest untouched', async () => {
    const summary = await replayDeadLetters(channel, { limit: 1, dryRun: false });
    assert.deepEqual(summary, { examined: 1, replayed: { webhook: 1 }, kept: {} });
    await waitForDepth(DEAD_LETTER_QUEUE, 4);
    assert.deepEqual([...(await drain(DEAD_LETTER_QUEUE)).keys()], ['m-email', 'm-poison', 'm-report', 'm-mystery'], 'in their order');
  });

  it('the command prints its summary, and refuses bad options with exit code 2', async () => {
    const cli = path.resolve(__dirname, '../src/bin/replay-dead-letters.ts');
    const run = (args: string[], env: Record<string, string>) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, ['--import', 'tsx', cli, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
      });
    const ok = await run(['--dry-run', '--type', 'email'], { AMQP_URL: vhost.url });
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), { dryRun: true, examined: 5, replayed: { email: 1 }, kept: { 'dry-run': 1, 'other-type': 3, 'not-a-job-type': 1 } });
    const bad = await run(['--type', 'sms', '--limit', '0'], { AMQP_URL: '' });
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trim(), 'replay-dead-letters: --type (sms) must be one of email, webhook, report, export, analytics; --limit (0) must be a whole number of at least 1; AMQP_URL is not set');
  });
});
