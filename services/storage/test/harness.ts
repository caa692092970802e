import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { createLogger, createPgPool, type PgPool } from '@noa/kit';
import type { TestDatabase } from '@noa/kit/testing';
import type { FastifyInstance } from 'fastify';
import S3rver from 's3rver';
import { buildApp, createS3Client } from '../index';
import { migratedDatabase } from './support';

export interface Harness {
  db: TestDatabase;
  pool: PgPool;
  s3: S3Client;
  /** The s3rver's URL. */
  endpoint: string;
  bucket: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** A migrated database and an s3rver on a loopback port (its files in a temporary folder), with the app built on them. */
export async function startHarness(name: string, options: { maxUploadBytes?: number } = {}): Promise<Harness> {
  const bucket = 'noa-test-objects';
  const directory = await mkdtemp(join(tmpdir(), `noa-${name}-`));
  const s3rver = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { port } = await s3rver.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const s3 = createS3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  const db = await migratedDatabase(name);
  const logger = createLogger('storage-test', 'silent');
  const pool = createPgPool({ url: db.url, max: 5, logger });
  const app = buildApp({ pool, s3, bucket, logger, urlTtlSeconds: 120, maxUploadBytes: options.maxUploadBytes });
  await app.ready();
  return {
    db,
    pool,
    s3,
    endpoint,
    bucket,
    app,
    async close() {
      await app.close();
      s3.destroy();
      await s3rver.close();
      await pool.end();
      await db.drop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
