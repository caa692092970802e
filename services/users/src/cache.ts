import { fillCache, invalidateCache, readCacheTicket, type CacheTicket, type Counter, type Logger, type NearCache, type RedisClient } from '@noa/kit';
import type { Profile } from './repository.js';

/** `user:{<id>}:profile` — hash-tagged so any future per-user keys share the user's slot. */
export function profileKey(userId: string): string {
  return `user:{${userId}}:profile`;
}

/**
 * Cache-aside for profiles in Redis Cluster. Redis is an optimisation here,
 * never a dependency: every Redis error is logged, counted and treated as a
 * miss (reads) or ignored (writes), so users keeps answering from PostgreSQL
 * during a Redis outage. A reader takes a ticket after its miss and before
 * it reads PostgreSQL, and fills only if no update invalidated the profile
 * since (the kit's `readCacheTicket`/`fillCache`/`invalidateCache`), so an
 * old row is never cached after an update; the TTL bounds how long a missed
 * invalidation (Redis unreachable at that moment) could serve a stale one.
 *
 * With `near` (the kit's near cache; `PROFILE_NEAR_CACHE_TTL_MS`), a profile
 * this process read from Redis is kept here too and served without a trip to
 * Redis until Redis reports a change to its key (any replica's update or
 * fill, an expiry) or the near cache's own TTL ends. The updating replica
 * drops its copy itself before it answers; the others within the time
 * Redis's report takes to arrive.
 */
export function createProfileCache(args: {
  redis: RedisClient;
  ttlSeconds: number;
  logger: Logger;
  lookups: Counter<'result'>;
  near?: NearCache;
}) {
  const { redis, ttlSeconds, logger, lookups, near } = args;
  /** The entry as Redis holds it, if it is this user's profile JSON; counts the miss or the bad entry. */
  const fetchJson = async (userId: string): Promise<string | null> => {
    const cached = await redis.get(profileKey(userId));
    if (cached === null) {
      lookups.inc({ result: 'miss' });
      return null;
    }
    if (!cached.startsWith(`{"id":${JSON.stringify(userId)},`) || !cached.endsWith('}')) {
      lookups.inc({ result: 'error' });
      logger.warn({ userId }, 'profile cache entry is not this user\'s profile JSON; reading PostgreSQL');
      return null;
    }
    lookups.inc({ result: 'hit' });
    return cached;
  };
  return {
    /**
     * The cached profile of `userId` as stored: the exact JSON `set` wrote
     * (JSON.stringify of a Profile, whose first field is the id), so a hit
     * goes to the client as it is, without a parse and a re-serialisation.
     * An entry that is not such a JSON object for this user counts as an
     * error and reads as a miss.
     */
    async getJson(userId: string): Promise<string | undefined> {
      try {
        if (near === undefined) return (await fetchJson(userId)) ?? undefined;
        const { value, source } = await near.read(profileKey(userId), () => fetchJson(userId));
        if (source === 'near') lookups.inc({ result: 'near' });
        return value ?? undefined;
      } catch (err) {
        lookups.inc({ result: 'error' });
        logger.warn({ err: { message: (err as Error).message } }, 'profile cache read failed; reading PostgreSQL');
        return undefined;
      }
    },
    /** The ticket to fill with later; undefined when Redis cannot be asked (then nothing is filled). */
    async ticket(userId: string): Promise<CacheTicket | undefined> {
      try {
        return await readCacheTicket(redis, profileKey(userId));
      } catch (err) {
        logger.warn({ err: { message: (err as Error).message } }, 'profile cache ticket read failed; not caching this read');
        return undefined;
      }
    },
    /** Caches `profile` as read after `ticket` was taken, unless an update invalidated it since. */
    async set(profile: Profile, ticket: CacheTicket | undefined): Promise<void> {
      if (ticket === undefined) return;
      try {
        await fillCache(redis, profileKey(profile.id), JSON.stringify(profile), ttlSeconds, ticket);
      } catch (err) {
        logger.warn({ err: { message: (err as Error).message } }, 'profile cache write failed');
      }
    },
    async invalidate(userId: string): Promise<void> {
      const key = profileKey(userId);
      try {
        await invalidateCache(redis, key, near);
      } catch (err) {
        // The TTL still expires the stale entry.
        logger.warn({ err: { message: (err as Error).message }, userId }, 'profile cache invalidation failed');
      }
    },
  };
}

export type ProfileCache = ReturnType<typeof createProfileCache>;
