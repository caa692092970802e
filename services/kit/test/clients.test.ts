import assert from 'node:assert/strict';
import type { ConsumeMessage } from 'amqplib';
import {
  checkPg,
  checkRedis,
  closeRedis,
  createAmqp,
  createHttpServer,
  createLogger,
  createMetrics,
  createPgPool,
  withTransaction,
  createRedis,
  redisNodeOf,
  waitForRedis,
} from '../index.js';
import {
  createTestDatabase,
  createTestVhost,
  ensureRedisCluster,
  redisClusterNodes,
  startTcpProxy,
  uniqueSuffix,
  type TestDatabase,
  type TestVhost,
} from '../testing/index.js';

const logger = createLogger('kit-test', 'silent');

async function eventually(what: string, fn: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${what} did not happen within ${timeoutMs} ms`);
}

describe('createPgPool', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('kit_pg');
  });
  after(async () => db?.drop());

  it('withTransaction commits what its function did, and rolls it all back when it throws', async () => {
    const pool = createPgPool({ url: db.url, max: 2, logger });
    try {
      await pool.query('CREATE TABLE IF NOT EXISTS tx_probe (n int)');
      assert.equal(await withTransaction(pool, async (client) => (await client.query('INSERT INTO tx_probe VALUES (1), (2)')).rowCount), 2);
      await assert.rejects(
        withTransaction(pool, async (client) => {
          await client.query('INSERT INTO tx_probe VALUES (3)');
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      assert.deepEqual((await pool.query('SELECT n FROM tx_probe ORDER BY n')).rows.map((r) => r.n), [1, 2]);
      assert.equal(pool.waitingCount, 0, 'connections went back to the pool');
    } finally {
      await pool.end();
    }
  });

  it('round-trips a query and reports pool stats', async () => {
    const pool = createPgPool({ url: db.url, max: 2, logger });
    try {
      const { rows } = await pool.query<{ n: number; app: string }>(
        "SELECT $1::int + 1 AS n, current_setting('application_name') AS app",
        [41],
      );
      assert.deepEqual(rows, [{ n: 42, app: 'kit-test' }]);
      const stats = await checkPg(pool);
      assert.equal(stats.waitingCount, 0);
      assert.ok(stats.totalCount >= 1);
    } finally {
      await pool.end();
    }
  });

  it('fails fast when the pool is exhausted instead of waiting forever', async () => {
    const pool = createPgPool({ url: db.url, max: 1, logger, connectionTimeoutMs: 200 });
    const held = await pool.connect();
    try {
      const started = Date.now();
      await assert.rejects(pool.query('SELECT 1'), /timeout exceeded when trying to connect/);
      assert.ok(Date.now() - started < 2_000);
    } finally {
      held.release();
      await pool.end();
    }
  });

  it('gives up on a query past the client-side query timeout', async () => {
    const pool = createPgPool({ url: db.url, logger, queryTimeoutMs: 150 });
    try {
      const started = Date.now();
      await assert.rejects(pool.query('SELECT pg_sleep(2)'), /Query read timeout/);
      assert.ok(Date.now() - started < 1_500);
    } finally {
      await pool.end();
    }
  });

  it('cancels a statement past statement_timeout when configured', async () => {
    const pool = createPgPool({ url: db.url, logger, statementTimeoutMs: 100 });
    try {
      await assert.rejects(pool.query('SELECT pg_sleep(2)'), /canceling statement due to statement timeout/);
    } finally {
      await pool.end();
    }
  });

  it('readiness fails while PostgreSQL is unreachable and recovers by itself', async () => {
    const proxy = await startTcpProxy(5432);
    const url = new URL(db.url);
    url.port = String(proxy.port);
    const pool = createPgPool({ url: url.toString(), logger, connectionTimeoutMs: 500 });
    const app = createHttpServer({
      service: 'kit-test',
      logger,
      metrics: createMetrics('kit-test'),
      checks: [{ name: 'postgres', check: () => checkPg(pool) }],
    });
    try {
      assert.equal((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200);
      await proxy.cut();
      const down = await app.inject({ method: 'GET', url: '/health/ready' });
      assert.equal(down.statusCode, 503);
      assert.equal(down.json().checks.postgres.status, 'fail');
      await proxy.restore();
      await eventually('readiness recovering', async () => (await app.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200);
    } finally {
      await app.close();
      await pool.end();
      await proxy.close();
    }
  });
});

describe('createRedis', () => {
  const prefix = `test:kit:${uniqueSuffix()}:`;
  before(async function () {
    this.timeout(60_000);
    await ensureRedisCluster();
  });

  it('talks to the Redis Cluster from seed nodes, across slots and with hash tags', async () => {
    const redis = createRedis({ clusterNodes: redisClusterNodes.slice(0, 1), logger, keyPrefix: prefix });
    try {
      await waitForRedis(redis);
      // Keys on many slots: the client must follow the slot map to all masters.
      const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
      await Promise.all(keys.map((k, i) => redis.set(k, String(i), 'EX', 60)));
      assert.deepEqual(await Promise.all(keys.map((k) => redis.get(k))), keys.map((_, i) => String(i)));
      // A multi-key command works only when the keys share a hash tag.
      await redis.mset(`user:{42}:a`, '1', `user:{42}:b`, '2');
      assert.deepEqual(await redis.mget(`user:{42}:a`, `user:{42}:b`), ['1', '2']);
      // Refused either by the client (auto-pipelining checks slots before sending) or by Redis.
      await assert.rejects(redis.mget('k1', 'k2'), /CROSSSLOT|same slot/);
      const details = await checkRedis(redis);
      assert.deepEqual(details, { mode: 'cluster', state: 'ok', nodes: 3 });
      await Promise.all([...keys, `user:{42}:a`, `user:{42}:b`].map((k) => redis.del(k)));
    } finally {
      await closeRedis(redis);
    }
  });

  it('batches the commands of one event-loop turn into one pipeline per node, replies still per command', async () => {
    const redis = createRedis({ clusterNodes: redisClusterNodes.slice(0, 1), logger, keyPrefix: prefix });
    try {
      await waitForRedis(redis);
      const keys = Array.from({ length: 30 }, (_, i) => `batch:${i}`);
      const writes = keys.map((k, i) => redis.set(k, String(i), 'EX', 60));
      // All queued for this turn (one pipeline per master), none written on its own.
      assert.equal(redis.autoPipelineQueueSize, keys.length);
      await Promise.all(writes);
      const reads = keys.map((k) => redis.get(k));
      assert.ok(redis.autoPipelineQueueSize > 0);
      assert.deepEqual(await Promise.all(reads), keys.map((_, i) => String(i)));
      await Promise.all(keys.map((k) => redis.del(k)));
      const off = createRedis({ clusterNodes: redisClusterNodes.slice(0, 1), logger, keyPrefix: prefix, autoPipelining: false });
      try {
        await waitForRedis(off);
        const pending = off.get('batch:0');
        assert.equal(off.autoPipelineQueueSize, 0);
        assert.equal(await pending, null);
      } finally {
        await closeRedis(off);
      }
    } finally {
      await closeRedis(redis);
    }
  });

  it('fails commands at once while disconnected (no offline queue)', async () => {
    const proxy = await startTcpProxy(6379);
    const redis = createRedis({ url: `redis://127.0.0.1:${proxy.port}`, logger, keyPrefix: prefix });
    try {
      await waitForRedis(redis);
      assert.equal(await redis.ping(), 'PONG');
      await proxy.cut();
      await eventually('client noticing the outage', async () => redis.status !== 'ready');
      const started = Date.now();
      await assert.rejects(redis.get('x'));
      assert.ok(Date.now() - started < 1_500, 'a command during an outage fails fast');
      await assert.rejects(checkRedis(redis));
      await proxy.restore();
      await eventually('client reconnecting', async () => (await redis.ping()) === 'PONG');
    } finally {
      redis.disconnect();
      await proxy.close();
    }
  });

  it('names the master that serves a key, as the cluster itself reports it', async () => {
    const redis = createRedis({ clusterNodes: redisClusterNodes.slice(0, 1), logger });
    try {
      await waitForRedis(redis);
      const cluster = redis as import('ioredis').Cluster;
      for (const key of ['{198.51.100.7}', 'gw:api:{198.51.100.7}', 'user:{42}:profile', 'plain-key']) {
        const slot = Number(await cluster.call('CLUSTER', 'KEYSLOT', key));
        const owners = (await cluster.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
        const [, , [host, port]] = owners.find(([from, to]) => slot >= from && slot <= to)!;
        assert.equal(redisNodeOf(redis, key), `${host}:${port}`, key);
      }
      // One hash tag, one node, whatever surrounds it.
      assert.equal(redisNodeOf(redis, 'a:{198.51.100.7}'), redisNodeOf(redis, 'b:{198.51.100.7}:c'));
    } finally {
      await closeRedis(redis);
    }
    const single = createRedis({ url: 'redis://127.0.0.1:6379', logger });
    try {
      assert.equal(redisNodeOf(single, 'any'), 'single');
    } finally {
      await closeRedis(single);
    }
  });

  it('rejects ambiguous configuration', () => {
    assert.throws(
      () => createRedis({ clusterNodes: redisClusterNodes, url: 'redis://127.0.0.1:6379', logger }),
      /exactly one of clusterNodes or url/,
    );
    assert.throws(() => createRedis({ logger }), /exactly one of clusterNodes or url/);
  });
});

describe('createAmqp', () => {
  let vhost: TestVhost;
  before(async function () {
    this.timeout(60_000);
    vhost = await createTestVhost('kit_amqp');
  });
  after(async function () {
    this.timeout(30_000);
    await vhost?.delete();
  });

  it('publishes many messages with confirms in flight and every one arrives once', async () => {
    const client = createAmqp({ url: vhost.url, logger });
    const received: number[] = [];
    try {
      await client.onConnect(async (conn) => {
        const ch = await conn.createChannel();
        await ch.assertExchange('kit.jobs', 'direct', { durable: true });
        await ch.assertQueue('kit.jobs.q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
        await ch.bindQueue('kit.jobs.q', 'kit.jobs', 'job');
        await ch.prefetch(200);
        await ch.consume('kit.jobs.q', (msg: ConsumeMessage | null) => {
          if (!msg) return;
          assert.equal(msg.properties.contentType, 'application/json');
          assert.equal(msg.properties.deliveryMode, 2);
          received.push((JSON.parse(msg.content.toString()) as { n: number }).n);
          ch.ack(msg);
        });
      });
      await client.waitForConnect();
      const n = 2_000;
      await Promise.all(Array.from({ length: n }, (_, i) => client.publish('kit.jobs', 'job', { n: i })));
      await eventually('all messages consumed', async () => received.length >= n);
      assert.equal(received.length, n);
      assert.equal(new Set(received).size, n);
      assert.deepEqual(await client.check(), { connected: true });
    } finally {
      await client.close();
    }
  });

  it('waits for drain when the channel buffer is full instead of buffering without bound', async () => {
    const client = createAmqp({ url: vhost.url, logger });
    try {
      await client.onConnect(async (conn) => {
        const ch = await conn.createChannel();
        await ch.assertQueue('kit.drain.q', { durable: false });
        await ch.purgeQueue('kit.drain.q');
        await ch.close();
      });
      await client.waitForConnect();
      const channel = await client.confirmChannel();
      // Spy: count publishes made while the buffer is known full (after a
      // `false` and before the next 'drain'); the client must make none.
      let drains = 0;
      let full = false;
      let overruns = 0;
      channel.on('drain', () => {
        drains += 1;
        full = false;
      });
      const publish = channel.publish.bind(channel);
      channel.publish = ((...args: Parameters<typeof channel.publish>) => {
        if (full) overruns += 1;
        const ok = publish(...args);
        if (!ok) full = true;
        return ok;
      }) as typeof channel.publish;
      // amqplib's per-channel buffer holds 1024 frames: publishing more in one
      // tick fills it, so publish() must start waiting for 'drain'.
      const body = Buffer.alloc(100, 7);
      const count = 3_000;
      await Promise.all(Array.from({ length: count }, () => client.publish('', 'kit.drain.q', body, { persistent: false })));
      assert.ok(drains > 0, 'the buffer filled up at least once');
      assert.equal(overruns, 0, 'no publish while the buffer was full');
      const check = await conn(client);
      assert.equal(check, count);
    } finally {
      await client.close();
    }

    async function conn(c: typeof client): Promise<number> {
      let messages = -1;
      await c.onConnect(async (model) => {
        const ch = await model.createChannel();
        messages = (await ch.checkQueue('kit.drain.q')).messageCount;
        await ch.deleteQueue('kit.drain.q');
        await ch.close();
      });
      return messages;
    }
  });

  it('rejects a publish the broker cannot route to a missing exchange', async () => {
    const client = createAmqp({ url: vhost.url, logger });
    try {
      await client.waitForConnect();
      await assert.rejects(client.publish('kit.no-such-exchange', 'x', 'hello'), /NOT_FOUND|no exchange/);
      // The failed channel is replaced: the next publish works.
      await client.onConnect(async (conn) => {
        const ch = await conn.createChannel();
        await ch.assertExchange('kit.other', 'fanout', { durable: false, autoDelete: false });
        await ch.close();
      });
      await client.publish('kit.other', '', 'hello');
    } finally {
      await client.close();
    }
  });

  it('reconnects after the connection drops, re-runs setups and publishes again', async () => {
    const proxy = await startTcpProxy(5672);
    const url = new URL(vhost.url);
    url.port = String(proxy.port);
    const client = createAmqp({ url: url.toString(), logger, reconnectInitialDelayMs: 50, publishTimeoutMs: 10_000 });
    let setups = 0;
    try {
      await client.onConnect(async (conn) => {
        setups += 1;
        const ch = await conn.createChannel();
        await ch.assertQueue('kit.reconnect.q', { durable: true });
        await ch.close();
      });
      await client.waitForConnect();
      assert.equal(setups, 1);
      await client.publish('', 'kit.reconnect.q', 'before');
      proxy.dropConnections();
      await eventually('the client noticing the drop', async () => !client.connected, 5_000);
      await assert.rejects(client.check(), /not connected/);
      // Published while reconnecting: waits for the connection, then confirms.
      await client.publish('', 'kit.reconnect.q', 'after');
      assert.equal(setups, 2);
      assert.deepEqual(await client.check(), { connected: true });
      const probe = createAmqp({ url: vhost.url, logger });
      const bodies: string[] = [];
      await probe.onConnect(async (conn) => {
        const c = await conn.createChannel();
        for (;;) {
          const msg = await c.get('kit.reconnect.q', { noAck: true });
          if (!msg) break;
          bodies.push(msg.content.toString());
        }
        await c.close();
      });
      await probe.waitForConnect();
      await probe.close();
      assert.deepEqual(bodies, ['before', 'after']);
    } finally {
      await client.close();
      await proxy.close();
    }
  });

  it('publish fails after publishTimeoutMs when RabbitMQ stays down', async () => {
    const proxy = await startTcpProxy(5672);
    const url = new URL(vhost.url);
    url.port = String(proxy.port);
    const client = createAmqp({ url: url.toString(), logger, publishTimeoutMs: 300 });
    try {
      await client.waitForConnect();
      await proxy.cut();
      await eventually('the client noticing the outage', async () => !client.connected, 5_000);
      await assert.rejects(client.publish('', 'kit.reconnect.q', 'lost'), /not connected after 300 ms/);
    } finally {
      await client.close();
      await proxy.close();
    }
  });
});
