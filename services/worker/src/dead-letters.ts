import type { ConfirmChannel, GetMessage } from 'amqplib';
import { DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE, jobQueue, JOB_TYPES, JOBS_EXCHANGE } from '@noa/kit';
import { ATTEMPT_HEADER, carriedHeaders, carriedProperties, publishConfirmed } from './consumer';

/**
 * Replays dead-lettered jobs (`jobs.dead`) into their job queues once the
 * cause is fixed: a receiver that was down, a bug that is deployed away.
 *
 * It looks at most at the messages that were in `jobs.dead` when it started
 * (later arrivals wait for the next run). A replayed job goes to the `jobs`
 * exchange under its type with its id, body and headers, a fresh attempt
 * count and `x-replayed-reason`; the worker's `processed_jobs` keeps one that
 * had in fact been applied from running twice. A job it does not replay is
 * put back at the end of `jobs.dead` as a new message (with the broker's own
 * reason, if that was all it had, in `x-dead-reason`), never requeued: a
 * requeue counts as a delivery, and quorum queues drop a message past their
 * delivery limit. Every move is publish-with-confirm first, then ack, so a
 * crash mid-run duplicates at worst and loses nothing.
 *
 * Jobs dead-lettered as unreadable (`poison`, `unknown-type`,
 * `invalid-payload`) would only come back; they are replayed only when their
 * reason is asked for by name.
 */
export interface ReplayOptions {
  /** Only jobs of these types (default: every type). */
  readonly types?: readonly string[];
  /** Only jobs dead-lettered for these reasons (`exhausted`, `permanent`, `broker:delivery_limit`, …; default: every replayable one). */
  readonly reasons?: readonly string[];
  /** Replay (or, in a dry run, select) at most this many; the run stops there. */
  readonly limit: number;
  /** Report what would be replayed, and replay nothing. */
  readonly dryRun: boolean;
  /** Clock for `x-replayed-at`, for tests. */
  readonly now?: () => Date;
}

export interface ReplaySummary {
  /** Messages taken from `jobs.dead`. */
  examined: number;
  /** Replayed (or, in a dry run, would be), by job type. */
  replayed: Record<string, number>;
  /** Left in `jobs.dead`, by why. */
  kept: Record<string, number>;
}

/** Reasons that describe the message itself: replaying those cannot help. */
export const UNREPLAYABLE_REASONS = ['poison', 'unknown-type', 'invalid-payload'] as const;

/** Why a message is dead: the worker's `x-dead-reason`, else the broker's `x-death` reason (`broker:<reason>`). */
export function deadReason(msg: GetMessage): string {
  const headers = msg.properties.headers ?? {};
  const own = headers['x-dead-reason'];
  if (typeof own === 'string' && own.length > 0) return own;
  const death = (headers['x-death'] as { reason?: string }[] | undefined)?.[0];
  return death?.reason ? `broker:${death.reason}` : 'unknown';
}

/**
 * The job type of a dead letter: the queue it died on (`x-original-queue`,
 * or the broker's `x-death` when the queue dead-lettered it itself), else its
 * routing key. Either may carry the queue's name (`jobs.<type>`): a retried
 * job comes back to its queue under that key.
 */
export function deadJobType(msg: GetMessage): string {
  const headers = msg.properties.headers ?? {};
  const death = (headers['x-death'] as { queue?: unknown }[] | undefined)?.[0];
  const queue = headers['x-original-queue'] ?? death?.queue;
  const source = typeof queue === 'string' && queue.startsWith(jobQueue('')) ? queue : msg.fields.routingKey;
  return source.startsWith(jobQueue('')) ? source.slice(jobQueue('').length) : source;
}

/** Checks the CLI's filters: every type must be a job type. */
export function validateReplayOptions(options: ReplayOptions): string[] {
  const problems: string[] = [];
  for (const type of options.types ?? []) {
    if (!(JOB_TYPES as readonly string[]).includes(type)) problems.push(`--type (${type}) must be one of ${JOB_TYPES.join(', ')}`);
  }
  if (!(Number.isInteger(options.limit) && options.limit >= 1)) problems.push(`--limit (${options.limit}) must be a whole number of at least 1`);
  return problems;
}

/** Why a dead job stays dead under these options; undefined when it is to be replayed. */
function reasonToKeep(type: string, reason: string, options: ReplayOptions): string | undefined {
  if (!(JOB_TYPES as readonly string[]).includes(type)) return 'not-a-job-type';
  if (options.types && !options.types.includes(type)) return 'other-type';
  if (options.reasons) return options.reasons.includes(reason) ? undefined : 'other-reason';
  return (UNREPLAYABLE_REASONS as readonly string[]).includes(reason) ? `not-replayable:${reason}` : undefined;
}

export async function replayDeadLetters(channel: ConfirmChannel, options: ReplayOptions): Promise<ReplaySummary> {
  const problems = validateReplayOptions(options);
  if (problems.length > 0) throw new Error(problems.join('; '));
  const now = options.now ?? (() => new Date());
  const summary: ReplaySummary = { examined: 0, replayed: {}, kept: {} };
  const bump = (map: Record<string, number>, key: string) => (map[key] = (map[key] ?? 0) + 1);
  const { messageCount } = await channel.checkQueue(DEAD_LETTER_QUEUE);
  let selected = 0;

  // Stops at the limit: what it has not looked at stays where it is.
  while (summary.examined < messageCount && selected < options.limit) {
    const msg = await channel.get(DEAD_LETTER_QUEUE, { noAck: false });
    if (msg === false) break;
    summary.examined += 1;
    const type = deadJobType(msg);
    const reason = deadReason(msg);
    const keep = reasonToKeep(type, reason, options);
    if (keep === undefined) {
      selected += 1;
      bump(summary.replayed, type);
    }
    const headers = carriedHeaders(msg);
    if (keep === undefined && !options.dryRun) {
      delete headers['x-dead-reason'];
      delete headers['x-last-error'];
      delete headers['x-original-queue'];
      await publishConfirmed(channel, JOBS_EXCHANGE, type, msg.content, {
        ...carriedProperties(msg),
        headers: { ...headers, [ATTEMPT_HEADER]: 1, 'x-replayed-reason': reason, 'x-replayed-at': now().toISOString() },
      });
    } else {
      await publishConfirmed(channel, DEAD_LETTER_EXCHANGE, type, msg.content, {
        ...carriedProperties(msg),
        headers: { ...headers, 'x-dead-reason': reason },
      });
      bump(summary.kept, keep ?? 'dry-run');
    }
    channel.ack(msg);
  }
  return summary;
}
