import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { decodeKeysetCursor, encodeKeysetCursor, forwardedUserId, HttpError, parseInput, z, type PgPool } from '@noa/kit';
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
  /** Lifetime of presigned URLs, in seconds (default 3600, seed 001). */
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
  upload_expires_at: Date | null;
  uploaded_at: Date | null;
  cursor: string;
}

const COLUMNS = `id, object_key, type, file_name, content_type, size_bytes, created_at, upload_expires_at, uploaded_at,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '|' || id AS cursor`;

const toObject = (row: ObjectRow): StoredObject => ({
  id: row.id,
  key: row.object_key,
  type: row.type,
  fileName: row.file_name,
  contentType: row.content_type,
  size: Number(row.size_bytes),
  createdAt: row.created_at.toISOString(),
  status: row.uploaded_at === null ? 'pending' : 'uploaded',
  uploadedAt: row.uploaded_at === null ? null : row.uploaded_at.toISOString(),
});

/** S3's answer to a HeadObject of a key that does not exist. */
function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

/**
 * Private objects in S3 behind presigned URLs. Metadata and ownership live in
 * PostgreSQL (sharded by owner); the service never proxies bytes. Every
 * lookup filters by the caller's user id, so another user's object is a 404.
 *
 * The row is written when the upload URL is issued, before any bytes exist.
 * A download URL is only issued for bytes the service has seen: the first
 * read of a pending object asks S3 (HeadObject) and records `uploaded_at`,
 * so every later read is one PostgreSQL round trip again. Until then a read
 * answers 409 (the upload URL is still valid) or 410 (it expired unused).
 */
export async function storageRoutes(app: FastifyInstance, deps: StorageRoutesDeps): Promise<void> {
  const { pool, s3, bucket } = deps;
  const ttl = deps.urlTtlSeconds ?? 3600;
  const upload = uploadBody(deps.maxUploadBytes ?? 100 * 1024 * 1024);

  /**
   * How long a URL signed now will work: the configured lifetime, or less
   * when the credentials that sign it expire first. S3 refuses a presigned
   * URL once the session that signed it has expired, whatever X-Amz-Expires
   * says, and IRSA sessions last an hour (the SDK renews them a few minutes
   * before they end), so the URL carries the shorter of the two and the
   * client is told when it really ends.
   */
  async function signingWindow(): Promise<{ expiresIn: number; expiresAt: Date }> {
    const identity = await s3.config.credentials();
    const now = Date.now();
    const credentialSeconds = identity.expiration ? Math.floor((identity.expiration.getTime() - now) / 1000) : Number.POSITIVE_INFINITY;
    const expiresIn = Math.max(1, Math.min(ttl, credentialSeconds));
    return { expiresIn, expiresAt: new Date(now + expiresIn * 1000) };
  }

  app.post('/api/storage/uploads', async (request, reply) => {
    const userId = forwardedUserId(request);
    const input = parseInput(upload, request.body, 'body');
    const id = randomUUID();
    const key = objectKey(input.type, input.fileName, new Date(), id);
    const window = await signingWindow();
    // Content type and length are signed: S3 refuses a PUT that sends others,
    // which is what holds an upload to the size recorded here.
    const uploadUrl = await getSignedUrl(
      s3,
      new PutObjectCommand({ Bucket: bucket, Key: key, ContentType: input.contentType, ContentLength: input.size }),
      { expiresIn: window.expiresIn, signableHeaders: new Set(['content-type', 'content-length']) },
    );
    const { rows } = await pool.query<ObjectRow>(
      `INSERT INTO storage_objects (user_id, id, object_key, type, file_name, content_type, size_bytes, upload_expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
      [userId, id, key, input.type, input.fileName, input.contentType, input.size, window.expiresAt],
    );
    return reply
      .code(201)
      .header('location', `/api/storage/objects/${id}`)
      .send({
        ...toObject(rows[0]!),
        upload: { method: 'PUT', url: uploadUrl, headers: { 'content-type': input.contentType, 'content-length': String(input.size) }, expiresAt: window.expiresAt.toISOString() },
      });
  });

  app.get('/api/storage/objects', async (request) => {
    const userId = forwardedUserId(request);
    const query = parseInput(listQuery, request.query, 'query');
    const params: unknown[] = [userId, query.limit + 1];
    let keyset = '';
    if (query.cursor !== undefined) {
      const after = decodeKeysetCursor(query.cursor);
      if (!after) throw new HttpError(400, `query.cursor (${query.cursor}) is not a cursor returned by this API`);
      params.push(after.createdAt, after.id);
      keyset = 'AND (created_at, id) < ($3::timestamptz, $4::uuid)';
    }
    const { rows } = await pool.query<ObjectRow>(
      `SELECT ${COLUMNS} FROM storage_objects WHERE user_id = $1 ${keyset} ORDER BY created_at DESC, id DESC LIMIT $2`,
      params,
    );
    const page = rows.slice(0, query.limit);
    return {
      items: page.map(toObject),
      nextCursor: rows.length > query.limit ? encodeKeysetCursor(page.at(-1)!.cursor) : null,
    };
  });

  /** Records that the bytes are in S3, or says why there is nothing to download yet. */
  async function confirmUpload(request: FastifyRequest, userId: string, row: ObjectRow): Promise<StoredObject> {
    const object = toObject(row);
    try {
      await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: object.key }));
    } catch (error) {
      if (!isNotFound(error)) {
        request.log.warn({ err: error, key: object.key }, 'HeadObject failed: cannot confirm the upload');
        throw new HttpError(503, `the object store could not be reached (${(error as Error).name ?? 'error'}); retry later`);
      }
      // Rows from before migration 0006 did not record it: their URL had the configured lifetime at most.
      const urlExpiry = row.upload_expires_at ?? new Date(row.created_at.getTime() + ttl * 1000);
      if (urlExpiry.getTime() > Date.now()) {
        throw new HttpError(409, `object ${object.id} has not been uploaded yet: PUT its bytes to the upload URL before ${urlExpiry.toISOString()}`);
      }
      throw new HttpError(410, `object ${object.id} was never uploaded: its upload URL expired at ${urlExpiry.toISOString()}; delete it and request a new upload`);
    }
    // COALESCE keeps the first confirmation when two reads race.
    const { rows } = await pool.query<{ uploaded_at: Date }>(
      `UPDATE storage_objects SET uploaded_at = COALESCE(uploaded_at, now()) WHERE user_id = $1 AND id = $2 RETURNING uploaded_at`,
      [userId, object.id],
    );
    if (rows.length === 0) throw notFound();
    return { ...object, status: 'uploaded', uploadedAt: rows[0]!.uploaded_at.toISOString() };
  }

  app.get('/api/storage/objects/:id', async (request) => {
    const userId = forwardedUserId(request);
    const { rows } = await pool.query<ObjectRow>(`SELECT ${COLUMNS} FROM storage_objects WHERE user_id = $1 AND id = $2`, [userId, idParam(request)]);
    if (rows.length === 0) throw notFound();
    const row = rows[0]!;
    const object = row.uploaded_at === null ? await confirmUpload(request, userId, row) : toObject(row);
    const window = await signingWindow();
    const downloadUrl = await getSignedUrl(
      s3,
      new GetObjectCommand({
        Bucket: bucket,
        Key: object.key,
        // The browser saves it under the name the user gave, whatever the key says.
        ResponseContentDisposition: `attachment; filename="${object.fileName.replace(/["\\\r\n]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(object.fileName)}`,
      }),
      { expiresIn: window.expiresIn },
    );
    return { ...object, download: { method: 'GET', url: downloadUrl, expiresAt: window.expiresAt.toISOString() } };
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
