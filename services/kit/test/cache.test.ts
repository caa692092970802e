import assert from 'node:assert/strict';
import { cacheGenerationKey, closeRedis, createLogger, createRedis, fillCache, invalidateCache, readCacheTicket, waitForRedis, type RedisClient } from '../index.js';
import { ensureRedisCluster, REDIS_SINGLE_URL, redisClusterNodes, uniqueSuffix } from '../testing/index.js';

const logger = createLogger('kit-cache-test', 'silent');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const kind of ['cluster', 'single'] as const) {
  describe(`fillCache / invalidateCache on a ${kind === 'cluster' ? 'Redis Cluster' : 'single Redis'}`, () => {
    let redis: RedisClient;
    let n = 0;
    const key = () => `profile:{${uniqueSuffix()}-${n++}}:json`;

    before(async () => {
      const keyPrefix = `test:kit:cache:${uniqueSuffix()}:`;
      if (kind === 'cluster') {
        await ensureRedisCluster();
        redis = createRedis({ clusterNodes: redisClusterNodes, logger, keyPrefix });
      } else {
        redis = createRedis({ url: REDIS_SINGLE_URL, logger, keyPrefix });
      }
      await waitForRedis(redis);
    });
    after(() => closeRedis(redis));

    it('a fresh client runs the first invalidation in the same auto-pipeline as other commands (ioredis#1931)', async () => {
      const fresh = kind === 'cluster' ? createRedis({ clusterNodes: redisClusterNodes, logger }) : createRedis({ url: REDIS_SINGLE_URL, logger });
      const uncaught: Error[] = [];
      const onUncaught = (error: Error) => uncaught.push(error);
      process.prependListener('uncaughtException', onUncaught);
      try {
        await waitForRedis(fresh);
        const k = `test:kit:cache:${uniqueSuffix()}:{first}:json`;
        await fresh.set(k, 'x');
        // One event-loop turn: a plain command opens the node's auto-pipeline, then the first script call joins it.
        const [before, invalidated, after] = await Promise.allSettled([fresh.exists(k), invalidateCache(fresh, k), fresh.exists(k)]);
        assert.deepEqual([before.status, invalidated.status, after.status], ['fulfilled', 'fulfilled', 'fulfilled'], JSON.stringify([before, invalidated, after]));
        await sleep(20);
        assert.deepEqual(uncaught.map((error) => error.message), []);
        assert.equal(await fresh.exists(k), 0);
      } finally {
        process.off('uncaughtException', onUncaught);
        await closeRedis(fresh);
      }
    });

    it('with a near cache, drops its copy before Redis drops the entry and again after', async () => {
      const k = key();
      await fillCache(redis, k, 'x', 60, await readCacheTicket(redis, k));
      // Each delete asks Redis, on the same connection and so in order with the invalidation, whether the entry is still there.
      const seen: Promise<number>[] = [];
      await invalidateCache(redis, k, { delete: (deleted) => seen.push(redis.exists(deleted)) });
      assert.deepEqual(await Promise.all(seen), [1, 0]);
    });

    it('fills an entry with its TTL', async () => {
      const k = key();
      assert.equal(await fillCache(redis, k, '{"v":1}', 60, await readCacheTicket(redis, k)), true);
      assert.equal(await redis.get(k), '{"v":1}');
      const ttl = await redis.ttl(k);
      assert.ok(ttl > 55 && ttl <= 60, `ttl ${ttl}`);
    });

    it('does not let a reader put back the row it read before a write invalidated the entry, however long its read took', async () => {
      const k = key();
      // A reader misses and takes its ticket, then reads version 1 from the database...
      const ticket = await readCacheTicket(redis, k);
      const readBeforeTheWrite = '{"v":1}';
      // ...a writer commits version 2 and invalidates...
      await invalidateCache(redis, k);
      // ...and the reader's fill comes last, even long after (no time window): refused, nothing stale is cached.
      await sleep(50);
      assert.equal(await fillCache(redis, k, readBeforeTheWrite, 60, ticket), false);
      assert.equal(await redis.exists(k), 0);
      // A reader that took its ticket after the write fills at once.
      assert.equal(await fillCache(redis, k, '{"v":2}', 60, await readCacheTicket(redis, k)), true);
      assert.equal(await redis.get(k), '{"v":2}');
    });

    it('invalidation deletes the entry and moves its generation on to a new value, kept for an hour after the last write', async () => {
      const k = key();
      await fillCache(redis, k, 'x', 60, await readCacheTicket(redis, k));
      assert.equal(await readCacheTicket(redis, k), '0');
      await invalidateCache(redis, k);
      const first = await readCacheTicket(redis, k);
      await invalidateCache(redis, k);
      const second = await readCacheTicket(redis, k);
      assert.equal(await redis.exists(k), 0);
      assert.notEqual(first, '0');
      assert.notEqual(second, first);
      assert.match(second, /^\d+$/, 'a number: a script that INCRs the generation still works on it');
      const left = await redis.pttl(cacheGenerationKey(k));
      assert.ok(left > 3_590_000 && left <= 3_600_000, `generation pttl ${left}`);
    });

    it('refuses a stale fill even when the generation expired and a new write came after (no counter to come back round)', async () => {
      const k = key();
      await invalidateCache(redis, k);
      const ticket = await readCacheTicket(redis, k);
      // The generation expires (an hour after the last write), then a write invalidates again.
      await redis.del(cacheGenerationKey(k));
      await invalidateCache(redis, k);
      assert.equal(await fillCache(redis, k, '{"stale":true}', 60, ticket), false);
      assert.equal(await redis.exists(k), 0);
    });

    it('refuses a key without a hash tag, naming it', async () => {
      await assert.rejects(fillCache(redis, 'profile:42', 'x', 60, '0'), /cache key "profile:42" has no \{hash tag\}/);
      await assert.rejects(readCacheTicket(redis, 'profile:42'), /cache key "profile:42" has no \{hash tag\}/);
      await assert.rejects(invalidateCache(redis, 'profile:42'), /cache key "profile:42" has no \{hash tag\}/);
    });
  });
}
