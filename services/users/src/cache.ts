import { fillCache, invalidateCache, type Counter, type Logger, type RedisClient } from '@noa/kit';
import type { Profile } from './repository.js';

/** `user:{<id>}:profile` — hash-tagged so any future per-user keys share the user's slot. */
export function profileKey(userId: string): string {
  return `user:{${userId}}:profile`;
}

/**
 * Cache-aside for profiles in Redis Cluster. Redis is an optimisation here,
 * never a dependency: every Redis error is logged, counted and treated as a
 * miss (reads) or ignored (writes), so users keeps answering from PostgreSQL
 * during a Redis outage. An update's invalidation keeps a reader that read
 * the old row just before it from caching that row again (the kit's
 * `fillCache`/`invalidateCache`); the TTL bounds how long a missed
 * invalidation could serve a stale profile.
 */
export function createProfileCache(args: {
  redis: RedisClient;
  ttlSeconds: number;
  logger: Logger;
  lookups: Counter<'result'>;
}) {
  const { redis, ttlSeconds, logger, lookups } = args;
  return {
    /**
     * The cached profile of `userId` as stored: the exact JSON `set` wrote
     * (JSON.stringify of a Profile, whose first field is the id), so a hit
     * goes to the client as it is, without a parse and a re-serialisation.
     * An entry that is not such a JSON object for this user counts as an
     * error and reads as a miss.
     */
    async getJson(userId: string): Promise<string | undefined> {
      let cached: string | null;
      try {
        cached = await redis.get(profileKey(userId));
      } catch (err) {
        lookups.inc({ result: 'error' });
        logger.warn({ err: { message: (err as Error).message } }, 'profile cache read failed; reading PostgreSQL');
        return undefined;
      }
      if (cached === null) {
        lookups.inc({ result: 'miss' });
        return undefined;
      }
      if (!cached.startsWith(`{"id":${JSON.stringify(userId)},`) || !cached.endsWith('}')) {
        lookups.inc({ result: 'error' });
        logger.warn({ userId }, 'profile cache entry is not this user\'s profile JSON; reading PostgreSQL');
        return undefined;
      }
      lookups.inc({ result: 'hit' });
      return cached;
    },
    async set(profile: Profile): Promise<void> {
      try {
        await fillCache(redis, profileKey(profile.id), JSON.stringify(profile), ttlSeconds);
      } catch (err) {
        logger.warn({ err: { message: (err as Error).message } }, 'profile cache write failed');
      }
    },
    async invalidate(userId: string): Promise<void> {
      try {
        await invalidateCache(redis, profileKey(userId));
      } catch (err) {
        // The TTL still expires the stale entry.
        logger.warn({ err: { message: (err as Error).message }, userId }, 'profile cache invalidation failed');
      }
    },
  };
}

export type ProfileCache = ReturnType<typeof createProfileCache>;
