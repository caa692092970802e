import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { closeRedis, Counter, createAmqp, createLogger, createNearCache, createRedis, waitForRedis, type PgPool, type RedisClient } from '@noa/kit';
import { redisClusterNodes } from '@noa/kit/testing';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../index';
import { WorkflowCache } from '../src/cache';
import { WorkflowRepository } from '../src/repository';
import { startHarness, type Harness } from './harness';

describe('workflows API against PostgreSQL, Redis Cluster and RabbitMQ', function () {
  this.timeout(30_000);
  let harness: Harness;
  let app: FastifyInstance;
  let pool: PgPool;
  let redis: RedisClient;
  let connection: ChannelModel;
  let observer: ConfirmChannel;
  const published: { routingKey: string; body: any; messageId: string | undefined }[] = [];

  const alice = randomUUID();
  const bob = randomUUID();
  const as = (user: string, extra: Record<string, string> = {}) => ({ 'x-user-id': user, ...extra });

  before(async () => {
    harness = await startHarness('workflows_api');
    ({ app, pool, redis } = harness);
    connection = await amqp.connect(harness.vhost.url);
    observer = await connection.createConfirmChannel();
    const { queue } = await observer.assertQueue('', { exclusive: true });
    for (const key of ['analytics', 'webhook']) await observer.bindQueue(queue, 'jobs', key);
    await observer.consume(queue, (msg) => {
      if (!msg) return;
      published.push({ routingKey: msg.fields.routingKey, body: JSON.parse(msg.content.toString()), messageId: msg.properties.messageId });
    }, { noAck: true });
  });

  after(async () => {
    await connection?.close();
    await harness?.close();
  });

  async function waitForPublished(count: number) {
    const deadline = Date.now() + 5000;
    while (published.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} published jobs, saw ${published.length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  const create = (user: string, body: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/api/workflows', headers: as(user, headers), payload: body as object });

  it('creates a workflow with steps, stores injection-shaped text verbatim and publishes its jobs', async () => {
    published.length = 0;
    const res = await create(alice, {
      name: "nightly'; DROP TABLE workflows;--",
      webhookUrl: 'https://hooks.example.com/noa',
      steps: [
        { name: 'fetch', kind: 'http', config: { url: 'https://example.com' } },
        { name: 'notify', kind: 'email' },
      ],
    });
    assert.equal(res.statusCode, 201);
    const wf = res.json();
    assert.equal(res.headers.location, `/api/workflows/${wf.id}`);
    assert.equal(wf.name, "nightly'; DROP TABLE workflows;--");
    assert.equal(wf.status, 'draft');
    assert.equal(wf.version, 1);
    assert.deepEqual(
      wf.steps.map((s: any) => [s.position, s.name, s.kind, s.config]),
      [
        [0, 'fetch', 'http', { url: 'https://example.com' }],
        [1, 'notify', 'email', {}],
      ],
    );
    const stored = await pool.query('SELECT name FROM workflows WHERE user_id = $1 AND id = $2', [alice, wf.id]);
    assert.equal(stored.rows[0].name, "nightly'; DROP TABLE workflows;--");

    await waitForPublished(2);
    const byKey = Object.fromEntries(published.map((p) => [p.routingKey, p]));
    assert.deepEqual(Object.keys(byKey).sort(), ['analytics', 'webhook']);
    assert.equal(byKey.analytics!.body.userId, alice);
    assert.equal(byKey.analytics!.body.payload.event, 'workflow.created');
    assert.equal(byKey.analytics!.messageId, byKey.analytics!.body.id);
    assert.deepEqual(byKey.webhook!.body.payload, {
      url: 'https://hooks.example.com/noa',
      event: 'workflow.created',
      data: { workflowId: wf.id, name: wf.name, status: 'draft', version: 1 },
    });
  });

  it('publishes workflow.updated on update and workflow.deleted to the URL the workflow had', async () => {
    const wf = (await create(alice, { name: 'hooked' })).json();
    await waitForPublished(1);
    published.length = 0;
    const patched = await app.inject({ method: 'PATCH', url: `/api/workflows/${wf.id}`, headers: as(alice), payload: { webhookUrl: 'https://hooks.example.com/u' } });
    assert.equal(patched.statusCode, 200);
    await waitForPublished(2);
    assert.deepEqual(
      published.map((p) => [p.routingKey, p.body.payload.event, p.body.payload.url ?? null, p.body.payload.data?.version ?? null]).sort(),
      [
        ['analytics', 'workflow.updated', null, null],
        ['webhook', 'workflow.updated', 'https://hooks.example.com/u', 2],
      ],
    );
    published.length = 0;
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/workflows/${wf.id}`, headers: as(alice) })).statusCode, 204);
    await waitForPublished(2);
    assert.deepEqual(
      published.map((p) => [p.routingKey, p.body.payload.event, p.body.payload.url ?? null]).sort(),
      [
        ['analytics', 'workflow.deleted', null],
        ['webhook', 'workflow.deleted', 'https://hooks.example.com/u'],
      ],
    );
  });

  it('two replicas with near caches: hot reads skip Redis, and an update on one is seen by the other', async () => {
    const logger = createLogger('workflows-test', 'silent');
    const keyPrefix = (redis.options as { keyPrefix?: string }).keyPrefix;
    // Two replicas: their own Redis clients (same key prefix) and near caches, one database and broker.
    const clients = [0, 1].map(() => createRedis({ clusterNodes: redisClusterNodes, logger, keyPrefix }));
    // A generous silence budget: the test asserts strict near hits, which a starved CI machine could delay.
    const nears = clients.map((client) => createNearCache({ redis: client, prefix: 'wf:', logger, maxSilenceMs: 2_000 }));
    const apps = clients.map((client, i) => buildApp({ pool, redis: client, amqp: harness.amqp, logger, cacheTtlSeconds: 300, outboxRelayIntervalMs: 0, nearCache: nears[i] }).app);
    try {
      await Promise.all(clients.map((client) => waitForRedis(client)));
      const [a, b] = apps as [FastifyInstance, FastifyInstance];
      const wf = (await create(alice, { name: 'near' })).json();
      const get = (replica: FastifyInstance) => replica.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) });
      const lookups = async (replica: FastifyInstance, result: string) =>
        Number(new RegExp(`workflows_cache_lookups_total\\{result="${result}",service="workflows"\\} (\\d+)`).exec((await replica.inject({ method: 'GET', url: '/metrics' })).body)?.[1] ?? 0);
      for (const replica of [a, b]) {
        const deadline = Date.now() + 3_000;
        while ((await lookups(replica, 'near')) === 0 && Date.now() < deadline) assert.equal((await get(replica)).json().name, 'near');
        assert.ok((await lookups(replica, 'near')) > 0, 'never served from the near cache');
      }
      const redisHits = await lookups(b, 'hit');
      for (let i = 0; i < 5; i++) assert.equal((await get(b)).json().name, 'near');
      assert.equal(await lookups(b, 'hit'), redisHits, 'hot reads still asked Redis');
      // An update on replica a: a answers the new version at once, b as soon as Redis's report arrives.
      const patched = await a.inject({ method: 'PATCH', url: `/api/workflows/${wf.id}`, headers: as(alice), payload: { name: 'renamed' } });
      assert.equal(patched.statusCode, 200);
      assert.equal((await get(a)).json().name, 'renamed');
      const deadline = Date.now() + 1_000;
      let seen = (await get(b)).json().name;
      while (seen !== 'renamed' && Date.now() < deadline) seen = (await get(b)).json().name;
      assert.equal(seen, 'renamed', 'replica b kept serving the workflow from before the update');
      // A delete on b: a stops serving it too.
      assert.equal((await b.inject({ method: 'DELETE', url: `/api/workflows/${wf.id}`, headers: as(alice) })).statusCode, 204);
      assert.equal((await get(b)).statusCode, 404);
      const until = Date.now() + 1_000;
      let status = (await get(a)).statusCode;
      while (status !== 404 && Date.now() < until) status = (await get(a)).statusCode;
      assert.equal(status, 404, 'replica a kept serving a deleted workflow');
    } finally {
      await Promise.all(apps.map((replica) => replica.close()));
      await Promise.all(nears.map((near) => near.close()));
      await Promise.all(clients.map((client) => closeRedis(client)));
    }
  });

  it('a write drops the near cache\'s copy before Redis drops the entry and again after, before it answers', async () => {
    const logger = createLogger('workflows-test', 'silent');
    const near = createNearCache({ redis, prefix: 'wf:', logger });
    // Each local delete asks Redis, on the same connection and so in order with the invalidation,
    // whether the entry still exists at that point.
    const seen: Promise<number>[] = [];
    const spied: typeof near = { ...near, delete: (key) => (seen.push(redis.exists(key)), near.delete(key)) };
    const replica = buildApp({ pool, redis, amqp: harness.amqp, logger, cacheTtlSeconds: 300, outboxRelayIntervalMs: 0, nearCache: spied }).app;
    try {
      const wf = (await create(alice, { name: 'two deletes' })).json();
      assert.equal((await replica.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) })).statusCode, 200);
      assert.equal(await redis.exists(WorkflowCache.key(alice, wf.id)), 1);
      const patched = await replica.inject({ method: 'PATCH', url: `/api/workflows/${wf.id}`, headers: as(alice), payload: { name: 'renamed twice' } });
      assert.equal(patched.statusCode, 200);
      assert.deepEqual(await Promise.all(seen), [1, 0]);
    } finally {
      await replica.close();
      await near.close();
    }
  });

  it('reads through the Redis Cluster cache and invalidates it on update', async () => {
    const wf = (await create(alice, { name: 'cached' })).json();
    const key = WorkflowCache.key(alice, wf.id);
    assert.equal(key, `wf:{${alice}}:${wf.id}`);

    const first = await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) });
    assert.equal(first.headers['x-cache'], 'miss');
    const ttl = await redis.ttl(key);
    assert.ok(ttl > 0 && ttl <= 300, `ttl ${ttl}`);
    const second = await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) });
    assert.equal(second.headers['x-cache'], 'hit');
    assert.deepEqual(second.json(), first.json());

    const patched = await app.inject({ method: 'PATCH', url: `/api/workflows/${wf.id}`, headers: as(alice), payload: { status: 'active', steps: [{ name: 'only', kind: 'delay' }] } });
    assert.equal(patched.statusCode, 200);
    assert.equal(patched.json().version, 2);
    assert.equal(await redis.exists(key), 0, 'the update dropped the cached entry');
    const third = await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) });
    assert.equal(third.headers['x-cache'], 'miss');
    assert.equal(third.json().status, 'active');
    assert.deepEqual(third.json().steps.map((s: any) => s.name), ['only']);
  });

  it("answers 404 for another user's workflow, for every verb, without revealing it exists", async () => {
    const wf = (await create(alice, { name: 'private' })).json();
    const unknown = randomUUID();
    for (const [method, url, payload] of [
      ['GET', `/api/workflows/${wf.id}`],
      ['PATCH', `/api/workflows/${wf.id}`, { name: 'stolen' }],
      ['DELETE', `/api/workflows/${wf.id}`],
      ['POST', `/api/workflows/${wf.id}/steps`, { name: 'x', kind: 'http' }],
    ] as const) {
      const theirs = await app.inject({ method, url, headers: as(bob), payload });
      const missing = await app.inject({ method, url: url.replace(wf.id, unknown), headers: as(bob), payload });
      assert.equal(theirs.statusCode, 404, `${method} ${url}`);
      const { requestId: _a, ...theirBody } = theirs.json();
      const { requestId: _b, ...missingBody } = missing.json();
      assert.deepEqual(theirBody, missingBody, `${method}: same answer as for an id that does not exist`);
    }
    const still = await pool.query('SELECT name FROM workflows WHERE user_id = $1 AND id = $2', [alice, wf.id]);
    assert.equal(still.rows[0].name, 'private');
  });

  it('replays the original 201 for a repeated Idempotency-Key and refuses a different body with 422', async () => {
    const key = `create-${randomUUID()}`;
    published.length = 0;
    const first = await create(alice, { name: 'once', steps: [{ name: 'a', kind: 'http' }] }, { 'idempotency-key': key });
    assert.equal(first.statusCode, 201);
    assert.equal(first.headers['idempotent-replayed'], 'false');
    const again = await create(alice, { steps: [{ kind: 'http', name: 'a' }], name: 'once' }, { 'idempotency-key': key });
    assert.equal(again.statusCode, 201);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(again.json(), first.json());
    const conflict = await create(alice, { name: 'twice' }, { 'idempotency-key': key });
    assert.equal(conflict.statusCode, 422);
    assert.equal(conflict.json().code, 'idempotency_key_reused');
    assert.equal(conflict.json().message, 'Idempotency-Key was already used with a different request body');
    // The same key from another user is another key.
    const bobs = await create(bob, { name: 'once' }, { 'idempotency-key': key });
    assert.equal(bobs.statusCode, 201);
    assert.notEqual(bobs.json().id, first.json().id);

    const rows = await pool.query(`SELECT count(*)::int AS n FROM workflows WHERE user_id = $1 AND name = 'once'`, [alice]);
    assert.equal(rows.rows[0].n, 1);
    await waitForPublished(2);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(published.filter((p) => p.body.userId === alice).length, 1, 'a replay publishes nothing');
  });

  it('forgets an Idempotency-Key after its 24-hour window', async () => {
    const key = `old-${randomUUID()}`;
    assert.equal((await create(alice, { name: 'yesterday' }, { 'idempotency-key': key })).statusCode, 201);
    await pool.query(`UPDATE workflow_idempotency_keys SET created_at = now() - interval '25 hours' WHERE user_id = $1 AND key = $2`, [alice, key]);
    const reused = await create(alice, { name: 'today' }, { 'idempotency-key': key });
    assert.equal(reused.statusCode, 201);
    assert.equal(reused.headers['idempotent-replayed'], 'false');
    assert.equal(reused.json().name, 'today');
  });

  it('runs two concurrent requests with one Idempotency-Key into one workflow', async () => {
    const key = `race-${randomUUID()}`;
    const [a, b] = await Promise.all([create(alice, { name: 'race' }, { 'idempotency-key': key }), create(alice, { name: 'race' }, { 'idempotency-key': key })]);
    assert.deepEqual([a.statusCode, b.statusCode], [201, 201]);
    assert.equal(a.json().id, b.json().id);
  });

  it('pages through a user\'s workflows newest first with a cursor', async () => {
    const carol = randomUUID();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await create(carol, { name: `wf-${i}`, steps: i === 0 ? [{ name: 's', kind: 'http' }] : [] })).json().id);
    const seen: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { statusCode: number; json(): any } = await app.inject({ method: 'GET', url: `/api/workflows?limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: as(carol) });
      assert.equal(res.statusCode, 200);
      const page = res.json();
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(seen.map((w) => w.id), [...ids].reverse());
    assert.equal(seen.at(-1).stepCount, 1);
    assert.equal(seen[0].steps, undefined);
    const others = await app.inject({ method: 'GET', url: '/api/workflows', headers: as(bob) });
    assert.ok(others.json().items.every((w: any) => !ids.includes(w.id)));
  });

  it('adds and removes nested steps', async () => {
    const wf = (await create(alice, { name: 'steps', steps: [{ name: 'one', kind: 'http' }] })).json();
    const added = await app.inject({ method: 'POST', url: `/api/workflows/${wf.id}/steps`, headers: as(alice), payload: { name: 'two', kind: 'email', config: { to: 'x' } } });
    assert.equal(added.statusCode, 201);
    assert.equal(added.json().position, 1);
    const list = await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}/steps`, headers: as(alice) });
    assert.deepEqual(list.json().items.map((s: any) => s.name), ['one', 'two']);
    const removed = await app.inject({ method: 'DELETE', url: `/api/workflows/${wf.id}/steps/${wf.steps[0].id}`, headers: as(alice) });
    assert.equal(removed.statusCode, 204);
    const after = await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) });
    assert.deepEqual(after.json().steps.map((s: any) => s.name), ['two']);
    assert.deepEqual(Object.keys(after.json().steps[0]), ['id', 'position', 'name', 'kind', 'config'], 'steps read back as they were written');
    assert.deepEqual(after.json().steps[0].config, { to: 'x' });
    assert.equal(after.json().version, 3);
  });

  it('deletes a workflow, its steps and its cache entry', async () => {
    const wf = (await create(alice, { name: 'doomed', steps: [{ name: 'a', kind: 'http' }] })).json();
    await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) });
    const del = await app.inject({ method: 'DELETE', url: `/api/workflows/${wf.id}`, headers: as(alice) });
    assert.equal(del.statusCode, 204);
    assert.equal(await redis.exists(WorkflowCache.key(alice, wf.id)), 0);
    assert.equal((await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) })).statusCode, 404);
    const steps = await pool.query('SELECT count(*)::int AS n FROM workflow_steps WHERE workflow_id = $1', [wf.id]);
    assert.equal(steps.rows[0].n, 0);
  });

  it('does not let a read that loaded a workflow before an update or a delete cache it after, however slow the read', async () => {
    // What a replica's GET does on a miss: it takes its ticket, reads the row, then caches it. These reads
    // took their ticket before a write committed, and cache only after the write's invalidation.
    const racingReader = new WorkflowCache(redis, 300, createLogger('workflows-test', 'silent'), new Counter({ name: 'race_lookups', help: 'unused', labelNames: ['result'] as const, registers: [] }));
    const wf = (await create(alice, { name: 'raced' })).json();
    const beforeUpdate = await racingReader.ticket(alice, wf.id);
    const patched = await app.inject({ method: 'PATCH', url: `/api/workflows/${wf.id}`, headers: as(alice), payload: { name: 'renamed' } });
    assert.equal(patched.statusCode, 200);
    await new Promise((r) => setTimeout(r, 100));
    await racingReader.set(alice, wf, beforeUpdate);
    assert.equal(await redis.exists(WorkflowCache.key(alice, wf.id)), 0, 'the old workflow was not cached after the update');
    const read = await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) });
    assert.equal(read.json().name, 'renamed');
    assert.equal(read.headers['x-cache'], 'miss');
    assert.equal((await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) })).headers['x-cache'], 'hit', 'a read after the write is cached at once');

    const beforeDelete = await racingReader.ticket(alice, wf.id);
    const del = await app.inject({ method: 'DELETE', url: `/api/workflows/${wf.id}`, headers: as(alice) });
    assert.equal(del.statusCode, 204);
    await racingReader.set(alice, patched.json(), beforeDelete);
    assert.equal(await redis.exists(WorkflowCache.key(alice, wf.id)), 0, 'the deleted workflow was not cached after the delete');
    assert.equal((await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) })).statusCode, 404);
  });

  it('refuses a webhook on a private or cluster-internal host with 400, on create and on update, storing nothing', async () => {
    const before = (await pool.query('SELECT count(*)::int AS n FROM workflows')).rows[0].n;
    for (const url of ['http://169.254.169.254/latest/meta-data', 'http://users.noa.svc.cluster.local:8080/api/users/me', 'http://localhost:8080/', 'http://10.0.3.7/hook', 'http://users/hook']) {
      const res = await create(alice, { name: 'x', webhookUrl: url });
      assert.equal(res.statusCode, 400, url);
      assert.equal(res.json().message, `body.webhookUrl (${JSON.stringify(url)}): must not point at a private or cluster-internal host`);
    }
    assert.equal((await pool.query('SELECT count(*)::int AS n FROM workflows')).rows[0].n, before);
    const wf = (await create(alice, { name: 'public hook', webhookUrl: 'https://hooks.example.com/noa' })).json();
    const patched = await app.inject({ method: 'PATCH', url: `/api/workflows/${wf.id}`, headers: as(alice), payload: { webhookUrl: 'http://[::1]:9000/' } });
    assert.equal(patched.statusCode, 400);
    assert.equal(patched.json().message, 'body.webhookUrl ("http://[::1]:9000/"): must not point at a private or cluster-internal host');
    const unchanged = await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) });
    assert.equal(unchanged.json().webhookUrl, 'https://hooks.example.com/noa');
  });

  it('rejects bad input with 400 naming the field and value', async () => {
    const cases: [unknown, RegExp][] = [
      [{}, /^body\.name: /],
      [{ name: 'x', status: 'running' }, /^body\.status \("running"\): /],
      [{ name: 'x', webhookUrl: 'ftp://example.com' }, /^body\.webhookUrl \(\"ftp:\/\/example.com\"\): must be an http\(s\) URL/],
      [{ name: 'x', steps: [{ name: 's', kind: 'Bad Kind' }] }, /^body\.steps\.0\.kind \(\"Bad Kind\"\): must be lower-case/],
      [{ name: 'x', surprise: true }, /^body: .*surprise/],
    ];
    for (const [body, message] of cases) {
      const res = await create(alice, body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.match(res.json().message, message);
    }
    const badId = await app.inject({ method: 'GET', url: '/api/workflows/not-a-uuid', headers: as(alice) });
    assert.equal(badId.statusCode, 400);
    assert.equal(badId.json().message, 'params.id (not-a-uuid) must be a UUID');
    const badCursor = await app.inject({ method: 'GET', url: '/api/workflows?cursor=bogus', headers: as(alice) });
    assert.equal(badCursor.statusCode, 400);
    const emptyPatch = await app.inject({ method: 'PATCH', url: `/api/workflows/${randomUUID()}`, headers: as(alice), payload: {} });
    assert.equal(emptyPatch.statusCode, 400);
    assert.match(emptyPatch.json().message, /must change at least one field/);
  });

  it('answers 400 naming the field for text PostgreSQL cannot store, on create, update and step append, storing nothing', async () => {
    const nulName = await create(alice, { name: 'nul\u0000name' });
    assert.equal(nulName.statusCode, 400);
    assert.equal(nulName.json().message, 'body.name: must not contain NUL (U+0000) characters or unpaired UTF-16 surrogates');
    const loneSurrogate = await app.inject({
      method: 'POST', url: '/api/workflows', headers: as(alice, { 'content-type': 'application/json' }),
      payload: '{"name":"ok","steps":[{"name":"s","kind":"http","config":{"note":"half \\ud83d"}}]}',
    });
    assert.equal(loneSurrogate.statusCode, 400);
    assert.match(loneSurrogate.json().message, /^body\.steps\.0\.config\.note: must not contain NUL/);
    const wf = (await create(alice, { name: 'clean' })).json();
    const patch = await app.inject({ method: 'PATCH', url: `/api/workflows/${wf.id}`, headers: as(alice), payload: { description: 'x\u0000' } });
    assert.equal(patch.statusCode, 400);
    assert.match(patch.json().message, /^body\.description: /);
    const step = await app.inject({ method: 'POST', url: `/api/workflows/${wf.id}/steps`, headers: as(alice), payload: { name: 's', kind: 'http', config: { ['k\u0000']: 1 } } });
    assert.equal(step.statusCode, 400);
    assert.match(step.json().message, /^body\.config \(key "k\\u0000"\): /);
    const stored = (await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) })).json();
    assert.equal(stored.version, 1);
    assert.deepEqual(stored.steps, []);
  });

  it('answers 400 for a tampered cursor (impossible date, year 0, not a UUID), never a failed cast', async () => {
    const id = randomUUID();
    const tampered = [`2024-13-45T00:00:00.000000Z|${id}`, `0000-01-01T00:00:00.000000Z|${id}`, `2026-01-01T00:00:00.000000Z|${'-'.repeat(36)}`, `2026-02-30T00:00:00.000000Z|${id}`];
    for (const raw of tampered) {
      const cursor = Buffer.from(raw, 'utf8').toString('base64url');
      const res = await app.inject({ method: 'GET', url: `/api/workflows?cursor=${cursor}`, headers: as(alice) });
      assert.equal(res.statusCode, 400, raw);
      assert.equal(res.json().message, `query.cursor (${cursor}) is not a cursor returned by this API`);
    }
    const valid = Buffer.from(`2026-01-01T00:00:00.123456Z|${id}`, 'utf8').toString('base64url');
    assert.equal((await app.inject({ method: 'GET', url: `/api/workflows?cursor=${valid}`, headers: as(alice) })).statusCode, 200);
  });

  it('treats an upper-case id as the same workflow: an update or delete through it drops the cached entry', async () => {
    const wf = (await create(alice, { name: 'v1' })).json();
    const upper = wf.id.toUpperCase();
    assert.equal((await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) })).headers['x-cache'], 'miss');
    const patched = await app.inject({ method: 'PATCH', url: `/api/workflows/${upper}`, headers: as(alice), payload: { name: 'v2' } });
    assert.equal(patched.statusCode, 200);
    const read = await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) });
    assert.equal(read.json().name, 'v2');
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/workflows/${upper}`, headers: as(alice) })).statusCode, 204);
    assert.equal((await app.inject({ method: 'GET', url: `/api/workflows/${wf.id}`, headers: as(alice) })).statusCode, 404);
    // The caller's id too: an upper-case x-user-id is the same user, with the same cache keys.
    const mine = (await create(alice, { name: 'mine' })).json();
    await app.inject({ method: 'GET', url: `/api/workflows/${mine.id}`, headers: as(alice) });
    await app.inject({ method: 'PATCH', url: `/api/workflows/${mine.id}`, headers: as(alice.toUpperCase()), payload: { name: 'renamed' } });
    assert.equal((await app.inject({ method: 'GET', url: `/api/workflows/${mine.id}`, headers: as(alice) })).json().name, 'renamed');
  });

  it('runs two concurrent deletes of one workflow into one 204, one 404 and one set of workflow.deleted jobs', async () => {
    published.length = 0;
    const wf = (await create(alice, { name: 'twice', webhookUrl: 'https://hooks.example.com/d' })).json();
    await waitForPublished(2);
    published.length = 0;
    const statuses = (await Promise.all([1, 2].map(() => app.inject({ method: 'DELETE', url: `/api/workflows/${wf.id}`, headers: as(alice) })))).map((r) => r.statusCode);
    assert.deepEqual(statuses.sort(), [204, 404]);
    await waitForPublished(2);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(published.map((p) => `${p.routingKey} ${p.body.payload.event}`).sort(), ['analytics workflow.deleted', 'webhook workflow.deleted']);
  });

  it('reads a workflow and its steps from one snapshot: never another version\'s steps while it is being updated', async () => {
    // Reads and updates race; the workflow and its steps come from one statement, one snapshot.
    const wf = (await create(alice, { name: 'v0', steps: [{ name: 'v0', kind: 'http' }] })).json();
    let done = false;
    const torn: string[] = [];
    let reads = 0;
    const writer = (async () => {
      for (let i = 1; i <= 60; i++) {
        await app.inject({ method: 'PATCH', url: `/api/workflows/${wf.id}`, headers: as(alice), payload: { name: `v${i}`, steps: [{ name: `v${i}`, kind: 'http' }] } });
      }
      done = true;
    })();
    // What a cache miss does: read PostgreSQL (the cache would hide a torn read behind hits).
    const repository = new WorkflowRepository(pool);
    const reader = async () => {
      while (!done) {
        const got = (await repository.get(alice, wf.id))!;
        reads++;
        if (got.steps.length !== 1 || got.steps[0].name !== got.name) torn.push(`${got.name}: ${JSON.stringify(got.steps.map((st: any) => st.name))}`);
      }
    };
    await Promise.all([writer, reader(), reader(), reader()]);
    assert.ok(reads > 50, `${reads} reads`);
    assert.deepEqual(torn, []);
  });

  it('refuses to append a step past the 100-step limit with 409, as create and update do with 400', async () => {
    const full = (await create(alice, { name: 'full', steps: Array.from({ length: 100 }, (_, i) => ({ name: `s${i}`, kind: 'http' })) })).json();
    assert.equal(full.steps.length, 100);
    const extra = await app.inject({ method: 'POST', url: `/api/workflows/${full.id}/steps`, headers: as(alice), payload: { name: 'one more', kind: 'http' } });
    assert.equal(extra.statusCode, 409);
    assert.equal(extra.json().message, `workflow ${full.id} already has 100 steps, the most a workflow may have`);
    assert.equal(extra.json().code, 'too_many_steps');
    const steps = await pool.query('SELECT count(*)::int AS n FROM workflow_steps WHERE workflow_id = $1', [full.id]);
    assert.equal(steps.rows[0].n, 100);
    const tooMany = await create(alice, { name: 'over', steps: Array.from({ length: 101 }, (_, i) => ({ name: `s${i}`, kind: 'http' })) });
    assert.equal(tooMany.statusCode, 400);
  });

  it('refuses a request without a valid x-user-id with 401', async () => {
    const none = await app.inject({ method: 'GET', url: '/api/workflows' });
    assert.equal(none.statusCode, 401);
    const bad = await app.inject({ method: 'GET', url: '/api/workflows', headers: { 'x-user-id': '42' } });
    assert.equal(bad.statusCode, 401);
  });

  it('answers malformed JSON with 400 and an oversized body with 413', async () => {
    const malformed = await app.inject({ method: 'POST', url: '/api/workflows', headers: { ...as(alice), 'content-type': 'application/json' }, payload: '{"name": ' });
    assert.equal(malformed.statusCode, 400);
    const huge = await app.inject({ method: 'POST', url: '/api/workflows', headers: { ...as(alice), 'content-type': 'application/json' }, payload: JSON.stringify({ name: 'x', description: 'y'.repeat(300_000) }) });
    assert.equal(huge.statusCode, 413);
  });

  it('reports every dependency on /health/ready and its own series on /metrics', async () => {
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(
      Object.fromEntries(Object.entries(ready.json().checks).map(([k, v]: [string, any]) => [k, v.status])),
      { postgres: 'ok', redis: 'ok', rabbitmq: 'ok' },
    );
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    assert.match(metrics, /workflows_cache_lookups_total\{[^}]*result="hit"[^}]*\} [1-9]/);
  });

  it('keeps a write and its jobs while RabbitMQ is unreachable; the outbox relay publishes them once it can', async () => {
    const logger = createLogger('workflows-test', 'silent');
    // A vhost that does not exist: the client never connects, so every publish times out.
    const unreachable = createAmqp({ url: `${harness.vhost.url}_missing`, logger, publishTimeoutMs: 200, reconnectMaxDelayMs: 1000 });
    const { app: degraded } = buildApp({ pool, redis, amqp: unreachable, logger, outboxRelayIntervalMs: 0 });
    const carol = randomUUID();
    published.length = 0;
    try {
      await degraded.ready();
      const res = await degraded.inject({ method: 'POST', url: '/api/workflows', headers: as(carol), payload: { name: 'no broker', webhookUrl: 'https://hooks.example.com/x' } });
      assert.equal(res.statusCode, 201);
      const stored = await pool.query('SELECT 1 FROM workflows WHERE user_id = $1 AND id = $2', [carol, res.json().id]);
      assert.equal(stored.rowCount, 1);
      // The jobs committed with the write, and wait in the outbox, due now, with the reason.
      const waiting = await pool.query(
        `SELECT job_type, envelope, attempts, last_error, next_attempt_at <= now() AS due FROM job_outbox WHERE user_id = $1 ORDER BY job_type`,
        [carol],
      );
      assert.deepEqual(waiting.rows.map((r) => [r.job_type, r.envelope.type, r.envelope.payload.event, r.attempts, r.due]), [
        ['analytics', 'analytics', 'workflow.created', 0, true],
        ['webhook', 'webhook', 'workflow.created', 0, true],
      ]);
      assert.ok(waiting.rows.every((r) => typeof r.last_error === 'string' && r.last_error.length > 0), 'the publish error is kept');
      const metrics = (await degraded.inject({ method: 'GET', url: '/metrics' })).body;
      assert.match(metrics, /\nworkflows_outbox_pending\{[^}]*\} 2\n/);
      assert.ok(Number(/\nworkflows_outbox_oldest_seconds\{[^}]*\} (\S+)\n/.exec(metrics)?.[1]) > 0, "the oldest job has an age");
      assert.match(metrics, /workflows_job_publish_failures_total\{[^}]*type="analytics"[^}]*\} 1\n/);
      assert.match(metrics, /workflows_job_publish_failures_total\{[^}]*type="webhook"[^}]*\} 1\n/);
      const ready = await degraded.inject({ method: 'GET', url: '/health/ready' });
      assert.equal(ready.statusCode, 200, 'RabbitMQ is not critical for readiness');
      assert.equal(ready.json().checks.rabbitmq.status, 'fail');
      assert.equal(published.length, 0);

      // The broker is reachable again (here: a replica whose connection works runs the relay).
      const first = await harness.outbox.relayOnce();
      assert.deepEqual(first, { claimed: 2, published: 2, failed: 0 });
      await waitForPublished(2);
      const ids = waiting.rows.map((r) => r.envelope.id).sort();
      assert.deepEqual(published.map((p) => p.messageId).sort(), ids, 'published with the ids stored at write time');
      assert.deepEqual(published.map((p) => p.body.id).sort(), ids);
      assert.equal((await pool.query('SELECT 1 FROM job_outbox WHERE user_id = $1', [carol])).rowCount, 0, 'confirmed rows are deleted');
      assert.deepEqual(await harness.outbox.relayOnce(), { claimed: 0, published: 0, failed: 0 });
      const relayedMetrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      assert.match(relayedMetrics, /workflows_outbox_relayed_total\{[^}]*type="webhook"[^}]*\} 1\n/);
      assert.match(relayedMetrics, /\nworkflows_outbox_pending\{[^}]*\} 0\n/);
      assert.match(relayedMetrics, /\nworkflows_outbox_oldest_seconds\{[^}]*\} 0\n/);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(published.length, 2, 'nothing published twice');
    } finally {
      await degraded.close();
      await unreachable.close();
    }
  });

  it('leaves no outbox row behind once the broker confirms a write\'s jobs', async () => {
    const dave = randomUUID();
    published.length = 0;
    const res = await create(dave, { name: 'confirmed', webhookUrl: 'https://hooks.example.com/y' });
    assert.equal(res.statusCode, 201);
    await waitForPublished(2);
    assert.equal((await pool.query('SELECT 1 FROM job_outbox WHERE user_id = $1', [dave])).rowCount, 0);
    const update = await app.inject({ method: 'PATCH', url: `/api/workflows/${res.json().id}`, headers: as(dave), payload: { status: 'active' } });
    assert.equal(update.statusCode, 200);
    await waitForPublished(4);
    assert.equal((await pool.query('SELECT 1 FROM job_outbox WHERE user_id = $1', [dave])).rowCount, 0);
  });

  it('writes and publishes no job for a write that finds nothing (404)', async () => {
    const erin = randomUUID();
    published.length = 0;
    for (const request of [
      { method: 'PATCH' as const, url: `/api/workflows/${randomUUID()}`, payload: { status: 'active' } },
      { method: 'DELETE' as const, url: `/api/workflows/${randomUUID()}` },
      { method: 'POST' as const, url: `/api/workflows/${randomUUID()}/steps`, payload: { name: 'a', kind: 'http' } },
    ]) {
      const res = await app.inject({ ...request, headers: as(erin) });
      assert.equal(res.statusCode, 404, `${request.method} ${request.url}`);
    }
    assert.equal((await pool.query('SELECT 1 FROM job_outbox WHERE user_id = $1', [erin])).rowCount, 0);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(published.length, 0);
  });
});
