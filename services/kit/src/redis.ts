/// <reference path="./cluster-key-slot.d.ts" />
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { defineCacheCommands } from './cache.js';

export type RedisClient = Cluster | Redis;

export interface RedisArgs {
  /** Seed nodes of the Redis Cluster (`REDIS_CLUSTER_NODES`); the client discovers the rest. */
  readonly clusterNodes?: ReadonlyArray<{ host: string; port: number }>;
  /** Single-node Redis URL (`REDIS_URL`), local use only. Exactly one of `clusterNodes` / `url`. */
  readonly url?: string;
  /** Redis AUTH password (`REDIS_PASSWORD`; default none). */
  readonly password?: string;
  /** Logs connection state changes. */
  readonly logger: Logger;
  /** Prefix for every key (default none). Tests use it for isolation; keep `{hash tags}` after it. */
  readonly keyPrefix?: string;
  /**
   * Queue commands while disconnected (default `false`). Off: a command during
   * an outage fails at once, so callers fall back (cache miss → database,
   * rate limiter → in-memory) instead of piling requests up behind a dead
   * connection. Turn on only for a client that must not lose writes across a
   * short reconnect and can afford to wait.
   */
  readonly enableOfflineQueue?: boolean;
  /**
   * Batch the commands issued in one event-loop turn into one write per node
   * (ioredis `enableAutoPipelining`; default `true`). Under load, a service
   * sends one command per request from many concurrent requests: batched,
   * they cost one syscall on each side instead of one each, for the client
   * and for Redis. Replies and errors still resolve per command.
   */
  readonly autoPipelining?: boolean;
  /** Per-command timeout (default 1000 ms): a node that stops answering must not hang requests. */
  readonly commandTimeoutMs?: number;
  /** TCP connect timeout per node (default 2000 ms). */
  readonly connectTimeoutMs?: number;
}

/**
 * The node that serves `key`: in a Cluster the master of the key's slot
 * (`host:port` from the client's current slot map; the slot follows a
 * `{hash tag}` as Redis does), `"unknown"` before the map is loaded, and
 * `"single"` for a lone Redis. Lets a caller treat a hung node apart from
 * the rest of the cluster.
 */
export function redisNodeOf(client: RedisClient, key: string): string {
  if (client instanceof Cluster) return client.slots[calculateSlot(key)]?.[0] ?? 'unknown';
  return 'single';
}

/** Reconnect delay: exponential from 50 ms, capped at 2 s so recovery is noticed quickly. */
export function redisRetryDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.max(0, attempt - 1), 2_000);
}

/**
 * An ioredis `Cluster` from seed nodes (every deployed environment), or a
 * single `Redis` only when `url` is given for local use. The two share the
 * command API; code that must run on the cluster uses hash-tagged keys
 * (`user:{42}:profile`) for multi-key commands and scripts.
 */
export function createRedis(args: RedisArgs): RedisClient {
  const hasNodes = args.clusterNodes !== undefined && args.clusterNodes.length > 0;
  if (hasNodes === (args.url !== undefined)) {
    throw new Error('createRedis: pass exactly one of clusterNodes or url');
  }
  const autoPipelining = args.autoPipelining ?? true;
  const nodeOptions: RedisOptions = {
    password: args.password,
    keyPrefix: args.keyPrefix,
    connectTimeout: args.connectTimeoutMs ?? 2_000,
    commandTimeout: args.commandTimeoutMs ?? 1_000,
    enableOfflineQueue: args.enableOfflineQueue ?? false,
    // One retry covers a reconnect blip; more would only stretch latency
    // during an outage that the caller's fallback handles better.
    maxRetriesPerRequest: 1,
    retryStrategy: redisRetryDelay,
    enableAutoPipelining: autoPipelining,
  };
  let client: RedisClient;
  if (hasNodes) {
    const options: ClusterOptions = {
      redisOptions: nodeOptions,
      enableOfflineQueue: args.enableOfflineQueue ?? false,
      clusterRetryStrategy: redisRetryDelay,
      // Replicas are for failover, not reads: reading from them would serve
      // stale cache entries right after an invalidation.
      scaleReads: 'master',
      slotsRefreshTimeout: 2_000,
      // Re-read the slot map now and then so a failover promoted by the
      // cluster itself is picked up even without a MOVED reply.
      slotsRefreshInterval: 30_000,
      retryDelayOnFailover: 100,
      retryDelayOnClusterDown: 200,
      maxRedirections: 16,
      enableAutoPipelining: autoPipelining,
    };
    client = new Cluster(
      args.clusterNodes!.map((n) => ({ host: n.host, port: n.port })),
      options,
    );
  } else {
    client = new Redis(args.url!, nodeOptions);
  }
  // Before any command can start an auto-pipeline (see defineCacheCommands).
  defineCacheCommands(client);
  let wasReady = false;
  client.on('ready', () => {
    args.logger.info({ redis: hasNodes ? 'cluster' : 'single' }, wasReady ? 'Redis reconnected' : 'Redis ready');
    wasReady = true;
  });
  // Errors are reported through failed commands; the listener keeps an
  // 'error' event from becoming an uncaught exception.
  client.on('error', (err: Error) => args.logger.warn({ err: { message: err.message } }, 'Redis connection error'));
  client.on('end', () => args.logger.info('Redis connection closed'));
  return client;
}

/** Resolves once the client is ready (needed with the offline queue off), or rejects after `timeoutMs`. */
export function waitForRedis(client: RedisClient, timeoutMs = 10_000): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error(`Redis not ready after ${timeoutMs} ms (status ${client.status})`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}

/** A readiness check: PING, plus the cluster's own state on a Cluster client. */
export async function checkRedis(client: RedisClient): Promise<Record<string, unknown>> {
  if (client instanceof Cluster) {
    const info = (await client.cluster('INFO')) as string;
    const state = /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown';
    if (state !== 'ok') throw new Error(`cluster_state:${state}`);
    return { mode: 'cluster', state, nodes: client.nodes('master').length };
  }
  await client.ping();
  return { mode: 'single' };
}

/** Closes the client, waiting for in-flight replies (QUIT), falling back to a hard disconnect. */
export async function closeRedis(client: RedisClient): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
