import { assertJobTopology, DEAD_LETTER_EXCHANGE, delayQueue, findUnstorableText, jobQueue, UNSTORABLE_TEXT_RULE, type Logger, type PgPool, type PgPoolClient } from '@noa/kit';
import type { ConfirmChannel, ConsumeMessage, Message, Options } from 'amqplib';
import { DatabaseSlots } from './database-slots';
import { DatabaseUnavailableError, isDatabaseUnavailable } from './dependency-errors';
import { PermanentJobError, type JobHandler } from './handlers/handler';
import { parseEnvelope, PoisonMessageError, type Job } from './jobs';
import type { WorkerMetrics } from './metrics';
import { decideOnFailure, retryDelays, type RetryPolicy } from './retry';

/** Header carrying the 1-based attempt number; absent on a first delivery. */
export const ATTEMPT_HEADER = 'x-attempt';

/** Header counting how often a job was put back because PostgreSQL was unavailable (no attempt spent). */
export const DEFERRALS_HEADER = 'x-deferrals';

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
  /**
   * Jobs that may hold a database connection at once (see DatabaseSlots).
   * Default: the pool's size minus one, so readiness always finds a connection.
   */
  readonly databaseSlots?: number;
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
  private readonly slots: DatabaseSlots;

  constructor(private readonly options: JobConsumerOptions) {
    // (A consumer with only non-transactional handlers may have no pool: the benchmark's no-op run.)
    this.slots = new DatabaseSlots(options.databaseSlots ?? Math.max(1, ((options.pool as PgPool | null)?.options.max ?? 10) - 1));
    this.handlers = new Map(options.handlers.map((h) => [h.type, h]));
    this.types = options.types ?? options.handlers.map((h) => h.type);
    const missing = this.types.filter((t) => !this.handlers.has(t));
    if (missing.length > 0) throw new Error(`types (${missing.join(', ')}) have no handler`);
  }

  /** The database slots jobs take; other database work of the worker takes them too, so readiness keeps its connection. */
  get databaseSlots(): DatabaseSlots {
    return this.slots;
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
    // Text PostgreSQL cannot store would fail every attempt (after any outside effect, such as a webhook POST).
    const unstorable = findUnstorableText(envelope.payload, 'payload');
    if (unstorable !== undefined) {
      return this.deadLetter(channel, queue, msg, queueType, 'invalid-payload', new PoisonMessageError(`${unstorable}: ${UNSTORABLE_TEXT_RULE}`));
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
      if (isDatabaseUnavailable(err)) return this.defer(channel, queue, msg, job, log, err);
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
    const release = await this.slots.acquire(signal);
    let client: PgPoolClient;
    try {
      client = await this.options.pool.connect();
    } catch (err) {
      release();
      // With a slot held, the pool has a connection for this job unless the database cannot be reached.
      throw new DatabaseUnavailableError(err);
    }
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
      release();
    }
  }

  /**
   * Puts a job back for later without spending an attempt: PostgreSQL was
   * unavailable, which says nothing about the job. It goes through the
   * delay queues (longer each time it is deferred, up to the longest retry
   * delay), so the queue is not spun while the database is away.
   */
  private async defer(channel: ConfirmChannel, queue: string, msg: ConsumeMessage, job: Job<unknown>, log: Logger, err: unknown): Promise<void> {
    const deferrals = deferralsOf(msg);
    const delays = retryDelays(this.options.retry);
    this.options.metrics.deferred.inc({ type: job.type });
    if (delays.length === 0) {
      // No delay queues (a policy of one attempt): wait here, then requeue.
      log.warn({ err, deferrals: deferrals + 1 }, 'PostgreSQL unavailable; requeueing the job after a pause (no attempt spent)');
      await new Promise((resolve) => setTimeout(resolve, this.options.reconnectDelayMs ?? 1000));
      safely(() => channel.nack(msg, false, true));
      return;
    }
    const delayMs = delays[Math.min(deferrals, delays.length - 1)]!;
    log.warn({ err, deferrals: deferrals + 1, delayMs }, 'PostgreSQL unavailable; putting the job back for later (no attempt spent)');
    try {
      await publishConfirmed(channel, delayQueue(delayMs), queue, msg.content, {
        ...carriedProperties(msg),
        headers: { ...carriedHeaders(msg), [ATTEMPT_HEADER]: job.attempt, [DEFERRALS_HEADER]: deferrals + 1, 'x-last-error': errorText(err) },
      });
      safely(() => channel.ack(msg));
    } catch (publishErr) {
      log.error({ err: publishErr }, 'could not put the job back for later; requeueing');
      safely(() => channel.nack(msg, false, true));
    }
  }

  private async deadLetter(channel: ConfirmChannel, queue: string, msg: ConsumeMessage, type: string, reason: string, err: Error): Promise<void> {
    const { logger, metrics } = this.options;
    logger.error({ err, queue, reason, messageId: msg.properties.messageId }, 'dead-lettering job');
    try {
      // Routed by job type (a retried job arrives with its queue's name as routing key): replay reads it back.
      await publishConfirmed(channel, DEAD_LETTER_EXCHANGE, type, msg.content, {
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

function deferralsOf(msg: ConsumeMessage): number {
  const value = Number(msg.properties.headers?.[DEFERRALS_HEADER]);
  return Number.isInteger(value) && value >= 0 ? value : 0;
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

/**
 * Publishes and resolves on the broker's confirm, waiting for `drain` when
 * the socket buffer is full. Rejects when the channel closes first (amqplib
 * then emits no `drain`, and rejects the confirm, which must not go unhandled).
 */
export async function publishConfirmed(channel: ConfirmChannel, exchange: string, routingKey: string, content: Buffer, options: Options.Publish): Promise<void> {
  let flushed = true;
  const confirmed = new Promise<void>((resolve, reject) => {
    flushed = channel.publish(exchange, routingKey, content, options, (err) => (err ? reject(err instanceof Error ? err : new Error('publish nacked by the broker')) : resolve()));
  });
  confirmed.catch(() => undefined); // awaited below; handled here in case the drain wait throws first
  if (!flushed) await drainedOrClosed(channel);
  await confirmed;
}

function drainedOrClosed(channel: ConfirmChannel): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      channel.off('drain', onDrain);
      channel.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('channel closed before its buffer drained'));
    channel.on('drain', onDrain);
    channel.on('close', onClose);
  });
}

/** Acks on a channel that has since closed throw; the broker redelivers those messages anyway. */
function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // channel already closed
  }
}
