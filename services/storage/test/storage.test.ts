import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createLogger } from '@noa/kit';
import type { FastifyInstance } from 'fastify';
import { buildApp, createS3Client } from '../index';
import { startHarness, type Harness } from './harness';

describe('storage API against PostgreSQL and an S3-compatible server', function () {
  this.timeout(30_000);
  let harness: Harness;
  let app: FastifyInstance;
  let s3: S3Client;
  let bucket: string;
  const alice = randomUUID();
  const bob = randomUUID();
  const as = (user: string) => ({ 'x-user-id': user });

  before(async () => {
    harness = await startHarness('storage_api', { maxUploadBytes: 1024 });
    ({ app, s3, bucket } = harness);
  });

  after(async () => {
    await harness?.close();
  });

  const requestUpload = (user: string, body: unknown) => app.inject({ method: 'POST', url: '/api/storage/uploads', headers: as(user), payload: body as object });

  it('issues a presigned PUT, then a presigned GET that returns the same bytes to the owner', async () => {
    const content = Buffer.from('%PDF-1.7 quarterly numbers');
    const res = await requestUpload(alice, { fileName: '../Q3 Report (final).pdf', contentType: 'application/pdf', size: content.length, type: 'documents' });
    assert.equal(res.statusCode, 201);
    const created = res.json();
    const today = new Date().toISOString().slice(0, 10);
    assert.equal(created.key, `documents/${today}/${created.id}-Q3-Report-final.pdf`);
    assert.equal(created.fileName, '../Q3 Report (final).pdf');
    assert.equal(created.size, content.length);
    assert.equal(created.upload.method, 'PUT');

    const put = await fetch(created.upload.url, { method: 'PUT', headers: created.upload.headers, body: content });
    assert.equal(put.status, 200, await put.text());
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: created.key }));
    assert.equal(head.ContentType, 'application/pdf');

    const got = await app.inject({ method: 'GET', url: `/api/storage/objects/${created.id}`, headers: as(alice) });
    assert.equal(got.statusCode, 200);
    const download = await fetch(got.json().download.url);
    assert.equal(download.status, 200);
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), content);
    assert.match(download.headers.get('content-disposition') ?? '', /attachment; filename="..\/Q3 Report \(final\).pdf"/);
  });

  it('signs the content type and length, so S3 refuses an upload of another size or type', async () => {
    // s3rver does not verify SigV4 signatures, so this checks what S3 verifies: the signed headers.
    const created = (await requestUpload(alice, { fileName: 'a.txt', contentType: 'text/plain', size: 4 })).json();
    const url = new URL(created.upload.url);
    assert.equal(url.searchParams.get('X-Amz-SignedHeaders'), 'content-length;content-type;host');
    assert.equal(url.searchParams.get('X-Amz-Expires'), '120');
    assert.equal(url.pathname, `/${bucket}/${created.key}`);
    assert.deepEqual([...url.searchParams.keys()].filter((k) => k.toLowerCase().startsWith('x-amz-checksum')), [], 'no checksum of an empty body');
    assert.deepEqual(created.upload.headers, { 'content-type': 'text/plain', 'content-length': '4' });
  });

  it("answers 404 for another user's object and does not sign a URL for it", async () => {
    const created = (await requestUpload(alice, { fileName: 'secret.txt', contentType: 'text/plain', size: 3 })).json();
    const theirs = await app.inject({ method: 'GET', url: `/api/storage/objects/${created.id}`, headers: as(bob) });
    const missing = await app.inject({ method: 'GET', url: `/api/storage/objects/${randomUUID()}`, headers: as(bob) });
    assert.equal(theirs.statusCode, 404);
    const { requestId: _a, ...theirBody } = theirs.json();
    const { requestId: _b, ...missingBody } = missing.json();
    assert.deepEqual(theirBody, missingBody);
    assert.equal(theirs.body.includes('X-Amz-Signature'), false);
    const del = await app.inject({ method: 'DELETE', url: `/api/storage/objects/${created.id}`, headers: as(bob) });
    assert.equal(del.statusCode, 404);
    const mine = await app.inject({ method: 'GET', url: `/api/storage/objects/${created.id}`, headers: as(alice) });
    assert.equal(mine.statusCode, 409, 'the owner is told the upload has not happened (not 404)');
  });

  it('issues no download URL before the bytes are in S3: 409 while the upload URL is valid, 410 after it expired', async () => {
    const created = (await requestUpload(alice, { fileName: 'later.txt', contentType: 'text/plain', size: 5 })).json();
    assert.equal(created.status, 'pending');
    assert.equal(created.uploadedAt, null);

    const early = await app.inject({ method: 'GET', url: `/api/storage/objects/${created.id}`, headers: as(alice) });
    assert.equal(early.statusCode, 409);
    assert.equal(early.json().message, `object ${created.id} has not been uploaded yet: PUT its bytes to the upload URL before ${created.upload.expiresAt}`);
    assert.equal(early.body.includes('X-Amz-Signature'), false);

    // The same row once its upload URL has expired unused.
    await harness.pool.query(`UPDATE storage_objects SET upload_expires_at = '2026-01-02T03:04:05Z' WHERE id = $1`, [created.id]);
    const late = await app.inject({ method: 'GET', url: `/api/storage/objects/${created.id}`, headers: as(alice) });
    assert.equal(late.statusCode, 410);
    assert.equal(late.json().message, `object ${created.id} was never uploaded: its upload URL expired at 2026-01-02T03:04:05.000Z; delete it and request a new upload`);

    // A row from before the URL's expiry was recorded: the configured lifetime (120 s here) from its creation.
    await harness.pool.query(`UPDATE storage_objects SET upload_expires_at = NULL, created_at = '2026-01-02T03:00:00Z' WHERE id = $1`, [created.id]);
    const legacy = await app.inject({ method: 'GET', url: `/api/storage/objects/${created.id}`, headers: as(alice) });
    assert.equal(legacy.statusCode, 410);
    assert.match(legacy.json().message, /its upload URL expired at 2026-01-02T03:02:00\.000Z;/);
    const listed = (await app.inject({ method: 'GET', url: '/api/storage/objects?limit=100', headers: as(alice) })).json();
    assert.equal(listed.items.find((o: any) => o.id === created.id).status, 'pending');
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/storage/objects/${created.id}`, headers: as(alice) })).statusCode, 204);
  });

  it('confirms an upload on the first read (HeadObject), then serves reads from PostgreSQL alone', async () => {
    const created = (await requestUpload(alice, { fileName: 'now.txt', contentType: 'text/plain', size: 3 })).json();
    assert.equal((await fetch(created.upload.url, { method: 'PUT', headers: created.upload.headers, body: 'now' })).status, 200);
    const before = Date.now();
    const first = await app.inject({ method: 'GET', url: `/api/storage/objects/${created.id}`, headers: as(alice) });
    assert.equal(first.statusCode, 200);
    assert.equal(first.json().status, 'uploaded');
    assert.ok(Math.abs(Date.parse(first.json().uploadedAt) - before) < 10_000, first.json().uploadedAt);
    const { rows } = await harness.pool.query(`SELECT uploaded_at FROM storage_objects WHERE id = $1`, [created.id]);
    assert.equal(rows[0].uploaded_at.toISOString(), first.json().uploadedAt);
    const listed = (await app.inject({ method: 'GET', url: '/api/storage/objects?limit=100', headers: as(alice) })).json();
    const { download: _download, ...metadata } = first.json();
    assert.deepEqual(listed.items.find((o: any) => o.id === created.id), metadata);

    // Confirmed once: the next read does not ask S3 again (it still answers with the bytes gone behind its back).
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: created.key }));
    const second = await app.inject({ method: 'GET', url: `/api/storage/objects/${created.id}`, headers: as(alice) });
    assert.equal(second.statusCode, 200);
    assert.equal(second.json().uploadedAt, first.json().uploadedAt);
  });

  it('answers 503 with the reason when S3 cannot be reached to confirm an upload, and confirms once it can', async () => {
    const created = (await requestUpload(alice, { fileName: 'flaky.txt', contentType: 'text/plain', size: 2 })).json();
    assert.equal((await fetch(created.upload.url, { method: 'PUT', headers: created.upload.headers, body: 'ok' })).status, 200);
    const unreachable = createS3Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const offline = buildApp({ pool: harness.pool, s3: unreachable, bucket, logger: createLogger('storage-test', 'silent'), urlTtlSeconds: 120 });
    try {
      const res = await offline.inject({ method: 'GET', url: `/api/storage/objects/${created.id}`, headers: as(alice) });
      assert.equal(res.statusCode, 503);
      assert.match(res.json().message, /^the object store could not be reached \(\w+\); retry later$/);
    } finally {
      await offline.close();
      unreachable.destroy();
    }
    const { rows } = await harness.pool.query(`SELECT uploaded_at FROM storage_objects WHERE id = $1`, [created.id]);
    assert.equal(rows[0].uploaded_at, null, 'nothing recorded while S3 was unreachable');
    assert.equal((await app.inject({ method: 'GET', url: `/api/storage/objects/${created.id}`, headers: as(alice) })).json().status, 'uploaded');
  });

  it('signs URLs for no longer than the signing credentials last, and says when they really end', async () => {
    // IRSA: temporary credentials; S3 refuses a presigned URL once they have expired, whatever X-Amz-Expires says.
    const credentialsEnd = new Date(Date.now() + 45_000);
    const session = createS3Client({
      region: 'us-east-1',
      endpoint: harness.endpoint,
      forcePathStyle: true,
      credentials: async () => ({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', sessionToken: 'irsa-session', expiration: credentialsEnd }),
    });
    const shortLived = buildApp({ pool: harness.pool, s3: session, bucket, logger: createLogger('storage-test', 'silent'), urlTtlSeconds: 120 });
    try {
      const created = (await shortLived.inject({ method: 'POST', url: '/api/storage/uploads', headers: as(alice), payload: { fileName: 's.txt', contentType: 'text/plain', size: 1 } })).json();
      const signedFor = Number(new URL(created.upload.url).searchParams.get('X-Amz-Expires'));
      assert.ok(signedFor >= 43 && signedFor <= 45, `X-Amz-Expires ${signedFor}, not the configured 120`);
      assert.ok(Math.abs(Date.parse(created.upload.expiresAt) - credentialsEnd.getTime()) <= 2_000, created.upload.expiresAt);
      const early = await shortLived.inject({ method: 'GET', url: `/api/storage/objects/${created.id}`, headers: as(alice) });
      assert.equal(early.json().message, `object ${created.id} has not been uploaded yet: PUT its bytes to the upload URL before ${created.upload.expiresAt}`);
    } finally {
      await shortLived.close();
      session.destroy();
    }
  });

  it('lists only the caller\'s objects, newest first, page by page', async () => {
    const carol = randomUUID();
    const ids: string[] = [];
    for (const name of ['one.png', 'two.png', 'three.png']) ids.push((await requestUpload(carol, { fileName: name, contentType: 'image/png', size: 10, type: 'images' })).json().id);
    const first = (await app.inject({ method: 'GET', url: '/api/storage/objects?limit=2', headers: as(carol) })).json();
    const second = (await app.inject({ method: 'GET', url: `/api/storage/objects?limit=2&cursor=${first.nextCursor}`, headers: as(carol) })).json();
    assert.deepEqual([...first.items, ...second.items].map((o: any) => o.id), [...ids].reverse());
    assert.equal(second.nextCursor, null);
    assert.ok(first.items.every((o: any) => o.key.startsWith('images/')));
  });

  it('deletes the object from S3 and its metadata', async () => {
    const created = (await requestUpload(alice, { fileName: 'bye.txt', contentType: 'text/plain', size: 3 })).json();
    assert.equal((await fetch(created.upload.url, { method: 'PUT', headers: created.upload.headers, body: 'bye' })).status, 200);
    const del = await app.inject({ method: 'DELETE', url: `/api/storage/objects/${created.id}`, headers: as(alice) });
    assert.equal(del.statusCode, 204);
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: created.key })), (err: Error) => err.name === 'NotFound');
    assert.equal((await app.inject({ method: 'GET', url: `/api/storage/objects/${created.id}`, headers: as(alice) })).statusCode, 404);
  });

  it('rejects bad input with 400 naming the field and value', async () => {
    const cases: [unknown, string][] = [
      [{ fileName: 'a', contentType: 'text/plain', size: 2048 }, 'body.size (2048): must be at most 1024 bytes'],
      [{ fileName: 'a', contentType: 'not a type', size: 1 }, 'body.contentType ("not a type"): must be a MIME type such as image/png'],
      [{ fileName: 'a', contentType: 'text/plain', size: 1, type: 'secrets' }, 'body.type ("secrets"): '],
      [{ contentType: 'text/plain', size: 1 }, 'body.fileName: '],
    ];
    for (const [body, prefix] of cases) {
      const res = await requestUpload(alice, body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.ok(res.json().message.startsWith(prefix), res.json().message);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/api/storage/objects/nope', headers: as(alice) })).json().message, 'params.id (nope) must be a UUID');
    // A tampered cursor is the caller's 400, not a failed cast (500).
    const tampered = Buffer.from(`2024-13-45T00:00:00.000000Z|${randomUUID()}`, 'utf8').toString('base64url');
    const badCursor = await app.inject({ method: 'GET', url: `/api/storage/objects?cursor=${tampered}`, headers: as(alice) });
    assert.equal(badCursor.statusCode, 400);
    assert.equal(badCursor.json().message, `query.cursor (${tampered}) is not a cursor returned by this API`);
    const nul = await requestUpload(alice, { fileName: 'a\u0000.txt', contentType: 'text/plain', size: 1 });
    assert.equal(nul.statusCode, 400);
    assert.equal(nul.json().message, 'body.fileName: must not contain NUL (U+0000) characters or unpaired UTF-16 surrogates');
    assert.equal((await app.inject({ method: 'GET', url: '/api/storage/objects' })).statusCode, 401);
  });

  it('reports PostgreSQL and the bucket on /health/ready', async () => {
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.json().checks.postgres.status, 'ok');
    assert.equal(ready.json().checks.s3.status, 'ok');
  });
});
