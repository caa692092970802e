import { closeRedis, createAmqp, createLogger, createPgPool, createRedis, waitForRedis, type AmqpClient, type PgPool, type RedisClient } from '@noa/kit';
import { createTestVhost, ensureRedisCluster, redisClusterNodes, uniqueSuffix, type TestDatabase, type TestVhost } from '@noa/kit/testing';
import type { FastifyInstance } from 'fastify';
import { buildApp, type JobOutbox } from '../index';
import { migratedDatabase } from './support';

export interface Harness {
  db: TestDatabase;
  vhost: TestVhost;
  pool: PgPool;
  redis: RedisClient;
  amqp: AmqpClient;
  app: FastifyInstance;
  outbox: JobOutbox;
  close(): Promise<void>;
}

/** A migrated database, an isolated vhost and the local Redis Cluster under a per-run key prefix, with the app built on them. */
export async function startHarness(name: string): Promise<Harness> {
  await ensureRedisCluster();
  const [db, vhost] = await Promise.all([migratedDatabase(name), createTestVhost(name)]);
  const logger = createLogger('workflows-test', 'silent');
  const pool = createPgPool({ url: db.url, max: 5, logger });
  const redis = createRedis({ clusterNodes: redisClusterNodes, logger, keyPrefix: `test:workflows:${uniqueSuffix()}:` });
  await waitForRedis(redis);
  const amqp = createAmqp({ url: vhost.url, logger });
  // The relay is driven by the tests (outbox.relayOnce), not by a timer.
  const { app, outbox } = buildApp({ pool, redis, amqp, logger, cacheTtlSeconds: 300, outboxRelayIntervalMs: 0 });
  await app.ready();
  await amqp.waitForConnect(10_000);
  return {
    db,
    vhost,
    pool,
    redis,
    amqp,
    app,
    outbox,
    async close() {
      await app.close();
      await amqp.close();
      await closeRedis(redis);
      await pool.end();
      await Promise.all([db.drop(), vhost.delete()]);
    },
  };
}
