import { randomUUID } from 'node:crypto';
import type { Channel } from 'amqplib';
import { z } from 'zod';

/**
 * The job contract between publishers (workflows) and the worker: the
 * RabbitMQ topology both declare, and the envelope every job travels in.
 * Both sides must declare queues with identical arguments (RabbitMQ refuses
 * a redeclaration that differs), which is why this lives in the kit.
 */

/** Every job type; each is a quorum queue `jobs.<type>` bound by routing key `<type>`. */
export const JOB_TYPES = ['email', 'webhook', 'report', 'export', 'analytics'] as const;
export type JobType = (typeof JOB_TYPES)[number];

export const JOBS_EXCHANGE = 'jobs';
export const DEAD_LETTER_EXCHANGE = 'jobs.dlx';
export const DEAD_LETTER_QUEUE = 'jobs.dead';
export const jobQueue = (type: string): string => `jobs.${type}`;
export const delayQueue = (delayMs: number): string => `jobs.delay.${delayMs}`;

/**
 * Broker-side cap on deliveries of one message (quorum `x-delivery-limit`):
 * a job that crashes its worker every time is dead-lettered instead of
 * looping. The worker counts retries itself (a retry is a new message), so
 * what this counts is returns to the queue: a worker crash, and also every
 * channel or connection loss while the message sat unacked in a worker's
 * prefetch, started or not. Ten such losses within one message's stay
 * dead-letter it as `broker:delivery_limit` (replayable). A constant, not a
 * setting: every declarer must pass the same value.
 */
export const JOB_DELIVERY_LIMIT = 10;

/** At-least-once dead-lettering for quorum queues requires `reject-publish` overflow. */
const atLeastOnceDeadLettering = {
  'x-dead-letter-strategy': 'at-least-once',
  'x-overflow': 'reject-publish',
} as const;

/**
 * Declares the job topology idempotently: direct exchange `jobs`; a quorum
 * queue per job type, dead-lettering to the fanout exchange `jobs.dlx` whose
 * quorum queue is `jobs.dead`; and, for the worker, one delay queue per retry
 * delay. A delay queue sits behind its own fanout exchange and dead-letters
 * into the default exchange, so a retry published with routing key
 * `jobs.<type>` returns to exactly that queue when its TTL expires.
 */
export async function assertJobTopology(channel: Channel, options: { retryDelaysMs?: readonly number[] } = {}): Promise<void> {
  await channel.assertExchange(JOBS_EXCHANGE, 'direct', { durable: true });
  await channel.assertExchange(DEAD_LETTER_EXCHANGE, 'fanout', { durable: true });
  await channel.assertQueue(DEAD_LETTER_QUEUE, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await channel.bindQueue(DEAD_LETTER_QUEUE, DEAD_LETTER_EXCHANGE, '');
  for (const type of JOB_TYPES) {
    const queue = jobQueue(type);
    await channel.assertQueue(queue, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-dead-letter-exchange': DEAD_LETTER_EXCHANGE,
        'x-delivery-limit': JOB_DELIVERY_LIMIT,
        ...atLeastOnceDeadLettering,
      },
    });
    await channel.bindQueue(queue, JOBS_EXCHANGE, type);
  }
  for (const delayMs of options.retryDelaysMs ?? []) {
    const name = delayQueue(delayMs);
    await channel.assertExchange(name, 'fanout', { durable: true });
    await channel.assertQueue(name, {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-message-ttl': delayMs,
        'x-dead-letter-exchange': '',
        ...atLeastOnceDeadLettering,
      },
    });
    await channel.bindQueue(name, name, '');
  }
}

/**
 * The envelope every job travels in. Payloads are validated by the worker's
 * handler for the type; the envelope carries what is needed before that: a
 * stable id (the idempotency key, also the AMQP `messageId`), the owning
 * user (the Citus distribution column, so a job's effects stay on one shard)
 * and the type.
 */
export const jobEnvelopeSchema = z.object({
  id: z.uuid(),
  type: z.string().min(1).max(64),
  userId: z.uuid(),
  createdAt: z.iso.datetime({ offset: true }),
  payload: z.record(z.string(), z.unknown()),
});
export type JobEnvelope = z.infer<typeof jobEnvelopeSchema>;

/** A new envelope with a fresh id. */
export function newJob(type: JobType, userId: string, payload: Record<string, unknown>, now = new Date()): JobEnvelope {
  return { id: randomUUID(), type, userId, createdAt: now.toISOString(), payload };
}
