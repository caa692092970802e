import type { RedisClient } from './redis.js';

/**
 * Cache-aside writes that cannot put back what a write just replaced.
 *
 * The race every cache-aside has: a reader misses, reads the row from
 * PostgreSQL, a writer commits a change and deletes the cache entry, and then
 * the reader stores the row it read, which is the old one. That stale entry
 * is then served until its TTL (minutes), on every replica.
 *
 * Here the writer's invalidation also leaves a short-lived marker next to the
 * entry (`<key>:written`), and a reader's fill is a script that stores
 * nothing while the marker exists. Both are one round trip, atomic on the
 * entry's node. For the marker's lifetime (default
 * {@link CACHE_WRITE_MARKER_MS}) reads of that entry go to the database; a
 * reader would have to take longer than that between its database read and
 * its fill to put a stale row back, and then the TTL still bounds it.
 *
 * Keys must carry a hash tag (`user:{42}:profile`) so the marker lands in
 * the entry's slot on a Redis Cluster.
 */

/** How long reads of an entry are not cached after a write invalidated it (5 s). */
export const CACHE_WRITE_MARKER_MS = 5_000;

const FILL_SCRIPT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
`;

const INVALIDATE_SCRIPT = `
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
return 1
`;

const FILL = 'noaCacheFill';
const INVALIDATE = 'noaCacheInvalidate';

interface CacheCommands {
  [FILL](key: string, marker: string, value: string, ttlSeconds: number): Promise<number>;
  [INVALIDATE](key: string, marker: string, markerMs: number): Promise<number>;
}

/** The key of the marker an invalidation leaves next to `key`. */
export function writeMarkerKey(key: string): string {
  return `${key}:written`;
}

function commands(redis: RedisClient): CacheCommands {
  const client = redis as unknown as Partial<CacheCommands>;
  if (typeof client[FILL] !== 'function') redis.defineCommand(FILL, { numberOfKeys: 2, lua: FILL_SCRIPT });
  if (typeof client[INVALIDATE] !== 'function') redis.defineCommand(INVALIDATE, { numberOfKeys: 2, lua: INVALIDATE_SCRIPT });
  return redis as unknown as CacheCommands;
}

function checkKey(key: string): void {
  if (!/\{[^{}]+\}/.test(key)) {
    throw new Error(`cache key ${JSON.stringify(key)} has no {hash tag}: its write marker could land in another slot of the Redis Cluster`);
  }
}

/**
 * Stores `value` under `key` for `ttlSeconds`, unless a write invalidated the
 * key within the marker's lifetime. Resolves true when stored. Redis errors
 * reject, as the client's commands do; callers treat the cache as optional.
 */
export async function fillCache(redis: RedisClient, key: string, value: string, ttlSeconds: number): Promise<boolean> {
  checkKey(key);
  return (await commands(redis)[FILL](key, writeMarkerKey(key), value, ttlSeconds)) === 1;
}

/** Deletes `key` and, for `markerMs`, keeps readers from filling it again (see the module comment). */
export async function invalidateCache(redis: RedisClient, key: string, markerMs = CACHE_WRITE_MARKER_MS): Promise<void> {
  checkKey(key);
  await commands(redis)[INVALIDATE](key, writeMarkerKey(key), markerMs);
}
