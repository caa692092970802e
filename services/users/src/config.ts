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
  }),
);

export type UsersEnv = z.infer<typeof usersEnv>;
