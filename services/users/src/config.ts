import { commonEnv, envSchema, intVar, jwtEnv, pgEnv, redisEnv, z } from '@noa/kit';

/** users' environment: the shared contract (services/README.md) plus its own knobs. */
export const usersEnv = envSchema(
  commonEnv,
  pgEnv,
  redisEnv,
  jwtEnv,
  z.object({
    /** How long a cached profile lives in Redis (seconds). */
    PROFILE_CACHE_TTL_SECONDS: intVar(1, 86_400).default(300),
    /**
     * How long this process may serve a profile from its near cache without
     * asking Redis (ms); Redis's change reports drop it sooner. 0 turns the
     * near cache off.
     */
    PROFILE_NEAR_CACHE_TTL_MS: intVar(0, 60_000).default(5_000),
    /** Profiles kept in the near cache at most (the oldest go first). */
    PROFILE_NEAR_CACHE_MAX_ENTRIES: intVar(1, 1_000_000).default(10_000),
  }),
);

export type UsersEnv = z.infer<typeof usersEnv>;
