import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { redisNodeOf, redisRetryDelay, type RedisClient } from './redis.js';

/**
 * A per-process copy of hot Redis entries that Redis itself keeps honest:
 * server-assisted client-side caching (Redis 6+ `CLIENT TRACKING`, broadcast
 * mode).
 *
 * For every node whose keys it caches, the near cache keeps one connection of
 * its own that has asked the node to report every change to a key under
 * `prefix` (`CLIENT TRACKING ON BCAST PREFIX <prefix> REDIRECT <itself>`) and
 * listens for the reports (`__redis__:invalidate`). Any write to such a key —
 * by any replica of any service, a fill, an invalidation, an expiry, a
 * FLUSHALL — is reported by the node while it runs the write, so every
 * process drops its copy within a network hop of the write; a copy is never
 * served after the node has acknowledged a change to it plus that hop.
 *
 * What makes that hold:
 * - Reports and replies on one connection arrive in order, so a PONG proves
 *   that every report of a write Redis ran before that PING has arrived.
 *   Each tracking connection PINGs every `pingIntervalMs`, and an entry is
 *   served only while its node's last PONG answers a PING sent within
 *   `maxSilenceMs`: a connection that stops delivering (a partition, a hung
 *   node) stops the serving within that budget, before anything notices it
 *   is gone; a PING unanswered for a second reconnects it.
 * - An entry is served only while the tracking connection it was read under
 *   is still the live one (an epoch per connection): a connection that closes
 *   drops every entry of its node at once, and nothing is cached for that
 *   node until tracking is confirmed again on the new one. A key whose slot
 *   has another master in the client's slot map than the one it was read
 *   from is not served either.
 * - A read that an invalidation of its key overtook is not stored (the
 *   report and the reply travel on different connections): {@link read}
 *   counts the reads in flight per key and refuses to store any of them once
 *   the key was invalidated while they were.
 * - `ttlMs` bounds what no report covers: slots moved between two masters
 *   that are both alive (a resharding) while this client's slot map is not
 *   yet refreshed, and a key past its Redis TTL that Redis has not deleted
 *   yet (Redis reports an expiry when it deletes the key).
 *
 * Values are strings as Redis returned them; `maxEntries` bounds memory
 * (oldest first out).
 */
export interface NearCacheArgs {
  /** The data client the values are read with (Cluster, or a single node locally). */
  redis: RedisClient;
  /** Only keys starting with this are tracked and cached (e.g. `user:`). */
  prefix: string;
  /** Entries kept at most (default 10,000); the oldest go first. */
  maxEntries?: number;
  /** Longest an entry is served without a new read from Redis (default 5,000 ms). */
  ttlMs?: number;
  /** Interval of the tracking connections' PING (default 100 ms). */
  pingIntervalMs?: number;
  /** Entries of a node are served only while its last PONG answers a PING sent within this (default 300 ms). */
  maxSilenceMs?: number;
  logger: Logger;
}

export interface NearCacheStats {
  entries: number;
  /** Tracking state per node address: `tracking` once Redis confirmed it. */
  nodes: Record<string, 'tracking' | 'connecting'>;
}

export interface NearCache {
  /**
   * The value of `key`: from this process when it holds a live copy, else
   * from `fetch` (a read from Redis), whose answer is kept for the next
   * caller unless it is `null` or an invalidation may have overtaken it.
   * `source` says where the value came from.
   */
  read(key: string, fetch: () => Promise<string | null>): Promise<{ value: string | null; source: 'near' | 'redis' }>;
  /** Drops this process's copy of `key` (a write here; the other processes hear of it from Redis). */
  delete(key: string): void;
  stats(): NearCacheStats;
  /** Closes the tracking connections and drops every entry. */
  close(): Promise<void>;
}

const INVALIDATE_CHANNEL = '__redis__:invalidate';

interface Entry {
  value: string;
  node: string;
  epoch: number;
  expiresAt: number;
}

/** How a tracking connection reaches its node: the data client's own credentials and TLS settings. */
interface NodeOptions {
  username?: string;
  password?: string;
  tls?: RedisOptions['tls'];
}

/** One node's tracking connection. `epoch` changes whenever its copies stop being trustworthy. */
class Tracker {
  epoch = 0;
  active = false;
  /** When (performance.now()) the PING whose PONG came last was sent: every report of an earlier write has arrived. */
  confirmedAt = -Infinity;
  private readonly conn: Redis;
  private readonly ping: NodeJS.Timeout;
  private pingInFlight = false;
  /** Bumped whenever the connection closes: replies to commands sent on an older connection are ignored. */
  private generation = 0;
  /** Tracking set-ups that failed since tracking was last confirmed (sets the reconnect back-off). */
  private failures = 0;
  private closed = false;

  constructor(
    readonly address: string,
    private readonly prefix: string,
    node: NodeOptions,
    pingIntervalMs: number,
    private readonly onInvalidate: (tracker: Tracker, keys: Buffer[] | null) => void,
    private readonly onLost: (tracker: Tracker, why: string) => void,
    private readonly log: Logger,
  ) {
    const separator = address.lastIndexOf(':');
    this.conn = new Redis({
      host: address.slice(0, separator),
      port: Number(address.slice(separator + 1)),
      username: node.username,
      password: node.password,
      tls: node.tls,
      connectionName: 'noa-near-cache',
      connectTimeout: 2_000,
      commandTimeout: 1_000,
      // Subscriptions and tracking are set up by hand on every 'ready', on that connection only:
      // a command resent on a new connection would confirm tracking that connection never enabled.
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      // No INFO ready check: it has no timeout, so a connection that opens and never answers would hang
      // there for good; the tracking commands below time out (commandTimeout) and reconnect instead.
      enableReadyCheck: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // 'ready' resets ioredis' own attempt count on every connect (no ready check), so a node that
      // accepts connections and refuses tracking (an ACL, a proxy) would be retried every 50 ms:
      // back off on the failures counted here instead, until tracking is confirmed.
      retryStrategy: (attempt) => Math.max(redisRetryDelay(attempt), this.failures === 0 ? 0 : Math.min(1_000 * 2 ** (this.failures - 1), 30_000)),
    });
    this.conn.on('ready', () => void this.track(this.generation));
    this.conn.on('close', () => {
      this.generation++;
      this.pingInFlight = false;
      this.lost('tracking connection closed');
    });
    this.conn.on('error', (error: Error) => this.log.debug({ node: address, err: { message: error.message } }, 'near cache: tracking connection error'));
    this.conn.on('messageBuffer', (channel: Buffer, message: Buffer[] | null) => {
      if (this.active && channel.toString() === INVALIDATE_CHANNEL) this.onInvalidate(this, message);
    });
    this.ping = setInterval(() => this.sendPing(), pingIntervalMs);
    this.ping.unref();
  }

  private sendPing(): void {
    if (!this.active || this.pingInFlight) return;
    const generation = this.generation;
    const sentAt = performance.now();
    this.pingInFlight = true;
    this.conn.ping().then(
      () => {
        if (generation !== this.generation) return;
        this.pingInFlight = false;
        this.confirmedAt = sentAt;
      },
      (error: Error) => {
        if (generation !== this.generation) return;
        this.pingInFlight = false;
        this.lost(`PING failed: ${error.message}`);
        // Reconnects (retryStrategy); 'ready' tracks again.
        if (!this.closed) this.conn.disconnect(true);
      },
    );
  }

  private async track(generation: number): Promise<void> {
    const current = () => generation === this.generation && !this.closed;
    try {
      const sentAt = performance.now();
      const id = await this.conn.client('ID');
      if (!current()) return;
      await this.conn.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(id), 'BCAST', 'PREFIX', this.prefix);
      if (!current()) return;
      await this.conn.subscribe(INVALIDATE_CHANNEL);
      if (!current()) return;
      this.epoch++;
      this.confirmedAt = sentAt;
      this.active = true;
      this.failures = 0;
      this.log.info({ node: this.address, prefix: this.prefix }, 'near cache: tracking confirmed; caching this node\'s keys');
    } catch (error) {
      if (!current()) return;
      this.failures++;
      // Once per outage at warn level; the retries (backing off to 30 s) at debug.
      this.log[this.failures === 1 ? 'warn' : 'debug'](
        { node: this.address, failures: this.failures, err: { message: (error as Error).message } },
        'near cache: could not enable tracking; not caching this node\'s keys',
      );
      this.conn.disconnect(true);
    }
  }

  private lost(why: string): void {
    if (!this.active) return;
    this.active = false;
    this.epoch++;
    this.onLost(this, why);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.ping);
    this.active = false;
    this.epoch++;
    this.conn.disconnect();
  }
}

export function createNearCache(args: NearCacheArgs): NearCache {
  const { redis, prefix, logger } = args;
  const maxEntries = args.maxEntries ?? 10_000;
  const ttlMs = args.ttlMs ?? 5_000;
  const pingIntervalMs = args.pingIntervalMs ?? 100;
  const maxSilenceMs = args.maxSilenceMs ?? 300;
  if (!prefix) throw new Error('createNearCache: prefix must not be empty (every key would be tracked)');
  if (!(pingIntervalMs > 0 && maxSilenceMs > pingIntervalMs)) {
    throw new Error(`createNearCache: maxSilenceMs (${maxSilenceMs}) must be longer than pingIntervalMs (${pingIntervalMs}), which must be positive`);
  }
  if (!(maxEntries >= 1)) throw new Error(`createNearCache: maxEntries must be at least 1 (got ${maxEntries})`);
  if (!(ttlMs > 0)) throw new Error(`createNearCache: ttlMs must be positive (got ${ttlMs})`);
  const log = logger.child({ component: 'near-cache' });

  const entries = new Map<string, Entry>();
  const trackers = new Map<string, Tracker>();
  /**
   * Reads in flight per key, and for such keys the sequence number of their
   * last invalidation: a read may store only if none came after it started
   * (so a hot key with reads always in flight is cached again at once).
   */
  const inFlight = new Map<string, number>();
  const invalidatedAt = new Map<string, number>();
  let sequence = 0;
  let closed = false;

  // The data client may prefix its keys (ioredis `keyPrefix`): Redis tracks and reports the full keys.
  const keyPrefix = (redis.options as { keyPrefix?: string }).keyPrefix ?? '';
  const single = redis instanceof Cluster ? undefined : `${(redis as Redis).options.host ?? '127.0.0.1'}:${(redis as Redis).options.port ?? 6379}`;
  // The tracking connections log in and encrypt as the data client's node connections do.
  const nodeOptions: RedisOptions = (redis instanceof Cluster ? redis.options.redisOptions : redis.options) ?? {};
  const node: NodeOptions = { username: nodeOptions.username, password: nodeOptions.password, tls: nodeOptions.tls };
  /** The address of the master that serves `key` in the client's slot map (undefined before the map is loaded). */
  const nodeOf = (key: string): string | undefined => {
    if (single !== undefined) return single;
    const node = redisNodeOf(redis, keyPrefix + key);
    return node === 'unknown' ? undefined : node;
  };

  const forget = (key: string) => {
    entries.delete(key);
    if (inFlight.has(key)) invalidatedAt.set(key, ++sequence);
  };
  const onInvalidate = (tracker: Tracker, keys: Buffer[] | null) => {
    if (keys === null) {
      // FLUSHALL/FLUSHDB on the node: everything read from it is void, and so is every read in flight.
      tracker.epoch++;
      dropNode(tracker.address);
      return;
    }
    for (const key of keys) {
      const full = key.toString();
      if (full.startsWith(keyPrefix)) forget(full.slice(keyPrefix.length));
    }
  };
  const dropNode = (address: string) => {
    for (const [key, entry] of entries) if (entry.node === address) entries.delete(key);
  };
  const onLost = (tracker: Tracker, why: string) => {
    dropNode(tracker.address);
    if (!closed) log.warn({ node: tracker.address, reason: why }, 'near cache: tracking lost; dropped this node\'s entries and reading Redis until it is back');
  };
  const trackerFor = (address: string): Tracker => {
    let tracker = trackers.get(address);
    if (tracker === undefined) {
      tracker = new Tracker(address, keyPrefix + prefix, node, pingIntervalMs, onInvalidate, onLost, log);
      trackers.set(address, tracker);
    }
    return tracker;
  };
  const closeTracker = (address: string) => {
    const tracker = trackers.get(address);
    if (tracker === undefined) return;
    trackers.delete(address);
    tracker.close();
    dropNode(address);
  };
  // A node that left the cluster, or is no longer a master in the slot map (failover), needs no
  // tracking; its entries are already unservable (the slot check in lookup).
  const onNodeRemoved = (removed: Redis) => closeTracker(`${removed.options.host}:${removed.options.port}`);
  const onRefresh = () => {
    const masters = new Set((redis as Cluster).slots.map((owners) => owners?.[0]));
    for (const address of [...trackers.keys()]) if (!masters.has(address)) closeTracker(address);
  };
  if (redis instanceof Cluster) {
    redis.on('-node', onNodeRemoved);
    redis.on('refresh', onRefresh);
  }

  function lookup(key: string, node: string | undefined): string | undefined {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    const tracker = trackers.get(entry.node);
    const now = performance.now();
    if (entry.node !== node || tracker === undefined || !tracker.active || tracker.epoch !== entry.epoch || now >= entry.expiresAt) {
      entries.delete(key);
      return undefined;
    }
    // Silent for too long: reports may be stuck on the way. Kept, and served again once a PONG catches up.
    if (now - tracker.confirmedAt > maxSilenceMs) return undefined;
    return entry.value;
  }

  return {
    async read(key, fetch) {
      if (closed || !key.startsWith(prefix)) return { value: await fetch(), source: 'redis' };
      const node = nodeOf(key);
      const near = lookup(key, node);
      if (near !== undefined) return { value: near, source: 'near' };
      const tracker = node === undefined ? undefined : trackerFor(node);
      if (tracker === undefined || !tracker.active) return { value: await fetch(), source: 'redis' };
      // Tracking is live for the node now: any change to the key from here on is reported.
      const epoch = tracker.epoch;
      inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
      const startedAt = ++sequence;
      try {
        const value = await fetch();
        if (value !== null && !closed && (invalidatedAt.get(key) ?? 0) < startedAt && tracker.active && tracker.epoch === epoch && nodeOf(key) === node) {
          if (entries.size >= maxEntries && !entries.has(key)) entries.delete(entries.keys().next().value!);
          entries.set(key, { value, node: node!, epoch, expiresAt: performance.now() + ttlMs });
        }
        return { value, source: 'redis' };
      } finally {
        const left = inFlight.get(key)! - 1;
        if (left === 0) {
          inFlight.delete(key);
          invalidatedAt.delete(key);
        } else {
          inFlight.set(key, left);
        }
      }
    },
    delete: forget,
    stats() {
      const nodes: NearCacheStats['nodes'] = {};
      for (const [address, tracker] of trackers) nodes[address] = tracker.active ? 'tracking' : 'connecting';
      return { entries: entries.size, nodes };
    },
    async close() {
      closed = true;
      if (redis instanceof Cluster) {
        redis.off('-node', onNodeRemoved);
        redis.off('refresh', onRefresh);
      }
      for (const tracker of trackers.values()) tracker.close();
      trackers.clear();
      entries.clear();
    },
  };
}
