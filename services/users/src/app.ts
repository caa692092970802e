import {
  assertStorableText,
  Counter,
  HttpError,
  Histogram,
  checkPg,
  checkRedis,
  createHttpServer,
  createMetrics,
  type Logger,
  type NearCache,
  type PgPool,
  type RedisClient,
  type ServiceMetrics,
  UNPAIRED_SURROGATE,
  USER_ID_HEADER,
} from '@noa/kit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createProfileCache } from './cache.js';
import { DEFAULT_SCRYPT, MAX_PASSWORD_BYTES, hashPassword, needsRehash, verifyPassword, type ScryptParams } from './password.js';
import { EmailTakenError, createUserRepository, normaliseEmail, toProfile } from './repository.js';
import { createTokens, type TokenSettings } from './tokens.js';

export interface UsersDeps {
  /** PostgreSQL/Citus pool (`createPgPool`). */
  readonly pool: PgPool;
  /** Redis Cluster client for the profile cache (`createRedis`). */
  readonly redis: RedisClient;
  readonly logger: Logger;
  /** JWT settings shared with the gateway. */
  readonly jwt: TokenSettings;
  /** Profile cache TTL in seconds (`PROFILE_CACHE_TTL_SECONDS`, default 300). */
  readonly profileCacheTtlSeconds?: number;
  /**
   * The process's near cache of profiles kept honest by Redis's change
   * reports (kit `createNearCache`, prefix `user:`); owned and closed by the
   * caller. Without it every profile read asks Redis.
   */
  readonly nearCache?: NearCache;
  /** Metrics registry (default: a new one for service `users`). */
  readonly metrics?: ServiceMetrics;
  /** scrypt parameters for new hashes (default {@link DEFAULT_SCRYPT}). */
  readonly scrypt?: ScryptParams;
  /** Maximum request body in bytes (default 16 KiB: no users request needs more). */
  readonly bodyLimit?: number;
}

/** Header carrying the caller's user id, set by the gateway after it verified the JWT. */
export { USER_ID_HEADER };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const INVALID_LOGIN = 'invalid email or password';

const emailSchema = { type: 'string', minLength: 3, maxLength: 254, format: 'email' } as const;
const passwordSchema = { type: 'string', minLength: 8, maxLength: 256 } as const;
const displayNameSchema = { type: 'string', maxLength: 100 } as const;
const bioSchema = { type: 'string', maxLength: 1000 } as const;

interface SignupBody {
  email: string;
  password: string;
  displayName?: string;
}
interface LoginBody {
  email: string;
  password: string;
}
interface PatchBody {
  displayName?: string;
  bio?: string;
}

/**
 * The users API: sign-up, login (JWT), and the caller's own profile.
 *
 * Identity: behind the gateway, requests carry `x-user-id` — the subject of a
 * JWT the gateway has verified. The mesh admits only the gateway to users
 * (the NetworkPolicy in components/app), so the
 * header cannot be forged from outside; verifying the token a second time
 * here would only add ≈40 µs per request. Without `x-user-id`, a
 * `Authorization: Bearer` token is verified here, so the service can also be
 * called directly (local development, operators with port-forward).
 */
export function buildApp(deps: UsersDeps): FastifyInstance {
  const metrics = deps.metrics ?? createMetrics('users');
  const scryptParams = deps.scrypt ?? DEFAULT_SCRYPT;
  const repo = createUserRepository(deps.pool);
  const tokens = createTokens(deps.jwt);
  const cache = createProfileCache({
    redis: deps.redis,
    ttlSeconds: deps.profileCacheTtlSeconds ?? 300,
    logger: deps.logger,
    near: deps.nearCache,
    lookups: new Counter({
      name: 'users_profile_cache_lookups_total',
      help: 'Profile cache lookups by result (near: served from this process\'s near cache; hit, miss, error: Redis)',
      labelNames: ['result'] as const,
      registers: [metrics.registry],
    }),
  });
  const hashSeconds = new Histogram({
    name: 'users_password_hash_seconds',
    help: 'Time to hash or verify a password with scrypt',
    labelNames: ['operation'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6],
    registers: [metrics.registry],
  });
  const logins = new Counter({
    name: 'users_logins_total',
    help: 'Login attempts by result (success, failure)',
    labelNames: ['result'] as const,
    registers: [metrics.registry],
  });

  // A hash to verify against when the email is unknown, so both failures cost
  // the same scrypt work and timing does not reveal which emails exist.
  const dummyHash = hashPassword('not-a-real-password', scryptParams);

  const app = createHttpServer({
    service: 'users',
    logger: deps.logger,
    metrics,
    bodyLimit: deps.bodyLimit ?? 16 * 1024,
    checks: [
      { name: 'postgres', check: () => checkPg(deps.pool) },
      // Redis only caches profiles: users keeps working without it.
      {
        name: 'redis',
        critical: false,
        check: async () => ({ ...(await checkRedis(deps.redis)), ...(deps.nearCache ? { nearCache: deps.nearCache.stats() } : {}) }),
      },
    ],
  });

  function callerId(request: FastifyRequest): string {
    const forwarded = request.headers[USER_ID_HEADER];
    if (typeof forwarded === 'string') {
      if (!UUID.test(forwarded)) throw new HttpError(401, `${USER_ID_HEADER} is not a user id`);
      return forwarded.toLowerCase();
    }
    const authorization = request.headers.authorization;
    const match = authorization ? /^Bearer[ ]+(\S+)\s*$/i.exec(authorization) : null;
    if (!match) throw new HttpError(401, 'authentication required: Authorization: Bearer <token>');
    const subject = tokens.subject(match[1]!);
    if (subject === undefined || !UUID.test(subject)) throw new HttpError(401, 'invalid or expired token');
    return subject.toLowerCase();
  }

  async function timed<T>(operation: 'hash' | 'verify', fn: () => Promise<T>): Promise<T> {
    const end = hashSeconds.startTimer({ operation });
    try {
      return await fn();
    } finally {
      end();
    }
  }

  function checkPasswordBytes(password: string): void {
    if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
      throw new HttpError(400, `body/password must NOT be longer than ${MAX_PASSWORD_BYTES} bytes`);
    }
  }

  /** The caller's profile as JSON: the cached text as stored, or from PostgreSQL (and then cached). */
  async function loadProfileJson(id: string): Promise<string> {
    const cached = await cache.getJson(id);
    if (cached !== undefined) return cached;
    // Taken before the read: an update committed after it keeps this read out of the cache.
    const ticket = await cache.ticket(id);
    const user = await repo.findById(id);
    if (!user) throw new HttpError(404, 'user not found');
    const profile = toProfile(user);
    await cache.set(profile, ticket);
    return JSON.stringify(profile);
  }

  app.post<{ Body: SignupBody }>(
    '/api/auth/signup',
    {
      schema: {
        body: {
          type: 'object',
          required: ['email', 'password'],
          additionalProperties: false,
          properties: { email: emailSchema, password: passwordSchema, displayName: displayNameSchema },
        },
      },
    },
    async (request, reply) => {
      // The password is only ever hashed, never stored as text: a NUL is fine in it. An unpaired
      // surrogate is not: UTF-8 turns every one into U+FFFD, so distinct passwords would hash alike.
      const { password, ...stored } = request.body;
      assertStorableText(stored, 'body');
      if (UNPAIRED_SURROGATE.test(password)) {
        throw new HttpError(400, 'body.password: must not contain unpaired UTF-16 surrogates');
      }
      checkPasswordBytes(password);
      const email = normaliseEmail(request.body.email);
      const passwordHash = await timed('hash', () => hashPassword(password, scryptParams));
      try {
        const user = await repo.create({ email, passwordHash, displayName: request.body.displayName ?? '' });
        request.log.info({ userId: user.id }, 'user signed up');
        return reply.status(201).send({ user: toProfile(user), ...tokens.issue(user.id) });
      } catch (err) {
        if (err instanceof EmailTakenError) throw new HttpError(409, err.message);
        throw err;
      }
    },
  );

  app.post<{ Body: LoginBody }>(
    '/api/auth/login',
    {
      schema: {
        body: {
          type: 'object',
          required: ['email', 'password'],
          additionalProperties: false,
          // Login does not re-validate the email format: any string simply fails.
          properties: { email: { type: 'string', minLength: 1, maxLength: 254 }, password: { type: 'string', minLength: 1, maxLength: 256 } },
        },
      },
    },
    async (request) => {
      // The password is only ever hashed: any string is checked (older accounts may have any).
      const { password, ...stored } = request.body;
      assertStorableText(stored, 'body');
      checkPasswordBytes(password);
      const user = await repo.findByEmail(normaliseEmail(request.body.email));
      const checked = timed('verify', async () => verifyPassword(password, user?.passwordHash ?? (await dummyHash)));
      // A hash made with older, cheaper parameters checks faster than an unknown email's dummy one,
      // which would tell which accounts have not logged in since the parameters went up: pad it with
      // a check at the current cost, run alongside (scrypt runs on libuv's thread pool).
      const padding = user && needsRehash(user.passwordHash, scryptParams) ? timed('verify', async () => verifyPassword(password, await dummyHash)) : undefined;
      const [ok] = await Promise.all([checked, padding]);
      if (!user || !ok) {
        logins.inc({ result: 'failure' });
        throw new HttpError(401, INVALID_LOGIN);
      }
      logins.inc({ result: 'success' });
      if (needsRehash(user.passwordHash, scryptParams)) {
        await repo.updatePasswordHash(user.id, await timed('hash', () => hashPassword(password, scryptParams)));
      }
      return { user: toProfile(user), ...tokens.issue(user.id) };
    },
  );

  app.get('/api/users/me', async (request, reply) => {
    const json = await loadProfileJson(callerId(request));
    return reply.type('application/json; charset=utf-8').send(json);
  });

  app.patch<{ Body: PatchBody }>(
    '/api/users/me',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { displayName: displayNameSchema, bio: bioSchema },
        },
      },
    },
    async (request) => {
      const id = callerId(request);
      assertStorableText(request.body, 'body');
      const user = await repo.updateProfile(id, request.body);
      if (!user) throw new HttpError(404, 'user not found');
      // Invalidate after the write commits. A reader that read the old row
      // before cannot cache it any more: its ticket is from an older
      // generation (kit readCacheTicket/fillCache/invalidateCache).
      await cache.invalidate(id);
      return toProfile(user);
    },
  );

  return app;
}
