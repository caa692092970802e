import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { checkPg, createHttpServer, createMetrics, type Logger, type PgPool, type ServiceMetrics } from '@noa/kit';
import type { FastifyInstance } from 'fastify';
import { storageRoutes } from './routes';

export interface StorageDeps {
  /** PostgreSQL/Citus pool (`createPgPool`). */
  readonly pool: PgPool;
  /** S3 client (`createS3Client`): IRSA credentials in the cluster. */
  readonly s3: S3Client;
  /** The private bucket (`S3_BUCKET`). */
  readonly bucket: string;
  /** The service's logger (`createLogger`). */
  readonly logger: Logger;
  /** Metrics registry (default: a new one for service `storage`). */
  readonly metrics?: ServiceMetrics;
  /** Presigned URL lifetime in seconds (`STORAGE_URL_TTL_SECONDS`, default 3600). */
  readonly urlTtlSeconds?: number;
  /** Largest upload a URL is issued for, in bytes (`STORAGE_MAX_UPLOAD_BYTES`, default 100 MiB). */
  readonly maxUploadBytes?: number;
}

/**
 * The storage API on the kit's server. Readiness needs PostgreSQL and the
 * bucket: without either no URL it hands out would work.
 */
export function buildApp(deps: StorageDeps): FastifyInstance {
  const app = createHttpServer({
    service: 'storage',
    logger: deps.logger,
    metrics: deps.metrics ?? createMetrics('storage'),
    // Bytes go straight to S3; requests carry only small JSON.
    bodyLimit: 16_384,
    checks: [
      { name: 'postgres', check: () => checkPg(deps.pool) },
      {
        name: 's3',
        // HeadBucket proves the credentials (IRSA) and the bucket policy, not just the network.
        check: async () => void (await deps.s3.send(new HeadBucketCommand({ Bucket: deps.bucket }))),
      },
    ],
  });
  void app.register(storageRoutes, {
    pool: deps.pool,
    s3: deps.s3,
    bucket: deps.bucket,
    urlTtlSeconds: deps.urlTtlSeconds,
    maxUploadBytes: deps.maxUploadBytes,
  });
  return app;
}
