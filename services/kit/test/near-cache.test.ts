import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { closeRedis, createLogger, createNearCache, createRedis, fillCache, invalidateCache, readCacheTicket, waitForRedis, type NearCache, type RedisClient } from '../index.js';
import { ensureRedisCluster, freePort, REDIS_SINGLE_URL, redisClusterNodes, uniqueSuffix } from '../testing/index.js';

const logger = createLogger('kit-near-cache-test', 'silent');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns true, for at most `ms`. */
async function eventually(probe: () => Promise<boolean> | boolean, ms = 3_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await probe()) return true;
    await sleep(10);
  }
  return false;
}

/**
 * A read of `key` through `cache` whose answer from `redis` is held back until
 * `release()`: a read that is still out while the test changes things.
 */
async function heldRead(cache: NearCache, redis: RedisClient, key: string) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const result = cache.read(key, async () => {
    const value = await redis.get(key);
    await gate;
    return value;
  });
  await sleep(20);
  return { result, release };
}

/** Waits until every node the cache has seen confirmed tracking. */
async function tracking(cache: NearCache): Promise<void> {
  assert.ok(
    await eventually(() => {
      const nodes = Object.values(cache.stats().nodes);
      return nodes.length > 0 && nodes.every((state) => state === 'tracking');
    }),
    `tracking never confirmed: ${JSON.stringify(cache.stats())}`,
  );
}

for (const kind of ['cluster', 'single'] as const) {
  describe(`createNearCache on a ${kind === 'cluster' ? 'Redis Cluster' : 'single Redis'}`, () => {
    let redis: RedisClient;
    let other: RedisClient;
    const caches: NearCache[] = [];
    let n = 0;
    const key = () => `user:{${uniqueSuffix()}-${n++}}:profile`;
    const keyPrefix = `test:kit:near:${uniqueSuffix()}:`;
    const client = () =>
      kind === 'cluster' ? createRedis({ clusterNodes: redisClusterNodes, logger, keyPrefix }) : createRedis({ url: REDIS_SINGLE_URL, logger, keyPrefix });
    const nearCache = (options: { ttlMs?: number; maxEntries?: number; on?: RedisClient } = {}) => {
      // A generous silence budget: these tests assert strict near hits, and a starved CI machine can stall
      // the event loop past the default 300 ms (the hung-connection test below uses the defaults).
      const cache = createNearCache({ redis: options.on ?? redis, prefix: 'user:', logger, maxSilenceMs: 2_000, ...options });
      caches.push(cache);
      return cache;
    };
    /** A read through `cache` that counts the trips to Redis in `trips`. */
    const reader = (cache: NearCache, trips = { count: 0 }, on: RedisClient = redis) => (k: string) =>
      cache.read(k, () => {
        trips.count++;
        return on.get(k);
      });
    /** Reads `k` until tracking is confirmed for its node and the value is held here. */
    async function warm(cache: NearCache, k: string, on: RedisClient = redis) {
      const read = reader(cache, undefined, on);
      assert.ok(await eventually(async () => (await read(k)).source === 'near'), `never cached ${k}: ${JSON.stringify(cache.stats())}`);
    }

    before(async () => {
      if (kind === 'cluster') await ensureRedisCluster();
      redis = client();
      other = client();
      await Promise.all([waitForRedis(redis), waitForRedis(other)]);
    });
    afterEach(async () => {
      await Promise.all(caches.splice(0).map((cache) => cache.close()));
    });
    after(async () => {
      await closeRedis(redis);
      await closeRedis(other);
    });

    it('serves a value it read again from the process, without a trip to Redis, once tracking is confirmed', async () => {
      const cache = nearCache();
      const k = key();
      await redis.set(k, 'v1');
      const trips = { count: 0 };
      const read = reader(cache, trips);
      // The first read asks Redis and starts tracking the key's node; nothing is kept before Redis confirms it.
      assert.deepEqual(await read(k), { value: 'v1', source: 'redis' });
      await tracking(cache);
      assert.deepEqual(await read(k), { value: 'v1', source: 'redis' });
      const before = trips.count;
      for (let i = 0; i < 5; i++) assert.deepEqual(await read(k), { value: 'v1', source: 'near' });
      assert.equal(trips.count, before);
      assert.equal(cache.stats().entries, 1);
    });

    it('drops its copy when any other client changes the key, so the next read sees the change', async () => {
      const cache = nearCache();
      const k = key();
      await redis.set(k, 'old');
      await warm(cache, k);
      // Another connection (another replica, another service) writes; Redis reports it to the tracking connection.
      await other.set(k, 'new');
      assert.ok(await eventually(async () => (await reader(cache)(k)).value === 'new', 1_000), 'the change never reached the near cache');
      await other.del(k);
      assert.ok(await eventually(async () => (await reader(cache)(k)).value === null, 1_000), 'the delete never reached the near cache');
    });

    it('two processes: an invalidation through the kit by one drops the other\'s copy; an expiry in Redis does too', async () => {
      const second = client();
      await waitForRedis(second);
      try {
        const mine = nearCache();
        const theirs = nearCache({ on: second });
        const k = key();
        await fillCache(redis, k, '{"v":1}', 60, await readCacheTicket(redis, k));
        await warm(mine, k);
        await warm(theirs, k, second);
        // The other replica updates the row and invalidates: this process must stop serving v1.
        await invalidateCache(second, k);
        theirs.delete(k);
        assert.ok(await eventually(async () => (await reader(mine)(k)).value === null, 1_000), 'kept serving an invalidated entry');
        // An entry Redis expires is reported as well.
        await redis.set(k, '{"v":2}', 'PX', 1_000);
        await warm(mine, k);
        await sleep(1_100);
        // Redis deletes an expired key when it is next touched (or by its background sweep) and reports it then.
        assert.equal(await other.get(k), null);
        assert.ok(await eventually(async () => (await reader(mine)(k)).value === null, 1_000), 'kept serving an entry Redis expired');
      } finally {
        await closeRedis(second);
      }
    });

    it('does not keep a read that a change to its key overtook', async () => {
      const cache = nearCache();
      const k = key();
      await redis.set(k, 'before');
      await warm(cache, k);
      cache.delete(k);
      // A read whose answer left Redis before a write, and reached this process after the write's report.
      const stale = await cache.read(k, async () => {
        const value = await redis.get(k);
        await other.set(k, 'after');
        await sleep(100);
        return value;
      });
      assert.deepEqual(stale, { value: 'before', source: 'redis' });
      const trips = { count: 0 };
      assert.deepEqual(await reader(cache, trips)(k), { value: 'after', source: 'redis' });
      assert.equal(trips.count, 1, 'the overtaken value was kept');
    });

    it('a local delete drops the copy at once and keeps a read in flight from storing', async () => {
      const cache = nearCache();
      const k = key();
      await redis.set(k, 'v1');
      await warm(cache, k);
      cache.delete(k);
      const { result: inFlight, release } = await heldRead(cache, redis, k);
      // This process drops the key (as it does around its own writes) while the read above is still
      // out; Redis is not written, so no report arrives: only the local delete can keep the read out.
      cache.delete(k);
      release();
      assert.deepEqual(await inFlight, { value: 'v1', source: 'redis' });
      const trips = { count: 0 };
      assert.deepEqual(await reader(cache, trips)(k), { value: 'v1', source: 'redis' });
      assert.equal(trips.count, 1, 'the read in flight was kept after a local delete');
    });

    it('keeps a read that started after the invalidation while an older one is still out (a hot key is cached again at once)', async () => {
      const cache = nearCache();
      const k = key();
      await redis.set(k, 'v1');
      await warm(cache, k);
      cache.delete(k);
      const { result: older, release } = await heldRead(cache, redis, k);
      await other.set(k, 'v2');
      cache.delete(k);
      // The older read is still out; reads that start after the change (and after Redis's report of
      // it, which arrives when it does) are kept: the key is served from the process again.
      assert.ok(await eventually(async () => (await reader(cache)(k)).source === 'near', 2_000), 'the key was not cached again while an older read was out');
      assert.deepEqual(await reader(cache)(k), { value: 'v2', source: 'near' });
      release();
      assert.deepEqual(await older, { value: 'v1', source: 'redis' });
      assert.deepEqual(await reader(cache)(k), { value: 'v2', source: 'near' }, 'the older read replaced the newer copy');
    });

    it('stops serving a node\'s entries when its tracking connection is killed, misses no write made meanwhile, and resumes', async () => {
      const cache = nearCache();
      const k = key();
      await redis.set(k, 'v1');
      await warm(cache, k);
      // Kill the tracking connection on the key's node, then write while this process is not told.
      const admin = kind === 'cluster' ? nodeClient(redis, k) : new Redis(REDIS_SINGLE_URL);
      try {
        const list = (await admin.client('LIST')) as string;
        const ids = [...list.matchAll(/id=(\d+) [^\n]*name=noa-near-cache/g)].map((match) => match[1]!);
        assert.ok(ids.length > 0, 'no tracking connection on the node');
        for (const id of ids) await admin.client('KILL', 'ID', id);
        await other.set(k, 'v2');
        assert.deepEqual(await reader(cache)(k), { value: 'v2', source: 'redis' });
        // Tracking comes back by itself (reconnect), and the key is cached again.
        await warm(cache, k);
        assert.equal((await reader(cache)(k)).value, 'v2');
      } finally {
        admin.disconnect();
      }
    });

    if (kind === 'cluster') {
      it('serves nor keeps an entry whose slot has another master in the slot map, and stops tracking a node that is no master any more', async () => {
        const cluster = redis as import('ioredis').Cluster;
        const cache = nearCache();
        const k = key();
        await redis.set(k, 'v1');
        await warm(cache, k);
        const slot = calculateSlot(keyPrefix + k);
        const owner = cluster.slots[slot]![0]!;
        const elsewhere = cluster.nodes('master').map((n) => `${n.options.host}:${n.options.port}`).find((address) => address !== owner)!;
        const saved = cluster.slots.map((owners) => owners);
        try {
          // The slot map now says another master serves the key (a failover or resharding the client learned of).
          cluster.slots[slot] = [elsewhere];
          const trips = { count: 0 };
          assert.deepEqual(await reader(cache, trips)(k), { value: 'v1', source: 'redis' });
          // A read whose key moved while it was out is not kept either.
          cluster.slots[slot] = [owner];
          await cache.read(k, async () => {
            const value = await redis.get(k);
            cluster.slots[slot] = [elsewhere];
            return value;
          });
          cluster.slots[slot] = [owner];
          assert.deepEqual(await reader(cache, trips)(k), { value: 'v1', source: 'redis' });
          assert.equal(trips.count, 2);
          // After a slot map refresh in which the node is no master, its tracking connection is closed.
          for (let s = 0; s < cluster.slots.length; s++) if (cluster.slots[s]?.[0] === owner) cluster.slots[s] = [elsewhere];
          assert.equal(cache.stats().nodes[owner], 'tracking');
          cluster.emit('refresh');
          assert.equal(cache.stats().nodes[owner], undefined, JSON.stringify(cache.stats()));
        } finally {
          saved.forEach((owners, s) => (cluster.slots[s] = owners));
        }
        // Back in the map: tracked and cached again.
        await warm(cache, k);
      });
    }

    it('serves an entry for ttlMs at most, and keeps maxEntries at most (oldest out)', async () => {
      const cache = nearCache({ ttlMs: 200, maxEntries: 2 });
      const [a, b, c] = [key(), key(), key()];
      await Promise.all([redis.set(a, 'a'), redis.set(b, 'b'), redis.set(c, 'c')]);
      await warm(cache, a);
      await sleep(250);
      assert.equal((await reader(cache)(a)).source, 'redis', 'served past its TTL');
      await warm(cache, a);
      await warm(cache, b);
      await warm(cache, c);
      assert.equal(cache.stats().entries, 2);
      const trips = { count: 0 };
      assert.equal((await reader(cache, trips)(a)).source, 'redis', 'the oldest entry was kept beyond maxEntries');
      assert.equal(trips.count, 1);
    });

    it('neither tracks nor keeps keys outside its prefix, nor null answers', async () => {
      const cache = nearCache();
      const tracked = key();
      await redis.set(tracked, 'v');
      await warm(cache, tracked);
      const session = `session:{${tracked.slice(6, -9)}}`;
      await redis.set(session, 's');
      const trips = { count: 0 };
      const read = reader(cache, trips);
      assert.deepEqual(await read(session), { value: 's', source: 'redis' });
      assert.deepEqual(await read(session), { value: 's', source: 'redis' });
      const missing = key();
      assert.deepEqual(await read(missing), { value: null, source: 'redis' });
      assert.deepEqual(await read(missing), { value: null, source: 'redis' });
      assert.equal(trips.count, 4);
    });
  });
}

describe('createNearCache: a tracking connection that hangs', () => {
  it('drops the node\'s entries when its PING goes unanswered, and reads Redis until tracking is back', async () => {
    const proxy = await stallingProxy(6379);
    const redis = createRedis({ url: `redis://127.0.0.1:${proxy.port}`, logger, keyPrefix: `test:kit:near:${uniqueSuffix()}:` });
    const cache = createNearCache({ redis, prefix: 'user:', logger });
    try {
      await waitForRedis(redis);
      const k = `user:{${uniqueSuffix()}}:profile`;
      await redis.set(k, 'v1');
      const read = () => cache.read(k, () => redis.get(k));
      assert.ok(await eventually(async () => (await read()).source === 'near'));
      // The tracking connection (the second one through the proxy) stops delivering anything, without
      // closing, and so does every connection after it: its reconnects open, then never answer.
      proxy.stallFrom(1);
      await redis.set(k, 'v2');
      // Its report of the write is stuck: within maxSilenceMs (300 ms) the copy is no longer served,
      // long before the connection is given up for dead (a PING unanswered for 1 s).
      await sleep(350);
      assert.deepEqual(await read(), { value: 'v2', source: 'redis' });
      assert.ok(await eventually(() => cache.stats().nodes[`127.0.0.1:${proxy.port}`] === 'connecting', 3_000), 'a hung tracking connection was trusted');
      for (let i = 0; i < 3; i++) assert.deepEqual(await read(), { value: 'v2', source: 'redis' });
      // The network heals: a reconnect gets through, tracking is confirmed again, and so is caching.
      proxy.resume();
      assert.ok(await eventually(async () => (await read()).source === 'near', 8_000), `tracking never came back: ${JSON.stringify(cache.stats())}`);
      assert.equal((await read()).value, 'v2');
    } finally {
      await cache.close();
      await closeRedis(redis);
      proxy.close();
    }
  });
});

describe('createNearCache: a Redis of its own (a password, FLUSHALL)', () => {
  let server: ChildProcess;
  let port: number;
  before(async () => {
    port = await freePort();
    server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', 'near-secret'], { stdio: 'ignore' });
    const probe = new Redis({ port, password: 'near-secret', lazyConnect: true, retryStrategy: () => 50 });
    probe.on('error', () => undefined);
    assert.ok(await eventually(async () => (await probe.ping().catch(() => '')) === 'PONG', 5_000), 'redis-server did not start');
    probe.disconnect();
  });
  after(() => {
    server?.kill('SIGTERM');
  });

  it('logs in as the data client does (password in the URL), and drops everything on FLUSHALL', async () => {
    const redis = createRedis({ url: `redis://:near-secret@127.0.0.1:${port}`, logger });
    const cache = createNearCache({ redis, prefix: 'user:', logger, maxSilenceMs: 2_000 });
    try {
      await waitForRedis(redis);
      await redis.set('user:{1}:profile', 'one');
      await redis.set('user:{2}:profile', 'two');
      const read = (k: string) => cache.read(k, () => redis.get(k));
      for (const k of ['user:{1}:profile', 'user:{2}:profile']) assert.ok(await eventually(async () => (await read(k)).source === 'near'), `never cached ${k}`);
      cache.delete('user:{2}:profile');
      // A read whose answer left Redis before the flush and arrives after it is not kept either.
      const { result: inFlight, release } = await heldRead(cache, redis, 'user:{2}:profile');
      await redis.flushall();
      assert.ok(await eventually(() => cache.stats().entries === 0, 1_000), 'FLUSHALL left entries behind');
      release();
      assert.deepEqual(await inFlight, { value: 'two', source: 'redis' });
      assert.equal(cache.stats().entries, 0, 'a read that FLUSHALL overtook was kept');
      assert.deepEqual(await read('user:{1}:profile'), { value: null, source: 'redis' });
    } finally {
      await cache.close();
      await closeRedis(redis);
    }
  });

  it('backs off when the node refuses tracking (an ACL), instead of reconnecting every 50 ms', async () => {
    const admin = new Redis({ port, password: 'near-secret' });
    const redis = createRedis({ url: `redis://:near-secret@127.0.0.1:${port}`, logger });
    const cache = createNearCache({ redis, prefix: 'user:', logger });
    try {
      await admin.call('ACL', 'SETUSER', 'default', '-client|tracking');
      await waitForRedis(redis);
      const connections = async () => Number(/total_connections_received:(\d+)/.exec((await admin.info('stats')) as string)![1]);
      const before = await connections();
      assert.deepEqual(await cache.read('user:{9}:profile', () => redis.get('user:{9}:profile')), { value: null, source: 'redis' });
      await sleep(2_500);
      // Tries at 0 s, then after 1 s and 2 s more: a few connections, not fifty.
      const opened = (await connections()) - before;
      assert.ok(opened >= 1 && opened <= 4, `${opened} tracking connections in 2.5 s`);
      assert.deepEqual(cache.stats().nodes, { [`127.0.0.1:${port}`]: 'connecting' });
    } finally {
      await admin.call('ACL', 'SETUSER', 'default', '+client|tracking').catch(() => undefined);
      admin.disconnect();
      await cache.close();
      await closeRedis(redis);
    }
  });
});

/** A direct connection to the master that holds `key` (with the client's key prefix). */
function nodeClient(cluster: RedisClient, key: string): Redis {
  const prefix = (cluster.options as { keyPrefix?: string }).keyPrefix ?? '';
  const node = (cluster as import('ioredis').Cluster).nodes('master').find((candidate) => {
    const [host, port] = [candidate.options.host, candidate.options.port];
    return (cluster as import('ioredis').Cluster).slots[calculateSlot(prefix + key)]?.[0] === `${host}:${port}`;
  })!;
  return new Redis({ host: node.options.host, port: node.options.port });
}


/** A loopback forwarder whose connections from the n-th on (0-based) can be made to stop forwarding without closing. */
async function stallingProxy(targetPort: number) {
  const connections: { stalled: boolean; sockets: net.Socket[] }[] = [];
  let stallNew = false;
  const server = net.createServer((socket) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const connection = { stalled: stallNew, sockets: [socket, upstream] };
    connections.push(connection);
    socket.on('data', (data) => connection.stalled || upstream.write(data));
    upstream.on('data', (data) => connection.stalled || socket.write(data));
    const drop = () => connection.sockets.forEach((s) => s.destroy());
    socket.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stallFrom(index: number) {
      for (const connection of connections.slice(index)) connection.stalled = true;
      stallNew = true;
    },
    /** New connections forward again (stalled ones stay stalled). */
    resume() {
      stallNew = false;
    },
    close() {
      for (const connection of connections) connection.sockets.forEach((s) => s.destroy());
      server.close();
    },
  };
}
