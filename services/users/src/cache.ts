import type { Counter, Logger, RedisClient } from '@noa/kit';
import type { Profile } from './repository.js';

/** `user:{<id>}:profile` — hash-tagged so any future per-user keys share the user's slot. */
export function profileKey(userId: string): string {
  return `user:{${userId}}:profile`;
}

/**
 * Cache-aside for profiles in Redis Cluster. Redis is an optimisation here,
 * never a dependency: every Redis error is logged, counted and treated as a
 * miss (reads) or ignored (writes), so users keeps answering from PostgreSQL
 * during a Redis outage. The TTL bounds how long a missed invalidation could
 * serve a stale profile.
 */
export function createProfileCache(args: {
  redis: RedisClient;
  ttlSeconds: number;
  logger: Logger;
  lookups: Counter<'result'>;
}) {
  const { redis, ttlSeconds, logger, lookups } = args;
  return {
    async get(userId: string): Promise<Profile | undefined> {
      try {
        const cached = await redis.get(profileKey(userId));
        lookups.inc({ result: cached === null ? 'miss' : 'hit' });
        return cached === null ? undefined : (JSON.parse(cached) as Profile);
      } catch (err) {
        lookups.inc({ result: 'error' });
        logger.warn({ err: { message: (err as Error).message } }, 'profile cache read failed; reading PostgreSQL');
        return undefined;
      }
    },
    async set(profile: Profile): Promise<void> {
      try {
        await redis.set(profileKey(profile.id), JSON.stringify(profile), 'EX', ttlSeconds);
      } catch (err) {
        logger.warn({ err: { message: (err as Error).message } }, 'profile cache write failed');
      }
    },
    async invalidate(userId: string): Promise<void> {
      try {
        await redis.del(profileKey(userId));
      } catch (err) {
        // The TTL still expires the stale entry.
        logger.warn({ err: { message: (err as Error).message }, userId }, 'profile cache invalidation failed');
      }
    },
  };
}

export type ProfileCache = ReturnType<typeof createProfileCache>;
