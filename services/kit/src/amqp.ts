import amqp, { type ChannelModel, type ConfirmChannel, type Options, type RecoveringChannelModel } from 'amqplib';
import type { Logger } from 'pino';

export interface AmqpArgs {
  /** `amqp://user:pass@host:5672/vhost` (`AMQP_URL`). A missing `heartbeat` query parameter is set to 15 s so a dead broker is noticed quickly. */
  readonly url: string;
  /** Logs connection state changes. */
  readonly logger: Logger;
  /** First reconnect delay (default 200 ms); doubles per attempt with jitter. */
  readonly reconnectInitialDelayMs?: number;
  /** Reconnect delay cap (default 10000 ms). */
  readonly reconnectMaxDelayMs?: number;
  /** How long `publish` waits for a connection and then for the broker's confirm (default 10000 ms). */
  readonly publishTimeoutMs?: number;
}

/** Runs on every (re)connection: declare topology, open consumer channels, start consuming. */
export type AmqpSetup = (connection: ChannelModel) => Promise<void>;

export interface AmqpClient {
  /** Resolves after the first successful connection (and its setups). */
  waitForConnect(timeoutMs?: number): Promise<void>;
  /** True while a connection is open. */
  readonly connected: boolean;
  /**
   * Registers a setup that runs now (when connected) and again after every
   * reconnect: channels do not survive a reconnect, so consumers must be
   * re-created by their setup.
   */
  onConnect(setup: AmqpSetup): Promise<void>;
  /** The shared publisher confirm channel of the current connection (created on first use). */
  confirmChannel(): Promise<ConfirmChannel>;
  /**
   * Publishes and resolves when the broker confirms (rejects on nack,
   * channel loss or timeout). Many publishes may be in flight at once —
   * awaiting each confirm before the next publish caps a publisher at ≈1–2k
   * msg/s — and when the channel's write buffer is full further publishes
   * wait for `drain`. Objects are sent as JSON; messages are persistent by
   * default. At-least-once: after a timeout or connection loss the message may
   * still have been routed, so consumers must be idempotent.
   */
  publish(exchange: string, routingKey: string, body: Buffer | string | object, options?: Options.Publish): Promise<void>;
  /** Readiness check: throws when disconnected; reports a broker flow-control block. */
  check(): Promise<Record<string, unknown>>;
  /** Waits for outstanding confirms, then closes the connection (no reconnect afterwards). */
  close(): Promise<void>;
}

/**
 * Why a confirm channel closed (e.g. 404 NOT_FOUND for a missing exchange):
 * amqplib only tells pending publish callbacks "channel closed".
 */
const channelErrors = new WeakMap<ConfirmChannel, Error>();

interface ConnectionState {
  readonly model: ChannelModel;
  confirm?: Promise<ConfirmChannel>;
  /** Set while the confirm channel's buffer is full; resolves on drain or close. */
  drained?: Promise<void>;
}

export function withHeartbeat(url: string, seconds = 15): string {
  try {
    const parsed = new URL(url);
    if (!parsed.searchParams.has('heartbeat')) parsed.searchParams.set('heartbeat', String(seconds));
    return parsed.toString();
  } catch {
    return url;
  }
}

function encode(body: Buffer | string | object): { content: Buffer; contentType?: string } {
  if (Buffer.isBuffer(body)) return { content: body };
  if (typeof body === 'string') return { content: Buffer.from(body), contentType: 'text/plain' };
  return { content: Buffer.from(JSON.stringify(body)), contentType: 'application/json' };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * An AMQP client on amqplib's connection recovery (exponential backoff with
 * jitter, retrying forever while the process runs). The process keeps
 * serving while RabbitMQ is away: publishes wait up to `publishTimeoutMs`
 * for the connection to come back, and readiness reports the outage.
 */
export function createAmqp(args: AmqpArgs): AmqpClient {
  const { logger } = args;
  const publishTimeout = args.publishTimeoutMs ?? 10_000;
  const setups: AmqpSetup[] = [];
  let state: ConnectionState | undefined;
  let latestModel: ChannelModel | undefined;
  let blocked: string | undefined;
  let closing = false;
  let firstConnect: { resolve(): void; promise: Promise<void> };
  {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    firstConnect = { resolve, promise };
  }

  const recovering: Promise<RecoveringChannelModel> = amqp.connect(withHeartbeat(args.url), {
    recovery: {
      initialDelay: args.reconnectInitialDelayMs ?? 200,
      maxDelay: args.reconnectMaxDelayMs ?? 10_000,
      factor: 2,
      jitter: 0.2,
      waitForConnect: false,
    },
  });

  void recovering.then((conn) => {
    conn.on('connect', (model: ChannelModel) => {
      latestModel = model;
      blocked = undefined;
      // Publishers see the connection only after every setup ran, so nothing
      // is published to an exchange that is not declared yet.
      void (async () => {
        for (const setup of setups) {
          try {
            await setup(model);
          } catch (err) {
            logger.error({ err }, 'RabbitMQ setup failed; closing the connection to retry');
            await model.close().catch(() => undefined);
            return;
          }
        }
        if (latestModel !== model) return; // lost again while setting up
        state = { model };
        logger.info('RabbitMQ connected');
        firstConnect.resolve();
      })();
    });
    conn.on('disconnect', (err: Error) => {
      state = undefined;
      latestModel = undefined;
      if (!closing) logger.warn({ err: { message: err.message } }, 'RabbitMQ connection lost; reconnecting');
    });
    conn.on('reconnect-scheduled', (info: { attempt: number; delay: number; error: Error }) =>
      logger.warn({ attempt: info.attempt, delayMs: info.delay, err: { message: info.error.message } }, 'RabbitMQ reconnect scheduled'),
    );
    conn.on('blocked', (reason: string) => {
      blocked = reason;
      logger.warn({ reason }, 'RabbitMQ blocked the connection (flow control)');
    });
    conn.on('unblocked', () => {
      blocked = undefined;
      logger.info('RabbitMQ unblocked the connection');
    });
    conn.on('error', (err: Error) => logger.warn({ err: { message: err.message } }, 'RabbitMQ connection error'));
  });

  async function currentState(timeoutMs: number): Promise<ConnectionState> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (closing) throw new Error('AMQP client is closed');
      if (state) return state;
      if (Date.now() >= deadline) throw new Error(`RabbitMQ not connected after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  function openConfirmChannel(current: ConnectionState): Promise<ConfirmChannel> {
    if (!current.confirm) {
      const created = current.model.createConfirmChannel().then((ch) => {
        ch.on('error', (err: Error) => {
          channelErrors.set(ch, err);
          logger.warn({ err: { message: err.message } }, 'RabbitMQ publish channel error');
        });
        ch.on('close', () => {
          // The next publish opens a fresh channel on this connection.
          if (current.confirm === created) current.confirm = undefined;
          current.drained = undefined;
        });
        return ch;
      });
      created.catch(() => {
        if (current.confirm === created) current.confirm = undefined;
      });
      current.confirm = created;
    }
    return current.confirm;
  }

  return {
    get connected() {
      return state !== undefined;
    },

    waitForConnect(timeoutMs = 30_000) {
      return withTimeout(firstConnect.promise, timeoutMs, 'RabbitMQ connect');
    },

    async onConnect(setup) {
      setups.push(setup);
      if (state) await setup(state.model);
    },

    async confirmChannel() {
      return openConfirmChannel(await currentState(publishTimeout));
    },

    async publish(exchange, routingKey, body, options) {
      const started = Date.now();
      const current = await currentState(publishTimeout);
      const channel = await openConfirmChannel(current);
      while (current.drained) await current.drained;
      const { content, contentType } = encode(body);
      const confirmed = new Promise<void>((resolve, reject) => {
        const ok = channel.publish(
          exchange,
          routingKey,
          content,
          { persistent: true, contentType, timestamp: Math.floor(Date.now() / 1000), ...options },
          (err) => {
            if (!err) return resolve();
            // Let the channel's 'error' (emitted with the close) land first.
            setImmediate(() => {
              const cause = channelErrors.get(channel);
              reject(cause ?? (err instanceof Error ? err : new Error(`RabbitMQ nacked the message: ${String(err)}`)));
            });
          },
        );
        if (!ok && !current.drained) {
          current.drained = new Promise<void>((resume) => {
            const done = () => {
              channel.off('drain', done);
              channel.off('close', done);
              current.drained = undefined;
              resume();
            };
            channel.on('drain', done);
            channel.on('close', done);
          });
        }
      });
      await withTimeout(confirmed, Math.max(1, publishTimeout - (Date.now() - started)), 'RabbitMQ publish confirm');
    },

    async check() {
      if (!state) throw new Error('not connected');
      if (blocked !== undefined) return { connected: true, blocked };
      return { connected: true };
    },

    async close() {
      if (closing) return;
      closing = true;
      const current = state;
      if (current?.confirm) {
        const channel = await current.confirm.catch(() => undefined);
        if (channel) {
          await withTimeout(channel.waitForConfirms(), 5_000, 'RabbitMQ outstanding confirms').catch(() => undefined);
        }
      }
      const conn = await recovering;
      await conn.close();
      state = undefined;
    },
  };
}
