import { closeRedis, createLogger, createPgPool, createRedis, waitForRedis, type PgPool, type RedisClient } from '@noa/kit';
import { createTestDatabase, ensureRedisCluster, redisClusterNodes, uniqueSuffix, type TestDatabase } from '@noa/kit/testing';
import { runMigrations } from '@noa/migrate';
import type { FastifyInstance } from 'fastify';
import { buildApp, type UsersDeps } from '../index.js';

export const JWT = { secret: 'test-secret-that-is-at-least-32-characters', issuer: 'noa', audience: 'noa', ttlSeconds: 3600 };

export interface Harness {
  db: TestDatabase;
  pool: PgPool;
  redis: RedisClient;
  app: FastifyInstance;
  /** Builds another app on the same database and Redis (e.g. with other scrypt parameters). */
  build(overrides?: Partial<UsersDeps>): FastifyInstance;
  close(): Promise<void>;
}

/** A migrated database `noa_test_<name>` and a Redis Cluster client with a per-run key prefix. */
export async function startHarness(name: string): Promise<Harness> {
  await ensureRedisCluster();
  const db = await createTestDatabase(name);
  const logger = createLogger('users-test', 'silent');
  await runMigrations({ databaseUrl: db.url, logger });
  const pool = createPgPool({ url: db.url, max: 5, logger });
  const redis = createRedis({ clusterNodes: redisClusterNodes, logger, keyPrefix: `test:users:${uniqueSuffix()}:` });
  await waitForRedis(redis);
  const apps: FastifyInstance[] = [];
  const build = (overrides: Partial<UsersDeps> = {}) => {
    const app = buildApp({ pool, redis, logger, jwt: JWT, profileCacheTtlSeconds: 60, ...overrides });
    apps.push(app);
    return app;
  };
  const app = build();
  return {
    db,
    pool,
    redis,
    app,
    build,
    async close() {
      for (const a of apps) await a.close();
      await closeRedis(redis);
      await pool.end();
      await db.drop();
    },
  };
}
