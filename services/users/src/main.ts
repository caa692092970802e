import {
  ConfigError,
  closeRedis,
  createLogger,
  createMetrics,
  createNearCache,
  createPgPool,
  createRedis,
  loadEnv,
  runService,
  waitForRedis,
} from '@noa/kit';
import { buildApp } from './app.js';
import { usersEnv } from './config.js';

async function main(): Promise<void> {
  const env = loadEnv(usersEnv);
  const service = env.SERVICE_NAME ?? 'users';
  const logger = createLogger(service, env.LOG_LEVEL);
  const pool = createPgPool({ url: env.DATABASE_URL, max: env.DATABASE_POOL_MAX, logger });
  const redis = createRedis({
    clusterNodes: env.REDIS_CLUSTER_NODES,
    url: env.REDIS_URL,
    password: env.REDIS_PASSWORD,
    logger,
  });
  // The cache is optional, so a slow Redis must not block startup for long.
  await waitForRedis(redis, 5_000).catch((err: Error) => logger.warn({ err: { message: err.message } }, 'starting without the profile cache'));
  // Hot profiles are served from the process until Redis reports a change to them (kit near-cache.ts).
  const nearCache =
    env.PROFILE_NEAR_CACHE_TTL_MS > 0
      ? createNearCache({
          redis,
          prefix: 'user:',
          ttlMs: env.PROFILE_NEAR_CACHE_TTL_MS,
          maxEntries: env.PROFILE_NEAR_CACHE_MAX_ENTRIES,
          logger,
        })
      : undefined;
  const app = buildApp({
    pool,
    redis,
    nearCache,
    logger,
    metrics: createMetrics(service),
    profileCacheTtlSeconds: env.PROFILE_CACHE_TTL_SECONDS,
    jwt: { secret: env.JWT_SECRET, issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE, ttlSeconds: env.JWT_TTL_SECONDS },
  });
  await runService({
    app,
    port: env.PORT,
    logger,
    timeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    onShutdown: [async () => nearCache?.close(), () => closeRedis(redis), () => pool.end()],
  });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`users: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`users: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
