import { ConfigError, createLogger, createMetrics, createPgPool, loadEnv, runService } from '@noa/kit';
import { buildApp } from './app';
import { storageEnv } from './config';
import { createS3Client } from './s3';

async function main(): Promise<void> {
  const env = loadEnv(storageEnv);
  const service = env.SERVICE_NAME ?? 'storage';
  const logger = createLogger(service, env.LOG_LEVEL);
  const pool = createPgPool({ url: env.DATABASE_URL, max: env.DATABASE_POOL_MAX, logger });
  // No credentials here: the default chain finds the pod's IRSA web identity
  // in the cluster and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY locally.
  const s3 = createS3Client({ region: env.AWS_REGION, endpoint: env.S3_ENDPOINT, forcePathStyle: env.S3_FORCE_PATH_STYLE });
  const app = buildApp({
    pool,
    s3,
    bucket: env.S3_BUCKET,
    logger,
    metrics: createMetrics(service),
    urlTtlSeconds: env.STORAGE_URL_TTL_SECONDS,
    maxUploadBytes: env.STORAGE_MAX_UPLOAD_BYTES,
  });
  await runService({
    app,
    port: env.PORT,
    logger,
    timeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    onShutdown: [async () => s3.destroy(), () => pool.end()],
  });
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`storage: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`storage: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
