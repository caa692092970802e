import { createHash } from "node:crypto";
import { redisNodeOf, type RedisClient } from "@noa/kit";
import { ResilientLimiter, StoreState, type FallbackReason, type LimitResult, type StoreStateListener } from "./rate-limit";

/**
 * The gateway's rate-limit policy (seed numbers in brackets):
 *
 * - **API limit** per client IP on every `/api/*` request [100 req/s]. Each
 *   gateway leases tokens from the shared counter in batches sized by each
 *   client's demand (at most `apiLeaseMax`, 10% of the limit by default), so most requests cost no
 *   Redis round trip while the replicas together still admit at most the
 *   limit (see `ResilientLimiter.consumeLeased`).
 * - **Auth limit** on `POST /api/auth/login`, per client IP *and* per account
 *   [5 attempts / 15 min]. An attempt is counted before it is forwarded, so
 *   parallel guesses cannot slip past the counter; a successful login gives its
 *   IP point back and resets the account's counter, and an attempt that the
 *   users service could not judge (4xx other than 401/403, 5xx, timeouts) is
 *   given back on both, so only wrong credentials count.
 * - **Sign-ups** on `POST /api/auth/signup`, per client IP, with the auth
 *   limit's numbers [the seed's authentication limit: 5 per 15 minutes] on a
 *   counter of their own. Each sign-up costs the users service a memory-hard
 *   password hash, so only the API limit would let one address buy 100 of
 *   them a second. Only attempts that got as far as hashing count (created,
 *   or the email was taken); a request refused as invalid is given back.
 * - **Uploads** on `POST /api/storage/uploads` (a presigned upload URL), per
 *   user [10 per hour]; a request the storage service refused is given back.
 * - **Adaptive strict mode** [seed: "switches to strict mode after threshold
 *   breaches"]: each window in which an IP goes over the API limit is an
 *   offence; an IP with `offenceThreshold` offences within `offenceWindow`
 *   is a repeat offender for `strictModeSeconds` (every further breach starts
 *   that period again). A repeat offender gets the strict API limit [half],
 *   the strict login and sign-up limits [3 attempts] and the strict upload
 *   limit [5]. The offender flag is read only when a
 *   client is already above the strict threshold in the current window, so
 *   well-behaved clients pay no extra Redis round trip for it, and then once
 *   per window per replica: a busy but legitimate client (or many users
 *   behind one NAT address) between the strict and the full limit costs one
 *   lookup per window, not one per request.
 */
export interface RateLimitSettings {
  /** API requests allowed per IP per window (seed: 100). */
  apiPoints: number;
  /** API window in seconds (seed: 1). */
  apiDurationSeconds: number;
  /** API requests per window for repeat offenders (default: half of `apiPoints`). */
  strictApiPoints: number;
  /** Login attempts per IP and per account per window (seed: 5). */
  authPoints: number;
  /** Auth window in seconds (seed: 900). */
  authDurationSeconds: number;
  /** Login attempts per window for repeat offenders (seed strict limit: 3). */
  strictAuthPoints: number;
  /** Presigned uploads per user per window (seed: 10). */
  uploadPoints: number;
  /** Upload window in seconds (seed: 3600). */
  uploadDurationSeconds: number;
  /** Uploads per window for repeat offenders (seed strict limit: 5). */
  strictUploadPoints: number;
  /** API-limit breaches within `offenceWindowSeconds` that make an IP a repeat offender (default 3). */
  offenceThreshold: number;
  /** Window in which breaches are counted, in seconds (default 600). */
  offenceWindowSeconds: number;
  /** How long a repeat offender stays in strict mode, in seconds (default 900). */
  strictModeSeconds: number;
  /** Namespace of every key this gateway writes (default `gw`). */
  keyPrefix: string;
  /** Expected gateway replicas; the local fallback divides every limit by it (default 1). */
  fallbackDivisor: number;
  /** Longest wait for Redis before a decision falls back to memory, in ms (default 100). */
  redisTimeoutMs: number;
  /**
   * Most API tokens one gateway leases from Redis in one round trip
   * (`ResilientLimiter.consumeLeased`); 1 sends every request to Redis.
   * Default: 10% of `apiPoints`, at least 1 (the seed's 100 per second: 10).
   */
  apiLeaseMax: number;
}

/**
 * The default most API tokens per lease: 10% of the limit. Unspent tokens can
 * cost a client at its limit at most that per replica per window; leases are
 * sized by demand (`leaseSize`), so a steady client's leases run out near the
 * window's end and what is lost is usually far less.
 */
export function defaultApiLeaseMax(apiPoints: number): number {
  return Math.max(1, Math.floor(apiPoints / 10));
}

/** Callbacks for the gateway's metrics. */
export interface RateLimitObservers {
  /** A decision made by the local fallback, and why. */
  onFallbackDecision?: (reason: FallbackReason) => void;
  /** A round trip to Redis that leased API tokens, with the tokens asked for. */
  onApiLease?: (size: number) => void;
  /** A lookup of an IP's offender flag for the API limit (at most one per IP, window and replica). */
  onOffenderLookup?: () => void;
}

/** IPs whose offender verdict is remembered at most; past it, verdicts are looked up every time. */
const MAX_OFFENDER_VERDICTS = 100_000;

/** Which limit turned a request away. */
export type LimitName = "api" | "api-strict" | "auth-ip" | "auth-account" | "auth-strict" | "signup-ip" | "signup-strict" | "upload" | "upload-strict";

/** The verdict for one request. */
export interface Decision {
  allowed: boolean;
  /** The limit that rejected the request (when not allowed). */
  rejectedBy?: LimitName;
  /** Numbers for the RateLimit-* and Retry-After headers. */
  limit: number;
  remaining: number;
  msBeforeReset: number;
  /** Whether Redis or the local fallback decided. */
  store: LimitResult["store"];
}

/** How a forwarded login ended, from the gateway's point of view. */
export type LoginOutcome = "succeeded" | "failed" | "not-judged";

export class RateLimitPolicy {
  readonly state: StoreState;
  private readonly api: ResilientLimiter;
  private readonly offences: ResilientLimiter;
  private readonly authByIp: ResilientLimiter;
  private readonly authByAccount: ResilientLimiter;
  private readonly signupsByIp: ResilientLimiter;
  private readonly uploadsByUser: ResilientLimiter;
  /** Each IP's offender verdict for the API limit, good until the end of the API window it was read in. */
  private readonly offenderVerdicts = new Map<string, { offender: boolean; until: number }>();
  /** Lookups in flight, so a burst from one IP shares one. */
  private readonly offenderLookups = new Map<string, Promise<boolean>>();
  private nextVerdictSweepAt = 0;
  private readonly onOffenderLookup: () => void;

  constructor(
    private readonly settings: RateLimitSettings,
    redis: RedisClient,
    onStoreChange: StoreStateListener,
    observers: RateLimitObservers = {},
  ) {
    // A hung node's keys fall back for a second at a time, without waiting out the timeout each.
    this.state = new StoreState(onStoreChange, observers.onFallbackDecision, 1000, 1000, (key) => redisNodeOf(redis, key));
    this.onOffenderLookup = observers.onOffenderLookup ?? (() => {});
    const common = {
      redis,
      redisTimeoutMs: settings.redisTimeoutMs,
      fallbackDivisor: settings.fallbackDivisor,
      state: this.state,
    };
    this.api = new ResilientLimiter({
      ...common,
      keyPrefix: `${settings.keyPrefix}:api`,
      points: settings.apiPoints,
      durationSeconds: settings.apiDurationSeconds,
      maxLease: settings.apiLeaseMax,
      onLease: observers.onApiLease,
    });
    this.offences = new ResilientLimiter({
      ...common,
      // Offences are rare events: every replica must see all of them, so the fallback does not divide.
      fallbackDivisor: 1,
      keyPrefix: `${settings.keyPrefix}:offence`,
      points: settings.offenceThreshold,
      durationSeconds: settings.offenceWindowSeconds,
    });
    const limiter = (name: string, points: number, durationSeconds: number) =>
      new ResilientLimiter({ ...common, keyPrefix: `${settings.keyPrefix}:${name}`, points, durationSeconds });
    this.authByIp = limiter("auth-ip", settings.authPoints, settings.authDurationSeconds);
    this.authByAccount = limiter("auth-account", settings.authPoints, settings.authDurationSeconds);
    this.signupsByIp = limiter("signup-ip", settings.authPoints, settings.authDurationSeconds);
    this.uploadsByUser = limiter("upload", settings.uploadPoints, settings.uploadDurationSeconds);
  }

  /**
   * Counts one API request from `ip`. Synchronous when this gateway's lease
   * decides it and no strict-mode check is due (nearly every request);
   * a promise when Redis has to be asked.
   */
  checkApi(ip: string): Decision | Promise<Decision> {
    const result = this.api.consumeLeased(ip);
    return result instanceof Promise ? result.then((settled) => this.decideApi(ip, settled)) : this.decideApi(ip, result);
  }

  private decideApi(ip: string, result: LimitResult): Decision | Promise<Decision> {
    if (result.limited) {
      // Only the first rejection of a window is an offence, so a flood counts once per window.
      if (result.consumed === result.limit + 1) return this.recordOffence(ip).then(() => deny("api", result));
      return deny("api", result);
    }
    const strict = this.scaled(this.settings.strictApiPoints, result);
    if (result.consumed <= strict) return allow(result);
    const verdict = (offender: boolean) => (offender ? deny("api-strict", { ...result, limit: strict, remaining: 0 }) : allow(result));
    const known = this.offenderVerdicts.get(ip);
    const now = Date.now();
    if (known !== undefined && now < known.until) return verdict(known.offender);
    let lookup = this.offenderLookups.get(ip);
    if (lookup === undefined) {
      lookup = this.lookUpOffender(ip, now + result.msBeforeReset);
      this.offenderLookups.set(ip, lookup);
      const settled = () => void this.offenderLookups.delete(ip);
      lookup.then(settled, settled);
    }
    return lookup.then(verdict);
  }

  /** Reads `ip`'s offender flag and remembers it until `until` (the end of the current API window). */
  private async lookUpOffender(ip: string, until: number): Promise<boolean> {
    this.onOffenderLookup();
    const offender = await this.isOffender(ip);
    const now = Date.now();
    if (now >= this.nextVerdictSweepAt) {
      this.nextVerdictSweepAt = now + this.settings.apiDurationSeconds * 1000;
      for (const [key, known] of this.offenderVerdicts) if (now >= known.until) this.offenderVerdicts.delete(key);
    }
    if (this.offenderVerdicts.size < MAX_OFFENDER_VERDICTS || this.offenderVerdicts.has(ip)) this.offenderVerdicts.set(ip, { offender, until });
    return offender;
  }

  /** Counts one login attempt by `ip` for `account` (if the body named one). */
  async attemptLogin(ip: string, account: string | undefined): Promise<Decision> {
    const [byIp, byAccount] = await Promise.all([
      this.authByIp.consume(ip),
      account === undefined ? undefined : this.authByAccount.consume(accountKey(account)),
    ]);
    // An attempt one limit refuses never reaches users, so the other limit gets its point back:
    // else an address already over its own limit could still lock any account (5 tries each), and
    // tries against a locked account would use up the address's budget for everyone behind it.
    const accountKeyed = account === undefined ? undefined : accountKey(account);
    if (byIp.limited) {
      if (accountKeyed !== undefined && !byAccount?.limited) await this.authByAccount.reward(accountKeyed);
      return deny("auth-ip", byIp);
    }
    if (byAccount?.limited) {
      await this.authByIp.reward(ip);
      return deny("auth-account", byAccount);
    }
    const strict = this.scaled(this.settings.strictAuthPoints, byIp);
    if (byIp.consumed > strict && (await this.isOffender(ip))) {
      if (accountKeyed !== undefined) await this.authByAccount.reward(accountKeyed);
      return deny("auth-strict", { ...byIp, limit: strict, remaining: 0 });
    }
    const tighter = byAccount && byAccount.remaining < byIp.remaining ? byAccount : byIp;
    return allow(tighter);
  }

  /** Settles a login attempt counted by `attemptLogin`. */
  async finishLogin(ip: string, account: string | undefined, outcome: LoginOutcome): Promise<void> {
    if (outcome === "failed") return;
    const key = account === undefined ? undefined : accountKey(account);
    await Promise.all([
      this.authByIp.reward(ip),
      key === undefined
        ? undefined
        : outcome === "succeeded"
          ? this.authByAccount.reset(key)
          : this.authByAccount.reward(key),
    ]);
  }

  /** Counts one sign-up from `ip`, before it is forwarded (so parallel ones cannot slip past). */
  attemptSignup(ip: string): Promise<Decision> {
    return this.attemptStrictly(this.signupsByIp, ip, ip, this.settings.strictAuthPoints, "signup-ip", "signup-strict");
  }

  /** Gives a sign-up back unless it cost a password hash (`created`, or the email was taken). */
  async finishSignup(ip: string, hashed: boolean): Promise<void> {
    if (!hashed) await this.signupsByIp.reward(ip);
  }

  /** Counts one presigned upload for `userId` (from `ip`, for strict mode), before it is forwarded. */
  attemptUpload(ip: string, userId: string): Promise<Decision> {
    return this.attemptStrictly(this.uploadsByUser, userId, ip, this.settings.strictUploadPoints, "upload", "upload-strict");
  }

  /** Gives an upload back when the storage service did not issue it. */
  async finishUpload(userId: string, issued: boolean): Promise<void> {
    if (!issued) await this.uploadsByUser.reward(userId);
  }

  /** One point from `limiter` for `subject`; over `strictPoints` a repeat offender `ip` is held to them. */
  private async attemptStrictly(limiter: ResilientLimiter, subject: string, ip: string, strictPoints: number, name: LimitName, strictName: LimitName): Promise<Decision> {
    const result = await limiter.consume(subject);
    if (result.limited) return deny(name, result);
    const strict = this.scaled(strictPoints, result);
    if (result.consumed > strict && (await this.isOffender(ip))) return deny(strictName, { ...result, limit: strict, remaining: 0 });
    return allow(result);
  }

  /** True while `ip` is in strict mode (read from the store every time). */
  async isOffender(ip: string): Promise<boolean> {
    const offences = await this.offences.peek(ip);
    return offences !== undefined && offences.consumed >= this.settings.offenceThreshold;
  }

  private async recordOffence(ip: string): Promise<void> {
    // The verdict this replica remembered may be out of date from now on.
    this.offenderVerdicts.delete(ip);
    const offences = await this.offences.consume(ip);
    if (offences.consumed >= this.settings.offenceThreshold) {
      // Blocking the offence key holds it above the threshold for the whole strict period.
      await this.offences.block(ip, this.settings.strictModeSeconds);
    }
  }

  /** The strict limit in the store that answered (the fallback divides it like every limit). */
  private scaled(points: number, result: LimitResult): number {
    return result.store === "redis" ? points : Math.max(1, Math.floor(points / this.settings.fallbackDivisor));
  }
}

/** Accounts are keyed by a digest of the normalised e-mail: no addresses in Redis. */
export function accountKey(account: string): string {
  return createHash("sha256").update(account.trim().toLowerCase()).digest("base64url").slice(0, 22);
}

function allow(result: LimitResult): Decision {
  return {
    allowed: true,
    limit: result.limit,
    remaining: result.remaining,
    msBeforeReset: result.msBeforeReset,
    store: result.store,
  };
}

function deny(rejectedBy: LimitName, result: LimitResult): Decision {
  return {
    allowed: false,
    rejectedBy,
    limit: result.limit,
    remaining: 0,
    msBeforeReset: result.msBeforeReset,
    store: result.store,
  };
}
