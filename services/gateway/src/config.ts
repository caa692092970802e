import { commonEnv, envSchema, intVar, jwtEnv, redisEnv, withEnvRules, z } from "@noa/kit";
import type { GatewaySettings } from "./gateway";
import { defaultApiLeaseMax } from "./rate-limit-policy";

/**
 * The gateway's own environment (services/README.md and this service's
 * README list every variable). Seed numbers are the defaults: 100 req/s per
 * IP, 5 login attempts per 15 minutes per IP and account (sign-ups per IP
 * use the same numbers), 10 uploads per hour per user, strict limits of half
 * the API limit, 3 logins and 5 uploads.
 */
export const gatewayEnv = withEnvRules(
  z.object({
    USERS_URL: z.url().default("http://users.noa.svc.cluster.local"),
    WORKFLOWS_URL: z.url().default("http://workflows.noa.svc.cluster.local"),
    STORAGE_URL: z.url().default("http://storage.noa.svc.cluster.local"),
    UPSTREAM_TIMEOUT_MS: intVar(1, 600_000).default(5000),
    UPSTREAM_CONNECTIONS: intVar(1, 10_000).default(128),
    CIRCUIT_ERROR_THRESHOLD_PERCENT: intVar(1, 100).default(50),
    CIRCUIT_VOLUME_THRESHOLD: intVar(1).default(20),
    CIRCUIT_WINDOW_MS: intVar(100).default(10_000),
    CIRCUIT_RESET_MS: intVar(10).default(10_000),
    RATE_LIMIT_API_POINTS: intVar(1).default(100),
    RATE_LIMIT_API_DURATION_S: intVar(1).default(1),
    /** Default: half of RATE_LIMIT_API_POINTS (the seed's strict limit). */
    RATE_LIMIT_API_STRICT_POINTS: intVar(1).optional(),
    RATE_LIMIT_AUTH_POINTS: intVar(1).default(5),
    RATE_LIMIT_AUTH_DURATION_S: intVar(1).default(900),
    RATE_LIMIT_AUTH_STRICT_POINTS: intVar(1).default(3),
    RATE_LIMIT_UPLOAD_POINTS: intVar(1).default(10),
    RATE_LIMIT_UPLOAD_DURATION_S: intVar(1).default(3600),
    RATE_LIMIT_UPLOAD_STRICT_POINTS: intVar(1).default(5),
    RATE_LIMIT_OFFENCE_THRESHOLD: intVar(1).default(3),
    RATE_LIMIT_OFFENCE_WINDOW_S: intVar(1).default(600),
    RATE_LIMIT_STRICT_MODE_S: intVar(1).default(900),
    RATE_LIMIT_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9:_-]+$/, "letters, digits, ':', '_' and '-' only").default("gw"),
    RATE_LIMIT_FALLBACK_REPLICAS: intVar(1, 10_000).default(1),
    RATE_LIMIT_REDIS_TIMEOUT_MS: intVar(1, 10_000).default(100),
    /** Default: 10% of RATE_LIMIT_API_POINTS, at least 1; 1 sends every request to Redis. */
    RATE_LIMIT_API_LEASE_MAX: intVar(1, 10_000).optional(),
    TRUSTED_PROXY_HOPS: intVar(0, 10).default(0),
    BODY_LIMIT_BYTES: intVar(1).default(1_048_576),
    JWT_CACHE_SIZE: intVar(0).default(10_000),
    /** `errors`: log 5xx answers and slow requests only; `all`: one line per request (≈ 40–55 µs each). */
    ACCESS_LOG: z.enum(["errors", "all"]).default("errors"),
  }),
  (env) => {
    const problems: Array<[string, string]> = [];
    const num = (name: string) => (env[name] === undefined ? undefined : Number(env[name]));
    const api = num("RATE_LIMIT_API_POINTS") ?? 100;
    const apiStrict = num("RATE_LIMIT_API_STRICT_POINTS");
    const lease = num("RATE_LIMIT_API_LEASE_MAX");
    if (lease !== undefined && lease > api) {
      problems.push(["RATE_LIMIT_API_LEASE_MAX", `(${lease}) exceeds RATE_LIMIT_API_POINTS (${api})`]);
    }
    if (apiStrict !== undefined && apiStrict > api) {
      problems.push(["RATE_LIMIT_API_STRICT_POINTS", `(${apiStrict}) exceeds RATE_LIMIT_API_POINTS (${api})`]);
    }
    const auth = num("RATE_LIMIT_AUTH_POINTS") ?? 5;
    const authStrict = num("RATE_LIMIT_AUTH_STRICT_POINTS") ?? 3;
    if (authStrict > auth) {
      problems.push(["RATE_LIMIT_AUTH_STRICT_POINTS", `(${authStrict}) exceeds RATE_LIMIT_AUTH_POINTS (${auth})`]);
    }
    const upload = num("RATE_LIMIT_UPLOAD_POINTS") ?? 10;
    const uploadStrict = num("RATE_LIMIT_UPLOAD_STRICT_POINTS") ?? 5;
    if (uploadStrict > upload) {
      problems.push(["RATE_LIMIT_UPLOAD_STRICT_POINTS", `(${uploadStrict}) exceeds RATE_LIMIT_UPLOAD_POINTS (${upload})`]);
    }
    return problems;
  },
);

/** Everything the gateway process reads from its environment. */
export const gatewayEnvSchema = envSchema(commonEnv, redisEnv, jwtEnv, gatewayEnv);
export type GatewayEnv = z.infer<typeof gatewayEnvSchema>;

/** The settings `registerGateway` takes, from a validated environment. */
export function gatewaySettings(env: GatewayEnv): GatewaySettings {
  return {
    upstreams: { users: env.USERS_URL, workflows: env.WORKFLOWS_URL, storage: env.STORAGE_URL },
    upstreamTimeoutMs: env.UPSTREAM_TIMEOUT_MS,
    upstreamConnections: env.UPSTREAM_CONNECTIONS,
    circuit: {
      errorThresholdPercentage: env.CIRCUIT_ERROR_THRESHOLD_PERCENT,
      volumeThreshold: env.CIRCUIT_VOLUME_THRESHOLD,
      rollingWindowMs: env.CIRCUIT_WINDOW_MS,
      resetTimeoutMs: env.CIRCUIT_RESET_MS,
    },
    jwt: { secret: env.JWT_SECRET, issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE, cacheSize: env.JWT_CACHE_SIZE },
    rateLimits: {
      apiPoints: env.RATE_LIMIT_API_POINTS,
      apiDurationSeconds: env.RATE_LIMIT_API_DURATION_S,
      strictApiPoints: env.RATE_LIMIT_API_STRICT_POINTS ?? Math.max(1, Math.floor(env.RATE_LIMIT_API_POINTS / 2)),
      authPoints: env.RATE_LIMIT_AUTH_POINTS,
      authDurationSeconds: env.RATE_LIMIT_AUTH_DURATION_S,
      strictAuthPoints: env.RATE_LIMIT_AUTH_STRICT_POINTS,
      uploadPoints: env.RATE_LIMIT_UPLOAD_POINTS,
      uploadDurationSeconds: env.RATE_LIMIT_UPLOAD_DURATION_S,
      strictUploadPoints: env.RATE_LIMIT_UPLOAD_STRICT_POINTS,
      offenceThreshold: env.RATE_LIMIT_OFFENCE_THRESHOLD,
      offenceWindowSeconds: env.RATE_LIMIT_OFFENCE_WINDOW_S,
      strictModeSeconds: env.RATE_LIMIT_STRICT_MODE_S,
      keyPrefix: env.RATE_LIMIT_KEY_PREFIX,
      fallbackDivisor: env.RATE_LIMIT_FALLBACK_REPLICAS,
      redisTimeoutMs: env.RATE_LIMIT_REDIS_TIMEOUT_MS,
      apiLeaseMax: env.RATE_LIMIT_API_LEASE_MAX ?? defaultApiLeaseMax(env.RATE_LIMIT_API_POINTS),
    },
    trustedProxyHops: env.TRUSTED_PROXY_HOPS,
    bodyLimitBytes: env.BODY_LIMIT_BYTES,
  };
}
