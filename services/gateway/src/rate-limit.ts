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
 */
export class StoreState {
  private current: LimiterStore = "redis";
  private lastError: string | undefined;
  private failingSince: number | undefined;
  private answeringSince: number | undefined;

  constructor(
    private readonly listener: StoreStateListener,
    /** Called for every decision the fallback makes (for a metric). */
    private readonly onFallbackDecision: (reason: FallbackReason) => void = () => {},
    private readonly sustainedTimeoutMs = 1000,
    private readonly recoveryMs = 1000,
  ) {}

  /** The store currently in charge. */
  get store(): LimiterStore {
    return this.current;
  }

  /** The error that caused the current fallback, if degraded. */
  get reason(): string | undefined {
    return this.current === "memory" ? this.lastError : undefined;
  }

  redisAnswered(): void {
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

  redisFailed(error: unknown): void {
    const timedOut = error instanceof RedisTimeoutError;
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
}

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

  constructor(options: ResilientLimiterOptions) {
    this.points = options.points;
    this.durationSeconds = options.durationSeconds;
    this.redisTimeoutMs = options.redisTimeoutMs;
    this.state = options.state;
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
    try {
      const res = await withTimeout(this.redisLimiter.get(key), this.redisTimeoutMs);
      this.state.redisAnswered();
      return res ? this.result(res, false, "redis") : undefined;
    } catch (error) {
      this.state.redisFailed(error);
      const res = await this.memoryLimiter.get(key);
      return res ? this.result(res, false, "memory") : undefined;
    }
  }

  /** Forgets `subject` (e.g. an account after a successful login). */
  async reset(subject: string): Promise<void> {
    const key = tag(subject);
    await this.memoryLimiter.delete(key);
    try {
      await withTimeout(this.redisLimiter.delete(key), this.redisTimeoutMs);
      this.state.redisAnswered();
    } catch (error) {
      this.state.redisFailed(error);
    }
  }

  private async run(
    subject: string,
    op: (limiter: RateLimiterAbstract, key: string) => Promise<RateLimiterRes>,
  ): Promise<LimitResult> {
    const key = tag(subject);
    try {
      const res = await withTimeout(op(this.redisLimiter, key), this.redisTimeoutMs);
      this.state.redisAnswered();
      return this.result(res, false, "redis");
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        this.state.redisAnswered();
        return this.result(error, true, "redis");
      }
      this.state.redisFailed(error);
      try {
        return this.result(await op(this.memoryLimiter, key), false, "memory");
      } catch (memoryError) {
        if (memoryError instanceof RateLimiterRes) return this.result(memoryError, true, "memory");
        throw memoryError;
      }
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
