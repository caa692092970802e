import { closeRedis, ConfigError, createAmqp, createLogger, createMetrics, createNearCache, createPgPool, createRedis, loadEnv, runService, waitForRedis } from '@noa/kit';
import { buildApp } from './app';
import { workflowsEnv } from './config';

async function main(): Promise<void> {
  const env = loadEnv(workflowsEnv);
  const service = env.SERVICE_NAME ?? 'workflows';
  const logger = createLogger(service, env.LOG_LEVEL);
  const pool = createPgPool({ url: env.DATABASE_URL, max: env.DATABASE_POOL_MAX, logger });
  const redis = createRedis({ clusterNodes: env.REDIS_CLUSTER_NODES, url: env.REDIS_URL, password: env.REDIS_PASSWORD, logger });
  // The cache is optional, so a slow Redis must not block startup for long.
  await waitForRedis(redis, 5_000).catch((err: Error) => logger.warn({ err: { message: err.message } }, 'starting without the workflow cache'));
  const amqp = createAmqp({ url: env.AMQP_URL, logger, publishTimeoutMs: env.JOB_PUBLISH_TIMEOUT_MS });
  // Hot workflows are served from the process until Redis reports a change to them (kit near-cache.ts).
  const nearCache =
    env.WORKFLOW_NEAR_CACHE_TTL_MS > 0
      ? createNearCache({ redis, prefix: 'wf:', ttlMs: env.WORKFLOW_NEAR_CACHE_TTL_MS, maxEntries: env.WORKFLOW_NEAR_CACHE_MAX_ENTRIES, logger })
      : undefined;
  const { app } = buildApp({
    nearCache,
    pool,
    redis,
    amqp,
    logger,
    metrics: createMetrics(service),
    cacheTtlSeconds: env.WORKFLOW_CACHE_TTL_S,
    outboxRelayIntervalMs: env.OUTBOX_RELAY_INTERVAL_MS,
    outboxRelayBatchSize: env.OUTBOX_RELAY_BATCH,
    allowPrivateWebhooks: env.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
  });
  await runService({
    app,
    port: env.PORT,
    logger,
    timeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    // The HTTP server has drained first (and the outbox relay stopped with it), so nothing is still publishing.
    onShutdown: [() => amqp.close(), async () => nearCache?.close(), () => closeRedis(redis), () => pool.end()],
  });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`workflows: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`workflows: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
