import { randomInt } from 'node:crypto';
import type { NearCache } from './near-cache.js';
import type { RedisClient } from './redis.js';

/**
 * Cache-aside writes that cannot put back what a write just replaced.
 *
 * The race every cache-aside has: a reader misses, reads the row from
 * PostgreSQL, a writer commits a change and deletes the cache entry, and then
 * the reader stores the row it read, which is the old one. That stale entry
 * is then served until its TTL (minutes), on every replica.
 *
 * Here every entry has a generation next to it (`<key>:gen`), which each
 * invalidation replaces with a new random number (never a counter: one that
 * expired and restarted could come back to a value a reader still holds; a
 * number, so a script that INCRs it still works on it). A reader that missed
 * takes a ticket (the current generation, {@link readCacheTicket}) *before*
 * it reads the database, and
 * its fill is a script that stores the value only if the generation is still
 * the ticket's. A write that committed after the ticket was taken has moved
 * the generation on, so that reader stores nothing, however long its read
 * took (a slow pool, a slow query). A write that committed before the ticket
 * is in what the reader read. Fill and invalidation are each one round trip,
 * atomic on the entry's node; the ticket costs a round trip on misses only.
 *
 * The generation outlives the last write by {@link CACHE_GENERATION_TTL_MS},
 * far longer than any read may take (the kit's pool gives up after 5 s for a
 * connection and 15 s per query). Keys must carry a hash tag
 * (`user:{42}:profile`) so the generation lands in the entry's slot on a
 * Redis Cluster.
 */

/** How long an entry's generation is kept after its last invalidation (1 hour). */
export const CACHE_GENERATION_TTL_MS = 3_600_000;

/** What a reader holds between its miss and its fill: the entry's generation then. */
export type CacheTicket = string;

const FILL_SCRIPT = `
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
`;

const INVALIDATE_SCRIPT = `
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1])
return 1
`;

const FILL = 'noaCacheFill';
const INVALIDATE = 'noaCacheInvalidate';

interface CacheCommands {
  [FILL](key: string, generation: string, value: string, ttlSeconds: number, ticket: string): Promise<number>;
  [INVALIDATE](key: string, generation: string, generationTtlMs: number, newGeneration: string): Promise<number>;
}

/** The key of the generation kept next to `key`. */
export function cacheGenerationKey(key: string): string {
  return `${key}:gen`;
}

/**
 * Defines the fill and invalidation scripts as commands of `redis`.
 * `createRedis` does it when it creates a client: defined later, on the
 * first fill, a command issued in the same event-loop turn could already
 * have started an auto-pipeline that lacks the new command, and ioredis 5
 * then rejects the script and throws `results[i] is not iterable` as an
 * uncaught exception (ioredis#1931, fixed only in later releases).
 */
export function defineCacheCommands(redis: RedisClient): void {
  const client = redis as unknown as Partial<CacheCommands>;
  if (typeof client[FILL] !== 'function') redis.defineCommand(FILL, { numberOfKeys: 2, lua: FILL_SCRIPT });
  if (typeof client[INVALIDATE] !== 'function') redis.defineCommand(INVALIDATE, { numberOfKeys: 2, lua: INVALIDATE_SCRIPT });
}

function commands(redis: RedisClient): CacheCommands {
  // Clients from createRedis have them already; another client gets them on first use (see above).
  defineCacheCommands(redis);
  return redis as unknown as CacheCommands;
}

function checkKey(key: string): void {
  if (!/\{[^{}]+\}/.test(key)) {
    throw new Error(`cache key ${JSON.stringify(key)} has no {hash tag}: its generation could land in another slot of the Redis Cluster`);
  }
}

/**
 * The ticket a reader takes after a miss and before it reads the database.
 * Redis errors reject, as the client's commands do; a reader without a
 * ticket simply does not fill.
 */
export async function readCacheTicket(redis: RedisClient, key: string): Promise<CacheTicket> {
  checkKey(key);
  return (await redis.get(cacheGenerationKey(key))) ?? '0';
}

/**
 * Stores `value` under `key` for `ttlSeconds`, unless a write invalidated the
 * key since `ticket` was taken. Resolves true when stored. Redis errors
 * reject; callers treat the cache as optional.
 */
export async function fillCache(redis: RedisClient, key: string, value: string, ttlSeconds: number, ticket: CacheTicket): Promise<boolean> {
  checkKey(key);
  return (await commands(redis)[FILL](key, cacheGenerationKey(key), value, ttlSeconds, ticket)) === 1;
}

/**
 * Deletes `key` and moves its generation on, so no reader that started before
 * can fill it (see the module comment). With `near` (this process's near
 * cache), its copy is dropped before and again after Redis drops the entry —
 * also when Redis fails — so a read of this process that fetched the old
 * entry in between is refused or dropped at once rather than when Redis's
 * report of the delete arrives: the writer answers its own write.
 */
export async function invalidateCache(redis: RedisClient, key: string, near?: Pick<NearCache, 'delete'>): Promise<void> {
  checkKey(key);
  near?.delete(key);
  try {
    await commands(redis)[INVALIDATE](key, cacheGenerationKey(key), CACHE_GENERATION_TTL_MS, String(randomInt(1, 2 ** 48)));
  } finally {
    near?.delete(key);
  }
}
