import { once } from 'node:events';
import { assertJobTopology, DEAD_LETTER_EXCHANGE, delayQueue, jobQueue, type Logger, type PgPool, type PgPoolClient } from '@noa/kit';
import type { ConfirmChannel, ConsumeMessage, Message, Options } from 'amqplib';
import { PermanentJobError, type JobHandler } from './handlers/handler';
import { parseEnvelope, PoisonMessageError, type Job } from './jobs';
import type { WorkerMetrics } from './metrics';
import { decideOnFailure, retryDelays, type RetryPolicy } from './retry';

/** Header carrying the 1-based attempt number; absent on a first delivery. */
export const ATTEMPT_HEADER = 'x-attempt';

export interface JobConsumerOptions {
  /** Opens a fresh confirm channel (called again after the channel is lost). */
  readonly openChannel: () => Promise<ConfirmChannel>;
  /** Pool the transactional handlers run in (one connection per job in flight). */
  readonly pool: PgPool;
  /** Logs failures, retries and dead-letters, with the job id on every line. */
  readonly logger: Logger;
  /** Where job counters, durations and queue depth are recorded. */
  readonly metrics: WorkerMetrics;
  /** One handler per job type; the envelope's `type` chooses. */
  readonly handlers: readonly JobHandler<any>[];
  /** Attempts and backoff; its delays decide which delay queues are declared. */
  readonly retry: RetryPolicy;
  /** Unacknowledged deliveries per queue consumer (quorum queues have no channel-wide prefetch). */
  readonly prefetch: number;
  /** Job types to consume; default: every handler's type. */
  readonly types?: readonly string[];
  /** Delay before reopening a lost channel, in ms. Default 1000. */
  readonly reconnectDelayMs?: number;
}

type Outcome = 'processed' | 'duplicate';

/**
 * Consumes the job queues with manual acks and runs each job through its
 * handler. A job is acknowledged only after its effects are committed (or it
 * has been safely handed to a delay queue or the dead-letter queue, with a
 * publisher confirm), so a crash at any point leaves the message in RabbitMQ.
 */
export class JobConsumer {
  private readonly handlers: Map<string, JobHandler<any>>;
  private readonly types: readonly string[];
  private channel: ConfirmChannel | null = null;
  private consumerTags: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private stopping = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private starting: Promise<void> | null = null;

  constructor(private readonly options: JobConsumerOptions) {
    this.handlers = new Map(options.handlers.map((h) => [h.type, h]));
    this.types = options.types ?? options.handlers.map((h) => h.type);
    const missing = this.types.filter((t) => !this.handlers.has(t));
    if (missing.length > 0) throw new Error(`types (${missing.join(', ')}) have no handler`);
  }

  /** True while the consumer holds an open channel with its consumers registered. */
  get consuming(): boolean {
    return this.channel !== null && this.consumerTags.length === this.types.length;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * Declares the topology and starts consuming every configured queue. Safe
   * to call again (after a reconnect, from a timer): a call while a channel
   * is open or being opened does nothing more.
   */
  start(): Promise<void> {
    if (this.stopping || this.channel) return Promise.resolve();
    this.starting ??= this.open().finally(() => (this.starting = null));
    return this.starting;
  }

  private async open(): Promise<void> {
    const channel = await this.options.openChannel();
    try {
      channel.on('error', (err: Error) => this.options.logger.warn({ err }, 'job channel error'));
      channel.on('close', () => this.onChannelClosed(channel));
      await assertJobTopology(channel, { retryDelaysMs: retryDelays(this.options.retry) });
      // Per-consumer prefetch: quorum queues do not support channel-global QoS.
      await channel.prefetch(this.options.prefetch, false);
      const tags: string[] = [];
      for (const type of this.types) {
        const queue = jobQueue(type);
        const { consumerTag } = await channel.consume(queue, (msg) => msg && this.track(this.onMessage(channel, queue, msg)), { noAck: false });
        tags.push(consumerTag);
      }
      this.channel = channel;
      this.consumerTags = tags;
    } catch (err) {
      await channel.close().catch(() => undefined);
      throw err;
    }
    this.options.logger.info({ queues: this.types.map(jobQueue), prefetch: this.options.prefetch }, 'consuming jobs');
  }

  /**
   * Stops taking new deliveries, waits for in-flight jobs (up to `timeoutMs`),
   * then closes the channel. Jobs still running at the deadline are aborted and
   * left unacknowledged, so RabbitMQ redelivers them to another worker.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    await this.starting?.catch(() => undefined);
    const channel = this.channel;
    if (channel) {
      for (const tag of this.consumerTags) await channel.cancel(tag).catch(() => undefined);
    }
    this.consumerTags = [];
    const drained = Promise.allSettled([...this.inFlight]).then(() => true);
    const deadline = new Promise<false>((resolve) => setTimeout(resolve, timeoutMs, false).unref());
    if (!(await Promise.race([drained, deadline]))) {
      this.options.logger.warn({ inFlight: this.inFlight.size }, 'shutdown deadline reached; in-flight jobs will be redelivered');
      this.abort.abort(new Error('worker shutting down'));
    }
    this.channel = null;
    if (channel) await channel.close().catch(() => undefined);
  }

  /** Ready messages per job queue, for the depth gauge and readiness. */
  async queueDepths(): Promise<Record<string, number>> {
    const channel = this.channel;
    if (!channel) throw new Error('not connected');
    const depths: Record<string, number> = {};
    for (const type of this.types) {
      const queue = jobQueue(type);
      depths[queue] = (await channel.checkQueue(queue)).messageCount;
    }
    return depths;
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    this.options.metrics.inFlight.inc();
    void work.finally(() => {
      this.inFlight.delete(work);
      this.options.metrics.inFlight.dec();
    });
  }

  private onChannelClosed(channel: ConfirmChannel): void {
    if (this.channel !== channel) return;
    this.channel = null;
    this.consumerTags = [];
    if (this.stopping) return;
    // Unacked deliveries on the lost channel go back to their queues by themselves.
    this.options.logger.warn("job channel closed; reopening");
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.stopping) return;
      this.start().catch((err: unknown) => {
        this.options.logger.error({ err }, 'reopening the job channel failed; retrying');
        this.scheduleReconnect();
      });
    }, this.options.reconnectDelayMs ?? 1000);
  }

  private async onMessage(channel: ConfirmChannel, queue: string, msg: ConsumeMessage): Promise<void> {
    const { logger, metrics, retry } = this.options;
    const attempt = attemptOf(msg);
    // Metric labels come from the queue, never from the message: a poisoned
    // `type` must not mint new time series.
    const queueType = queue.slice(jobQueue('').length);
    let envelope;
    try {
      envelope = parseEnvelope(msg.content);
    } catch (err) {
      return this.deadLetter(channel, queue, msg, queueType, 'poison', err as Error);
    }
    const log = logger.child({ jobId: envelope.id, jobType: envelope.type, attempt });
    if (jobQueue(envelope.type) !== queue) {
      return this.deadLetter(channel, queue, msg, queueType, 'poison', new PoisonMessageError(`envelope.type (${envelope.type}) does not belong on queue ${queue}`));
    }
    const handler = this.handlers.get(envelope.type);
    if (!handler) {
      return this.deadLetter(channel, queue, msg, queueType, 'unknown-type', new PoisonMessageError(`no handler for envelope.type (${envelope.type})`));
    }
    const payload = handler.payload.safeParse(envelope.payload);
    if (!payload.success) {
      const issue = payload.error.issues[0]!;
      const reason = new PoisonMessageError(`payload.${issue.path.join('.')}: ${issue.message}`);
      return this.deadLetter(channel, queue, msg, queueType, 'invalid-payload', reason);
    }
    const job: Job<unknown> = { id: envelope.id, type: envelope.type, userId: envelope.userId, createdAt: envelope.createdAt, payload: payload.data, attempt };

    const stopTimer = metrics.duration.startTimer({ type: job.type });
    let outcome: Outcome;
    try {
      outcome = await this.run(handler, job, log);
      stopTimer({ outcome });
    } catch (err) {
      stopTimer({ outcome: 'failed' });
      if (this.abort.signal.aborted) return; // left unacked on purpose: redelivered elsewhere
      metrics.failed.inc({ type: job.type });
      const decision = decideOnFailure(retry, attempt, err instanceof PermanentJobError);
      if (decision.action === 'dead-letter') {
        return this.deadLetter(channel, queue, msg, job.type, decision.reason, err as Error);
      }
      log.warn({ err, nextAttempt: decision.nextAttempt, delayMs: decision.delayMs }, 'job failed; retrying after backoff');
      try {
        await publishConfirmed(channel, delayQueue(decision.delayMs), queue, msg.content, {
          ...carriedProperties(msg),
          headers: { ...carriedHeaders(msg), [ATTEMPT_HEADER]: decision.nextAttempt, 'x-last-error': errorText(err) },
        });
        metrics.retried.inc({ type: job.type });
        channel.ack(msg);
      } catch (publishErr) {
        // Requeue: the broker's delivery limit still bounds how often this can happen.
        log.error({ err: publishErr }, 'could not schedule the retry; requeueing');
        safely(() => channel.nack(msg, false, true));
      }
      return;
    }
    if (outcome === 'duplicate') {
      metrics.duplicates.inc({ type: job.type });
      log.info('job already processed; acknowledging the redelivery');
    } else {
      metrics.processed.inc({ type: job.type });
    }
    safely(() => channel.ack(msg));
  }

  /** Runs a handler; transactional ones run in the transaction that records the job as processed. */
  private async run(handler: JobHandler<any>, job: Job<unknown>, log: Logger): Promise<Outcome> {
    const signal = this.abort.signal;
    if (!handler.transactional) {
      await handler.handle(job, { db: null, log, signal });
      return 'processed';
    }
    const client: PgPoolClient = await this.options.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      // A concurrent duplicate blocks here on the primary key until the first commits, then finds the row.
      const inserted = await client.query(
        `INSERT INTO processed_jobs (user_id, job_id, job_type, attempt) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
        [job.userId, job.id, job.type, job.attempt],
      );
      if (inserted.rowCount === 0) {
        await client.query('ROLLBACK');
        return 'duplicate';
      }
      await handler.handle(job, { db: client, log, signal });
      await client.query('COMMIT');
      return 'processed';
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  private async deadLetter(channel: ConfirmChannel, queue: string, msg: ConsumeMessage, type: string, reason: string, err: Error): Promise<void> {
    const { logger, metrics } = this.options;
    logger.error({ err, queue, reason, messageId: msg.properties.messageId }, 'dead-lettering job');
    try {
      await publishConfirmed(channel, DEAD_LETTER_EXCHANGE, msg.fields.routingKey, msg.content, {
        ...carriedProperties(msg),
        headers: { ...carriedHeaders(msg), [ATTEMPT_HEADER]: attemptOf(msg), 'x-dead-reason': reason, 'x-last-error': errorText(err), 'x-original-queue': queue },
      });
      safely(() => channel.ack(msg));
    } catch (publishErr) {
      // Fall back to the queue's own dead-lettering (at-least-once on quorum queues).
      logger.error({ err: publishErr }, 'publishing to the dead-letter exchange failed; rejecting instead');
      safely(() => channel.nack(msg, false, false));
    }
    metrics.deadLettered.inc({ type, reason });
  }
}

export function attemptOf(msg: ConsumeMessage): number {
  const value = Number(msg.properties.headers?.[ATTEMPT_HEADER]);
  return Number.isInteger(value) && value >= 1 ? value : 1;
}

const errorText = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).slice(0, 1024);

/** Properties that travel with a job when it is republished. */
export function carriedProperties(msg: Message): Options.Publish {
  const p = msg.properties;
  return { persistent: true, messageId: p.messageId, type: p.type, contentType: p.contentType, timestamp: p.timestamp, appId: p.appId };
}

/** Application headers, without the broker's own: its dead-lettering history (it grows on every hop) and delivery count. */
export function carriedHeaders(msg: Message): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(msg.properties.headers ?? {})) {
    if (key === 'x-death' || key === 'x-delivery-count' || key.startsWith('x-first-death') || key.startsWith('x-last-death')) continue;
    headers[key] = value;
  }
  return headers;
}

/** Publishes and resolves on the broker's confirm, waiting for `drain` when the socket buffer is full. */
export async function publishConfirmed(channel: ConfirmChannel, exchange: string, routingKey: string, content: Buffer, options: Options.Publish): Promise<void> {
  let flushed = true;
  const confirmed = new Promise<void>((resolve, reject) => {
    flushed = channel.publish(exchange, routingKey, content, options, (err) => (err ? reject(err instanceof Error ? err : new Error('publish nacked by the broker')) : resolve()));
  });
  if (!flushed) await once(channel, 'drain');
  await confirmed;
}

/** Acks on a channel that has since closed throw; the broker redelivers those messages anyway. */
function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // channel already closed
  }
}
