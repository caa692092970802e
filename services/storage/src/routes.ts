import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { forwardedUserId, HttpError, parseInput, z, type PgPool } from '@noa/kit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { objectKey } from './keys';
import { listQuery, uploadBody, type StoredObject } from './model';

export interface StorageRoutesDeps {
  /** Object metadata and ownership (`storage_objects`). */
  readonly pool: PgPool;
  /** Presigns URLs and deletes objects (`createS3Client`). */
  readonly s3: S3Client;
  /** The private bucket every object goes to. */
  readonly bucket: string;
  /** Lifetime of presigned URLs, in seconds (default 900). */
  readonly urlTtlSeconds?: number;
  /** Largest upload a presigned URL is issued for, in bytes (default 100 MiB). */
  readonly maxUploadBytes?: number;
}

const uuid = z.uuid();

const notFound = () => new HttpError(404, 'object not found');

function idParam(request: FastifyRequest): string {
  const { id } = request.params as { id: string };
  if (!uuid.safeParse(id).success) throw new HttpError(400, `params.id (${id}) must be a UUID`);
  return id;
}

interface ObjectRow {
  id: string;
  object_key: string;
  type: string;
  file_name: string;
  content_type: string;
  size_bytes: string;
  created_at: Date;
  cursor: string;
}

const COLUMNS = `id, object_key, type, file_name, content_type, size_bytes, created_at,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '|' || id AS cursor`;

const toObject = (row: ObjectRow): StoredObject => ({
  id: row.id,
  key: row.object_key,
  type: row.type,
  fileName: row.file_name,
  contentType: row.content_type,
  size: Number(row.size_bytes),
  createdAt: row.created_at.toISOString(),
});

/**
 * Private objects in S3 behind presigned URLs. Metadata and ownership live in
 * PostgreSQL (sharded by owner); the service never proxies bytes. Every
 * lookup filters by the caller's user id, so another user's object is a 404.
 */
export async function storageRoutes(app: FastifyInstance, deps: StorageRoutesDeps): Promise<void> {
  const { pool, s3, bucket } = deps;
  const ttl = deps.urlTtlSeconds ?? 900;
  const upload = uploadBody(deps.maxUploadBytes ?? 100 * 1024 * 1024);

  const expiresAt = () => new Date(Date.now() + ttl * 1000).toISOString();

  app.post('/api/storage/uploads', async (request, reply) => {
    const userId = forwardedUserId(request);
    const input = parseInput(upload, request.body, 'body');
    const id = randomUUID();
    const key = objectKey(input.type, input.fileName, new Date(), id);
    // Content type and length are signed: S3 refuses a PUT that sends others,
    // which is what holds an upload to the size recorded here.
    const uploadUrl = await getSignedUrl(
      s3,
      new PutObjectCommand({ Bucket: bucket, Key: key, ContentType: input.contentType, ContentLength: input.size }),
      { expiresIn: ttl, signableHeaders: new Set(['content-type', 'content-length']) },
    );
    const { rows } = await pool.query<ObjectRow>(
      `INSERT INTO storage_objects (user_id, id, object_key, type, file_name, content_type, size_bytes) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${COLUMNS}`,
      [userId, id, key, input.type, input.fileName, input.contentType, input.size],
    );
    return reply
      .code(201)
      .header('location', `/api/storage/objects/${id}`)
      .send({
        ...toObject(rows[0]!),
        upload: { method: 'PUT', url: uploadUrl, headers: { 'content-type': input.contentType, 'content-length': String(input.size) }, expiresAt: expiresAt() },
      });
  });

  app.get('/api/storage/objects', async (request) => {
    const userId = forwardedUserId(request);
    const query = parseInput(listQuery, request.query, 'query');
    const params: unknown[] = [userId, query.limit + 1];
    let keyset = '';
    if (query.cursor !== undefined) {
      const raw = Buffer.from(query.cursor, 'base64url').toString('utf8');
      const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|([0-9a-f-]{36})$/.exec(raw);
      if (!match) throw new HttpError(400, `query.cursor (${query.cursor}) is not a cursor returned by this API`);
      params.push(match[1], match[2]);
      keyset = 'AND (created_at, id) < ($3::timestamptz, $4::uuid)';
    }
    const { rows } = await pool.query<ObjectRow>(
      `SELECT ${COLUMNS} FROM storage_objects WHERE user_id = $1 ${keyset} ORDER BY created_at DESC, id DESC LIMIT $2`,
      params,
    );
    const page = rows.slice(0, query.limit);
    return {
      items: page.map(toObject),
      nextCursor: rows.length > query.limit ? Buffer.from(page.at(-1)!.cursor, 'utf8').toString('base64url') : null,
    };
  });

  app.get('/api/storage/objects/:id', async (request) => {
    const userId = forwardedUserId(request);
    const { rows } = await pool.query<ObjectRow>(`SELECT ${COLUMNS} FROM storage_objects WHERE user_id = $1 AND id = $2`, [userId, idParam(request)]);
    if (rows.length === 0) throw notFound();
    const object = toObject(rows[0]!);
    const downloadUrl = await getSignedUrl(
      s3,
      new GetObjectCommand({
        Bucket: bucket,
        Key: object.key,
        // The browser saves it under the name the user gave, whatever the key says.
        ResponseContentDisposition: `attachment; filename="${object.fileName.replace(/["\\\r\n]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(object.fileName)}`,
      }),
      { expiresIn: ttl },
    );
    return { ...object, download: { method: 'GET', url: downloadUrl, expiresAt: expiresAt() } };
  });

  app.delete('/api/storage/objects/:id', async (request, reply) => {
    const userId = forwardedUserId(request);
    const id = idParam(request);
    const { rows } = await pool.query<{ object_key: string }>(`SELECT object_key FROM storage_objects WHERE user_id = $1 AND id = $2`, [userId, id]);
    if (rows.length === 0) throw notFound();
    // The object first: a failure leaves the row, so the delete can be retried;
    // S3 answers a delete of a missing key with success, so retries are safe.
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: rows[0]!.object_key }));
    await pool.query(`DELETE FROM storage_objects WHERE user_id = $1 AND id = $2`, [userId, id]);
    return reply.code(204).send();
  });
}
