import {
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type RateLimiterAbstract,
} from "rate-limiter-flexible";
import type { RedisClient } from "@noa/kit";

/**
 * Distributed rate limits for the gateway, shared by every replica through
 * Redis Cluster, with a local fallback while Redis is unreachable.
 *
 * Keys: `<prefix>:<limiter>:{<subject>}`. Every operation touches one key, so
 * a cluster never sees a cross-slot command; the hash tag on the subject (the
 * client IP or account) keeps all of one client's counters on one slot, which
 * keeps a future pipelined check of several limiters legal on a cluster.
 */

/** Which backing store made a decision. */
export type LimiterStore = "redis" | "memory";

/** Called when the limiters switch between Redis and the local fallback. */
export interface StoreStateListener {
  (state: LimiterStore, error?: unknown): void;
}

/** Why one decision was made by the local fallback. */
export type FallbackReason = "unavailable" | "timeout";

/**
 * Tracks whether the limiters are served by Redis or by the local fallback,
 * and reports each transition once (not once per request). Every decision
 * still uses whichever store answered it; only the reported state is damped:
 *
 * - An unavailable client (not connected, connection refused, a slot's
 *   master down) switches to the fallback at once. A slow answer only makes
 *   that one decision local; the state switches when no Redis answer has
 *   arrived for `sustainedTimeoutMs`, so a loaded but working cluster does
 *   not flap the state (and the log) with every late reply.
 * - Back to Redis only after `recoveryMs` of answers without a failure, so a
 *   partial outage (some slots answering, some not, as during a failover)
 *   reads as one degraded period, not a transition per request.
 *
 * A node that let a command time out (hung, rather than refusing
 * connections) is left alone for `suspendMs`: decisions for keys it serves
 * go straight to the fallback instead of each waiting out the timeout. Then
 * one decision tries it again while the others keep to the fallback (another
 * `suspendMs`), and an answer lifts the suspension. Other nodes' keys are
 * unaffected.
 */
export class StoreState {
  private current: LimiterStore = "redis";
  private lastError: string | undefined;
  private failingSince: number | undefined;
  private answeringSince: number | undefined;
  /** Node → `Date.now()` until which it is not asked. */
  private readonly suspendedUntil = new Map<string, number>();

  constructor(
    private readonly listener: StoreStateListener,
    /** Called for every decision the fallback makes (for a metric). */
    private readonly onFallbackDecision: (reason: FallbackReason) => void = () => {},
    private readonly sustainedTimeoutMs = 1000,
    private readonly recoveryMs = 1000,
    /** The Redis node that serves a key (kit `redisNodeOf`); by default all keys share one. */
    private readonly nodeOf: (key: string) => string = () => "redis",
    private readonly suspendMs = 1000,
  ) {}

  /**
   * True while the node serving `key` is suspended after a timeout; the
   * decision is then the fallback's, counted as a timeout. When the
   * suspension ends, this decision is the one that tries the node again: the
   * suspension is renewed for the others until it answers (`redisAnswered`)
   * or times out again.
   */
  skipsRedis(key: string): boolean {
    if (this.suspendedUntil.size === 0) return false;
    const node = this.nodeOf(key);
    const until = this.suspendedUntil.get(node);
    if (until === undefined) return false;
    const now = Date.now();
    if (now >= until) {
      this.suspendedUntil.set(node, now + this.suspendMs);
      return false;
    }
    this.redisFailed(SUSPENDED);
    return true;
  }

  /** The store currently in charge. */
  get store(): LimiterStore {
    return this.current;
  }

  /** The error that caused the current fallback, if degraded. */
  get reason(): string | undefined {
    return this.current === "memory" ? this.lastError : undefined;
  }

  /** A Redis call answered; `key` lifts its node's suspension, if any. */
  redisAnswered(key?: string): void {
    if (key !== undefined && this.suspendedUntil.size > 0) this.suspendedUntil.delete(this.nodeOf(key));
    this.failingSince = undefined;
    if (this.current === "redis") return;
    const now = Date.now();
    this.answeringSince ??= now;
    if (now - this.answeringSince < this.recoveryMs) return;
    this.current = "redis";
    this.lastError = undefined;
    this.answeringSince = undefined;
    this.listener("redis");
  }

  /** A Redis call failed; `key` names the node to suspend when it timed out. */
  redisFailed(error: unknown, key?: string): void {
    const timedOut = error instanceof RedisTimeoutError;
    if (timedOut && key !== undefined) this.suspendedUntil.set(this.nodeOf(key), Date.now() + this.suspendMs);
    this.onFallbackDecision(timedOut ? "timeout" : "unavailable");
    this.answeringSince = undefined;
    if (this.current === "memory") return;
    const now = Date.now();
    this.failingSince ??= now;
    if (timedOut && now - this.failingSince < this.sustainedTimeoutMs) return;
    this.current = "memory";
    this.lastError = error instanceof Error ? error.message : String(error);
    this.listener("memory", error);
  }
}

/** Rejects after `ms` so a hung Redis node cannot hold a request. */
export class RedisTimeoutError extends Error {
  constructor(ms: number) {
    super(`rate limit store did not answer within ${ms} ms`);
    this.name = "RedisTimeoutError";
  }
}

/** A decision not asked of a node suspended after a timeout (counts as a timeout). */
const SUSPENDED = Object.assign(new RedisTimeoutError(0), { message: "rate limit store node suspended after a timeout" });

// One promise and one timer per call (this runs on every request): Promise.race plus
// .finally would allocate three promises and chain two extra microtask hops.
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new RedisTimeoutError(ms)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** The outcome of one limiter operation, whichever store answered. */
export interface LimitResult {
  /** True when the request is over the limit. */
  limited: boolean;
  /** Points allowed per window by this limiter. */
  limit: number;
  /** Points consumed in the current window (after this request). */
  consumed: number;
  /** Points left in the current window. */
  remaining: number;
  /** Milliseconds until the window resets. */
  msBeforeReset: number;
  /** The store that answered. */
  store: LimiterStore;
}

/** Settings of one resilient limiter. */
export interface ResilientLimiterOptions {
  /** Redis Cluster client shared by all limiters. */
  redis: RedisClient;
  /** Key namespace of this limiter (e.g. `gw:api`). */
  keyPrefix: string;
  /** Points allowed per window. */
  points: number;
  /** Window length in seconds. */
  durationSeconds: number;
  /**
   * Divisor applied to `points` in the local fallback: with N gateway replicas
   * each enforcing its own in-memory counter, points / N per replica keeps the
   * fleet-wide limit near the configured one. Default 1.
   */
  fallbackDivisor?: number;
  /** Maximum wait for Redis before falling back, in milliseconds. */
  redisTimeoutMs: number;
  /** Shared store-state tracker. */
  state: StoreState;
  /**
   * Most tokens `consumeLeased` takes from Redis in one round trip (see
   * `consumeLeased`). 1, the default, leases nothing ahead.
   */
  maxLease?: number;
  /** Called for every lease round trip to Redis, with the tokens asked for (for a metric). */
  onLease?: (size: number) => void;
}

/**
 * Tokens of one subject that this replica leased from the shared Redis
 * counter and has not spent yet, for the current window.
 */
export interface Lease {
  /** `Date.now()` at which the Redis window ends; unspent tokens end with it. */
  resetAt: number;
  /** Leased tokens not yet spent here. */
  tokens: number;
  /** The shared counter after the last lease: every replica's consumption so far. */
  counter: number;
  /** Tokens asked for in the last lease. */
  size: number;
  /** Tokens leased in the current window (spent = taken − tokens). */
  taken: number;
  /** Tokens spent here in the window just before this one (0 if there was a gap). */
  previousSpent: number;
  /** Rejections answered here since Redis reported the window used up. */
  rejectedLocally: number;
  /** Redis reported the window used up: the rest of it is answered here. */
  exhausted: boolean;
}

/**
 * Takes up to ARGV[1] tokens from a fixed-window counter of ARGV[2] points
 * that lasts ARGV[3] ms: never more than the window has left, so leases
 * can never add up to more than the limit. A request once the window is used
 * up still counts 1 (a rejection), as a plain consume would, so the first
 * rejection of a window is the one that reads limit + 1. A window with
 * less than 2 ms left is ended at once (the next one starts now): a batch
 * taken from it would be lost before it could be spent.
 * Returns { counter after, tokens taken, ms until the window ends }.
 * Same key and value layout as rate-limiter-flexible's RateLimiterRedis.
 */
const LEASE_SCRIPT = `
local left = redis.call('PTTL', KEYS[1])
if left >= 0 and left < 2 then redis.call('DEL', KEYS[1]) end
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local room = tonumber(ARGV[2]) - current
local take = 1
if room > 1 then take = math.min(tonumber(ARGV[1]), room) end
local counter = redis.call('INCRBY', KEYS[1], take)
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  ttl = tonumber(ARGV[3])
end
return {counter, take, ttl}
`;

const LEASE_COMMAND = "noaRateLimitLease";

interface LeaseClient {
  [LEASE_COMMAND](key: string, size: number, points: number, durationMs: number): Promise<[number, number, number]>;
}

/**
 * How many tokens a replica asks for in its next lease of a subject, from
 * what it has seen of that subject; never more than `maxLease`.
 *
 * - A subject it has not seen (or not for a whole window): 1.
 * - Within a window: the tokens the subject's rate since the window began
 *   will spend before the window ends, but at most twice the last batch (or
 *   what it spent in the window before, if more). A sudden burst ramps up
 *   1, 2, 4, … instead of taking `maxLease` on its second request, and a
 *   batch that runs out just before the window ends asks for the few
 *   requests left, not for a batch mostly lost.
 * - A new window right after the last: what this replica spent in the last
 *   one, so a steady client costs one round trip per window when that fits
 *   in `maxLease`.
 *
 * Asking for less than will be spent costs another round trip; asking for
 * more holds tokens that other replicas could have used.
 */
export function leaseSize(
  lease: Pick<Lease, "resetAt" | "tokens" | "size" | "taken" | "previousSpent"> | undefined,
  now: number,
  windowMs: number,
  maxLease: number,
): number {
  if (lease === undefined) return 1;
  const spent = lease.taken - lease.tokens;
  if (now < lease.resetAt) {
    const elapsed = Math.max(1, windowMs - (lease.resetAt - now));
    const expected = Math.ceil((spent / elapsed) * (lease.resetAt - now));
    return Math.max(1, Math.min(maxLease, Math.max(lease.size * 2, lease.previousSpent), expected));
  }
  if (now - lease.resetAt >= windowMs) return 1;
  return Math.max(1, Math.min(maxLease, spent));
}

/** Leases kept per limiter at most; past it, new subjects are not remembered (each request asks Redis). */
const MAX_LEASES = 100_000;

/**
 * A Redis Cluster limiter with an in-memory insurance limiter.
 *
 * This is rate-limiter-flexible's `insuranceLimiter` idea, wired by hand so
 * the gateway knows *when* it is degraded: it logs each transition once,
 * reports it in `/health/ready` and counts fallback decisions. While the
 * client is not `ready` (`rejectIfRedisNotReady`), requests go straight to
 * the local limiter instead of queueing in ioredis' offline queue.
 */
export class ResilientLimiter {
  readonly points: number;
  readonly durationSeconds: number;
  private readonly redisLimiter: RateLimiterRedis;
  private readonly memoryLimiter: RateLimiterMemory;
  private readonly redisTimeoutMs: number;
  private readonly state: StoreState;
  private readonly redis: RedisClient;
  private readonly keyPrefix: string;
  private readonly maxLease: number;
  private readonly onLease: (size: number) => void;
  private readonly leases = new Map<string, Lease>();
  private readonly windowMs: number;
  private nextSweepAt = 0;

  constructor(options: ResilientLimiterOptions) {
    this.points = options.points;
    this.durationSeconds = options.durationSeconds;
    this.windowMs = options.durationSeconds * 1000;
    this.redisTimeoutMs = options.redisTimeoutMs;
    this.state = options.state;
    this.redis = options.redis;
    this.keyPrefix = options.keyPrefix;
    this.maxLease = Math.max(1, Math.floor(options.maxLease ?? 1));
    this.onLease = options.onLease ?? (() => {});
    if (this.maxLease > 1 && typeof (options.redis as unknown as Partial<LeaseClient>)[LEASE_COMMAND] !== "function") {
      options.redis.defineCommand(LEASE_COMMAND, { numberOfKeys: 1, lua: LEASE_SCRIPT });
    }
    this.redisLimiter = new RateLimiterRedis({
      storeClient: options.redis,
      keyPrefix: options.keyPrefix,
      points: options.points,
      duration: options.durationSeconds,
      rejectIfRedisNotReady: true,
    });
    this.memoryLimiter = new RateLimiterMemory({
      keyPrefix: options.keyPrefix,
      points: Math.max(1, Math.floor(options.points / (options.fallbackDivisor ?? 1))),
      duration: options.durationSeconds,
    });
  }

  /** Consumes `points` for `subject`; never throws for a rejection. */
  consume(subject: string, points = 1): Promise<LimitResult> {
    return this.run(subject, (limiter, key) => limiter.consume(key, points));
  }

  /**
   * Consumes one point for `subject`, spending a token this replica leased
   * from Redis earlier when it has one, and otherwise leasing a batch in one
   * round trip, sized by the subject's demand on this replica (see
   * `leaseSize`: 1 for a subject it has not seen; within a window, what the
   * rate so far will spend before the window ends, at most twice the last
   * batch; a new window, what this replica spent in the last one), never
   * more than `maxLease`.
   *
   * The limit still holds across every replica: a lease never takes more
   * than the window has left, so all replicas together admit at most
   * `points` per window. What a replica leased and did not spend by the end
   * of the window is lost, so near the limit a client can get up to
   * (maxLease − 1) fewer requests per replica it reaches. Once Redis reports
   * the window used up, the replica answers the rest of it locally, so a
   * flood of rejected requests costs Redis nothing. With `maxLease` 1 every
   * request goes to Redis, exactly like `consume`.
   */
  consumeLeased(subject: string): LimitResult | Promise<LimitResult> {
    if (this.maxLease <= 1) return this.consume(subject);
    const key = tag(subject);
    const lease = this.leases.get(key);
    if (lease !== undefined && Date.now() < lease.resetAt) {
      // Decided here, synchronously: no promise on the path most requests take.
      if (lease.tokens > 0) {
        lease.tokens--;
        return this.leaseResult(lease, false);
      }
      if (lease.exhausted) {
        lease.rejectedLocally++;
        return this.leaseResult(lease, true);
      }
    }
    return this.leaseFromRedis(key, lease);
  }

  private async leaseFromRedis(key: string, lease: Lease | undefined): Promise<LimitResult> {
    if (this.state.skipsRedis(key)) return this.fromMemory(this.memoryLimiter.consume(key, 1));
    const size = leaseSize(lease, Date.now(), this.windowMs, this.maxLease);
    let reply: [number, number, number];
    try {
      this.onLease(size);
      reply = await withTimeout(this.lease(key, size), this.redisTimeoutMs);
      this.state.redisAnswered(key);
    } catch (error) {
      this.state.redisFailed(error, key);
      return this.fromMemory(this.memoryLimiter.consume(key, 1));
    }
    const [counter, taken, ttl] = reply;
    const now = Date.now();
    const windowEnd = now + ttl;
    lease = this.leases.get(key);
    if (lease !== undefined && windowEnd < lease.resetAt - this.windowMs / 2) {
      // A late answer from a window this replica has already left: the request was counted
      // there, but its tokens must not be spent in the current window.
      const limited = counter > this.points;
      return { limited, limit: this.points, consumed: counter, remaining: Math.max(0, this.points - counter), msBeforeReset: ttl, store: "redis" };
    }
    if (lease === undefined || now >= lease.resetAt || windowEnd > lease.resetAt + this.windowMs / 2) {
      // A new window (tokens still held from the last one end with it).
      this.sweep(now);
      const previousSpent = lease !== undefined && now - lease.resetAt < this.windowMs ? lease.taken - lease.tokens : 0;
      lease = { resetAt: 0, tokens: 0, counter: 0, size, taken: 0, previousSpent, rejectedLocally: 0, exhausted: false };
      if (this.leases.size < MAX_LEASES) this.leases.set(key, lease);
    }
    lease.resetAt = windowEnd;
    lease.counter = Math.max(lease.counter, counter);
    lease.size = size;
    if (counter > this.points) {
      // The window is used up (this request was counted as a rejection); any tokens still held are spent first.
      lease.exhausted = true;
      if (lease.tokens === 0) return { limited: true, limit: this.points, consumed: counter, remaining: 0, msBeforeReset: ttl, store: "redis" };
      lease.tokens--;
      // The rejection Redis counted went to a request served from a held token, so the first
      // rejection answered here reports it (consumed = counter): if it was the window's first, that is the offence.
      lease.rejectedLocally = -1;
      return this.leaseResult(lease, false);
    }
    // Tokens that arrive while others are held (two requests leasing at once) add up.
    lease.taken += taken;
    lease.tokens += taken - 1;
    return this.leaseResult(lease, false);
  }

  /** Returns points (e.g. a successful login gives its attempt back). */
  reward(subject: string, points = 1): Promise<LimitResult> {
    return this.run(subject, (limiter, key) => limiter.reward(key, points));
  }

  /** Holds `subject` over the limit for `seconds`, whatever its count. */
  block(subject: string, seconds: number): Promise<LimitResult> {
    return this.run(subject, (limiter, key) => limiter.block(key, seconds));
  }

  /** Current counter for `subject` without consuming, or undefined if none. */
  async peek(subject: string): Promise<LimitResult | undefined> {
    const key = tag(subject);
    if (!this.state.skipsRedis(key)) {
      try {
        const res = await withTimeout(this.redisLimiter.get(key), this.redisTimeoutMs);
        this.state.redisAnswered(key);
        return res ? this.result(res, false, "redis") : undefined;
      } catch (error) {
        this.state.redisFailed(error, key);
      }
    }
    const res = await this.memoryLimiter.get(key);
    return res ? this.result(res, false, "memory") : undefined;
  }

  /** Forgets `subject` (e.g. an account after a successful login). */
  async reset(subject: string): Promise<void> {
    const key = tag(subject);
    await this.memoryLimiter.delete(key);
    try {
      await withTimeout(this.redisLimiter.delete(key), this.redisTimeoutMs);
      this.state.redisAnswered(key);
    } catch (error) {
      this.state.redisFailed(error);
    }
  }

  private lease(key: string, size: number): Promise<[number, number, number]> {
    if (this.redis.status !== "ready") return Promise.reject(new Error("Redis connection is not ready"));
    return (this.redis as unknown as LeaseClient)[LEASE_COMMAND](`${this.keyPrefix}:${key}`, size, this.points, this.durationSeconds * 1000);
  }

  /** A decision from leased tokens: consumed = the shared counter less what this replica still holds. */
  private leaseResult(lease: Lease, limited: boolean): LimitResult {
    const consumed = limited ? lease.counter + lease.rejectedLocally : lease.counter - lease.tokens;
    return {
      limited,
      limit: this.points,
      consumed,
      remaining: Math.max(0, this.points - consumed),
      msBeforeReset: Math.max(0, lease.resetAt - Date.now()),
      store: "redis",
    };
  }

  /**
   * Drops leases whose window ended a whole window length ago, at most once
   * per window length. A lease stays one window past its end, so a client
   * that keeps sending starts its next window with its last window's demand.
   */
  private sweep(now: number): void {
    if (now < this.nextSweepAt) return;
    this.nextSweepAt = now + this.windowMs;
    for (const [key, lease] of this.leases) if (now - lease.resetAt >= this.windowMs) this.leases.delete(key);
  }

  /** A decision of the local fallback limiter (rate-limiter-flexible rejects with the result when over the limit). */
  private async fromMemory(pending: Promise<RateLimiterRes>): Promise<LimitResult> {
    try {
      return this.result(await pending, false, "memory");
    } catch (memoryError) {
      if (memoryError instanceof RateLimiterRes) return this.result(memoryError, true, "memory");
      throw memoryError;
    }
  }

  private async run(
    subject: string,
    op: (limiter: RateLimiterAbstract, key: string) => Promise<RateLimiterRes>,
  ): Promise<LimitResult> {
    const key = tag(subject);
    if (this.state.skipsRedis(key)) return this.fromMemory(op(this.memoryLimiter, key));
    try {
      const res = await withTimeout(op(this.redisLimiter, key), this.redisTimeoutMs);
      this.state.redisAnswered(key);
      return this.result(res, false, "redis");
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        this.state.redisAnswered(key);
        return this.result(error, true, "redis");
      }
      this.state.redisFailed(error, key);
      return this.fromMemory(op(this.memoryLimiter, key));
    }
  }

  private result(res: RateLimiterRes, limited: boolean, store: LimiterStore): LimitResult {
    const limit = store === "redis" ? this.points : this.memoryLimiter.points;
    return {
      limited,
      limit,
      consumed: res.consumedPoints,
      remaining: Math.max(0, limit - res.consumedPoints),
      msBeforeReset: Math.max(0, res.msBeforeNext),
      store,
    };
  }
}

/** Wraps a subject in a Redis Cluster hash tag; braces inside are dropped so the tag stays whole. */
export function tag(subject: string): string {
  return `{${subject.replace(/[{}]/g, "")}}`;
}
