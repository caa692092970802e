import { ConfigError, createAmqp, createLogger, createMetrics, createPgPool, loadEnv, runService } from '@noa/kit';
import { buildApp } from './app';
import { workerEnv } from './config';
import { defaultHandlers } from './handlers';
import { validateRetryPolicy } from './retry';

async function main(): Promise<void> {
  const env = loadEnv(workerEnv);
  const service = env.SERVICE_NAME ?? 'worker';
  const logger = createLogger(service, env.LOG_LEVEL);
  const retry = validateRetryPolicy({ maxAttempts: env.JOB_MAX_ATTEMPTS, baseDelayMs: env.JOB_RETRY_BASE_DELAY_MS, maxDelayMs: env.JOB_RETRY_MAX_DELAY_MS });
  const pool = createPgPool({ url: env.DATABASE_URL, max: env.DATABASE_POOL_MAX, logger });
  const amqp = createAmqp({ url: env.AMQP_URL, logger });
  const worker = buildApp({
    pool,
    amqp,
    logger,
    metrics: createMetrics(service),
    handlers: defaultHandlers({ webhook: { timeoutMs: env.WEBHOOK_TIMEOUT_MS, allowPrivateNetworks: env.WEBHOOK_ALLOW_PRIVATE_NETWORKS } }),
    retry,
    prefetch: env.WORKER_PREFETCH,
    types: env.WORKER_JOB_TYPES,
    processedJobsRetentionHours: env.WORKER_PROCESSED_JOBS_RETENTION_HOURS,
  });
  // Consumers attach whenever RabbitMQ is (re)connected; until then readiness says so.
  await worker.startConsuming();
  await runService({
    app: worker.app,
    port: env.PORT,
    logger,
    timeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    onShutdown: [
      // Most of the deadline goes to in-flight jobs; the rest to closing the clients.
      // Pruning first: it stops between batches, so the jobs get the deadline.
      () => worker.retention.stop(),
      () => worker.consumer.stop(Math.max(1000, env.SHUTDOWN_TIMEOUT_MS - 3000)),
      () => amqp.close(),
      () => pool.end(),
    ],
  });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`worker: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`worker: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
