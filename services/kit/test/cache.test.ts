import assert from 'node:assert/strict';
import { closeRedis, createLogger, createRedis, fillCache, invalidateCache, waitForRedis, writeMarkerKey, type RedisClient } from '../index.js';
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

    it('fills an entry with its TTL', async () => {
      const k = key();
      assert.equal(await fillCache(redis, k, '{"v":1}', 60), true);
      assert.equal(await redis.get(k), '{"v":1}');
      const ttl = await redis.ttl(k);
      assert.ok(ttl > 55 && ttl <= 60, `ttl ${ttl}`);
    });

    it('does not let a reader put back the row it read before a write invalidated the entry', async () => {
      const k = key();
      await fillCache(redis, k, '{"v":1}', 60);
      // A reader misses (the entry is gone or expired) and loads version 1 from the database...
      await redis.del(k);
      const readBeforeTheWrite = '{"v":1}';
      // ...a writer commits version 2 and invalidates...
      await invalidateCache(redis, k, 300);
      // ...and the reader's fill comes last: refused, so nothing stale is cached.
      assert.equal(await fillCache(redis, k, readBeforeTheWrite, 60), false);
      assert.equal(await redis.exists(k), 0);
      // While the marker lives, fresh reads are not cached either; after it, they are.
      assert.equal(await fillCache(redis, k, '{"v":2}', 60), false);
      await sleep(350);
      assert.equal(await redis.exists(writeMarkerKey(k)), 0);
      assert.equal(await fillCache(redis, k, '{"v":2}', 60), true);
      assert.equal(await redis.get(k), '{"v":2}');
    });

    it('invalidation deletes the entry and leaves a marker for the given time (default 5 s)', async () => {
      const k = key();
      await fillCache(redis, k, 'x', 60);
      await invalidateCache(redis, k);
      assert.equal(await redis.exists(k), 0);
      const left = await redis.pttl(writeMarkerKey(k));
      assert.ok(left > 4_000 && left <= 5_000, `marker pttl ${left}`);
    });

    it('refuses a key without a hash tag, naming it', async () => {
      await assert.rejects(fillCache(redis, 'profile:42', 'x', 60), /cache key "profile:42" has no \{hash tag\}/);
      await assert.rejects(invalidateCache(redis, 'profile:42'), /cache key "profile:42" has no \{hash tag\}/);
    });
  });
}
