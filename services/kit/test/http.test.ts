import assert from 'node:assert/strict';
import { HttpError, createHttpServer, createMetrics, z, type HealthCheck } from '../index.js';
import { createCapturingLogger, PG_ADMIN_URL } from '../testing/index.js';
import pg from 'pg';
import { lazyChildLoggerFactory } from '../src/logger.js';

function build(checks: HealthCheck[] = [], bodyLimit?: number) {
  const { logger, lines } = createCapturingLogger('kit-http');
  const metrics = createMetrics('kit-http');
  const app = createHttpServer({ service: 'kit-http', logger, metrics, checks, bodyLimit });
  app.post(
    '/things',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1 } },
        },
      },
    },
    async (request) => ({ got: request.body }),
  );
  app.get('/items/:id', async (request) => {
    const params = z.object({ id: z.uuid() }).parse(request.params);
    return { id: params.id };
  });
  app.get('/conflict', async () => {
    throw new HttpError(409, 'already exists', { field: 'email' });
  });
  app.get('/boom', async () => {
    throw new Error('secret internals: password=hunter2');
  });
  return { app, lines, metrics };
}

describe('createHttpServer', () => {
  it('answers unknown routes with a JSON 404 carrying the request id', async () => {
    const { app } = build();
    const res = await app.inject({ method: 'GET', url: '/nope?x=1' });
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), {
      statusCode: 404,
      error: 'Not Found',
      message: 'no route for GET /nope',
      requestId: res.headers['x-request-id'],
    });
  });

  it('keeps a well-formed incoming x-request-id and replaces a malformed one', async () => {
    const { app } = build();
    const kept = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'abc-123' } });
    assert.equal(kept.headers['x-request-id'], 'abc-123');
    const replaced = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'bad id\u0000' } });
    assert.match(String(replaced.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  it('maps schema validation failures to 400 with the reason', async () => {
    const { app } = build();
    const res = await app.inject({ method: 'POST', url: '/things', payload: { name: '' } });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, 'Bad Request');
    assert.equal(res.json().message, 'body/name must NOT have fewer than 1 characters');
  });

  it('maps zod errors to 400 naming the field', async () => {
    const { app } = build();
    const res = await app.inject({ method: 'GET', url: '/items/not-a-uuid' });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().message, /^id: Invalid UUID/);
  });

  it('answers malformed JSON with 400 and oversized bodies with 413', async () => {
    const { app } = build([], 64);
    const bad = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error, 'Bad Request');
    const big = await app.inject({ method: 'POST', url: '/things', payload: { name: 'x'.repeat(100) } });
    assert.equal(big.statusCode, 413);
    assert.equal(big.json().error, 'Payload Too Large');
  });

  it('passes HttpError status and details through, and hides 500 internals while logging them', async () => {
    const { app, lines } = build();
    const conflict = await app.inject({ method: 'GET', url: '/conflict' });
    assert.equal(conflict.statusCode, 409);
    assert.equal(conflict.json().message, 'already exists');
    assert.equal(conflict.json().field, 'email');
    const boom = await app.inject({ method: 'GET', url: '/boom' });
    assert.equal(boom.statusCode, 500);
    assert.equal(boom.json().message, 'Internal Server Error');
    const logged = lines.find((l) => l['msg'] === 'request failed');
    assert.ok(logged, 'the 500 is logged');
    assert.equal(logged['requestId'], boom.headers['x-request-id']);
    assert.equal((logged['err'] as { message: string }).message, 'secret internals: password=hunter2');
  });

  it('answers a value PostgreSQL refuses (SQLSTATE class 22) with 400 and the reason, not 500, and logs it', async () => {
    const { app, lines } = build();
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    try {
      app.post('/store', async (request) => (await client.query('SELECT $1::text AS v', [(request.body as { v: string }).v])).rows[0]);
      app.get('/cast', async () => (await client.query("SELECT '2024-13-45'::date AS v")).rows[0]);
      app.get('/missing', async () => (await client.query('SELECT * FROM no_such_table')).rows);
      const nul = await app.inject({ method: 'POST', url: '/store', payload: { v: 'a\u0000b' } });
      assert.equal(nul.statusCode, 400);
      assert.equal(nul.json().message, 'a value in the request cannot be stored: invalid byte sequence for encoding "UTF8": 0x00');
      const cast = await app.inject({ method: 'GET', url: '/cast' });
      assert.equal(cast.statusCode, 400);
      assert.match(cast.json().message, /^a value in the request cannot be stored: date\/time field value out of range/);
      assert.ok(lines.some((l) => l['msg'] === 'PostgreSQL refused a value from the request (data exception): add it to the validation'));
      // Other database errors stay 500s.
      assert.equal((await app.inject({ method: 'GET', url: '/missing' })).statusCode, 500);
    } finally {
      await client.end();
    }
  });

  it('records request metrics by route template, not for probes', async () => {
    const { app, metrics } = build();
    await app.inject({ method: 'GET', url: '/conflict' });
    await app.inject({ method: 'GET', url: '/conflict' });
    await app.inject({ method: 'GET', url: '/health' });
    await app.inject({ method: 'GET', url: '/items/3f1c1f7e-9a52-4c2e-8d1e-1a2b3c4d5e6f' });
    const counter = await metrics.httpRequestsTotal.get();
    const series = counter.values.map((v) => `${v.labels.method} ${v.labels.route} ${v.labels.status_code} ${v.value}`).sort();
    assert.deepEqual(series, ['GET /conflict 409 2', 'GET /items/:id 200 1']);
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/plain/);
    const countLine = res.body.split('\n').find((l) => l.startsWith('http_request_duration_seconds_count{') && l.includes('route="/conflict"'));
    assert.ok(countLine, 'a latency histogram series for /conflict');
    assert.match(countLine, /service="kit-http"/);
    assert.match(countLine, /status_code="409"/);
    assert.match(countLine, / 2$/);
    assert.match(res.body, /nodejs_eventloop_lag_seconds/);
  });

  it('reports startup only after markStarted', async () => {
    const { app } = build();
    assert.equal((await app.inject({ method: 'GET', url: '/health/startup' })).statusCode, 503);
    app.markStarted();
    assert.equal((await app.inject({ method: 'GET', url: '/health/startup' })).statusCode, 200);
    assert.equal(app.started, true);
  });

  it('readiness: 200 with per-dependency details, 503 naming the failed one, degraded and non-critical stay 200', async () => {
    let pgUp = true;
    const checks: HealthCheck[] = [
      {
        name: 'postgres',
        check: async () => {
          if (!pgUp) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
          return { idle: 1 };
        },
      },
      { name: 'redis', check: async () => ({ status: 'degraded', fallback: 'in-memory limiter' }) },
      { name: 'search', critical: false, check: async () => Promise.reject(new Error('down')) },
    ];
    const { app } = build(checks);
    const ok = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(ok.statusCode, 200);
    const okBody = ok.json();
    assert.equal(okBody.status, 'degraded');
    assert.equal(okBody.checks.postgres.status, 'ok');
    assert.equal(okBody.checks.postgres.idle, 1);
    assert.equal(okBody.checks.redis.status, 'degraded');
    assert.equal(okBody.checks.redis.fallback, 'in-memory limiter');
    assert.equal(okBody.checks.search.status, 'fail');
    pgUp = false;
    const down = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(down.statusCode, 503);
    assert.equal(down.json().status, 'fail');
    assert.deepEqual(
      { status: down.json().checks.postgres.status, error: down.json().checks.postgres.error },
      { status: 'fail', error: 'connect ECONNREFUSED 127.0.0.1:5432' },
    );
  });

  it('readiness fails a check that hangs past its timeout', async () => {
    const { app } = build([{ name: 'slow', timeoutMs: 50, check: () => new Promise(() => undefined) }]);
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    assert.equal(res.statusCode, 503);
    assert.equal(res.json().checks.slow.error, 'timed out after 50 ms');
  });

  it("builds a request's child logger only when the request logs, with its request id bound", async () => {
    const { logger, lines } = createCapturingLogger('kit-http');
    let children = 0;
    const child = logger.child.bind(logger);
    logger.child = ((...args: Parameters<typeof child>) => {
      children += 1;
      return child(...args);
    }) as typeof logger.child;
    const app = createHttpServer({ service: 'kit-http', logger, metrics: createMetrics('kit-http') });
    app.get('/quiet', async () => ({ ok: true }));
    app.get('/chatty', async (request) => {
      request.log.info({ token: 't0ken', item: 7 }, 'handled');
      request.log.warn('twice');
      return { level: request.log.level };
    });
    await app.ready();
    const atStart = children;
    assert.equal((await app.inject({ method: 'GET', url: '/quiet' })).statusCode, 200);
    assert.equal(children - atStart, 0, 'no child logger for a request that never logs');
    const res = await app.inject({ method: 'GET', url: '/chatty', headers: { 'x-request-id': 'req-lazy-1' } });
    assert.deepEqual(res.json(), { level: 'info' });
    assert.equal(children - atStart, 1, 'one child per logging request, however often it logs');
    const mine = lines.filter((l) => l.requestId === 'req-lazy-1');
    assert.deepEqual(mine.map((l) => [l.level, l.msg, l.service]), [
      ['info', 'handled', 'kit-http'],
      ['warn', 'twice', 'kit-http'],
    ]);
    assert.equal(mine[0]!.token, '[redacted]');
    assert.equal(mine[0]!.item, 7);
    await app.close();
  });

  it("gives a request's lazy logger the whole pino logger surface, on one child made at first use", () => {
    const { logger, lines } = createCapturingLogger('kit-http');
    let children = 0;
    const child = logger.child;
    logger.child = function (this: typeof logger, ...args: Parameters<typeof child>) {
      children += 1;
      return child.apply(this, args);
    } as typeof logger.child;
    const lazy = lazyChildLoggerFactory(logger, { requestId: 'req-lazy-2' }, {});
    // What fastify checks on every request: present, and no child for it.
    for (const method of ['info', 'error', 'debug', 'fatal', 'warn', 'trace', 'child'] as const) assert.equal(typeof lazy[method], 'function');
    assert.equal(children, 0);
    assert.equal(lazy.isLevelEnabled('debug'), false);
    lazy.level = 'debug';
    lazy.debug({ step: 1 }, 'now visible');
    assert.deepEqual(lazy.bindings(), { service: 'kit-http', requestId: 'req-lazy-2' });
    assert.equal(children, 1, 'one real child, made at first use');
    lazy.child({ part: 'inner' }).info('nested');
    const mine = lines.filter((l) => l.requestId === 'req-lazy-2');
    assert.deepEqual(mine.map((l) => [l.level, l.msg, l.part]), [
      ['debug', 'now visible', undefined],
      ['info', 'nested', 'inner'],
    ]);
    assert.equal(logger.level, 'info', "the service's own logger keeps its level");
  });

  it('logs requests only when asked, with credentials redacted', async () => {
    const { logger, lines } = createCapturingLogger('kit-http');
    const app = createHttpServer({ service: 'kit-http', logger, metrics: createMetrics('kit-http'), logRequests: true });
    app.post('/login', async (request) => {
      // What a careless handler might log: the whole request and the body.
      request.log.info({ headers: request.headers, password: (request.body as { password: string }).password }, 'handler logged');
      return { ok: true };
    });
    await app.inject({
      method: 'POST',
      url: '/login',
      headers: { authorization: 'Bearer very-secret-token', cookie: 'session=abc' },
      payload: { password: 'hunter2' },
    });
    assert.doesNotMatch(JSON.stringify(lines), /very-secret-token|session=abc|hunter2/);
    const logged = lines.find((l) => l['msg'] === 'handler logged') as { headers: Record<string, string>; password: string };
    assert.equal(logged.headers['authorization'], '[redacted]');
    assert.equal(logged.headers['cookie'], '[redacted]');
    assert.equal(logged.password, '[redacted]');
    assert.ok(lines.some((l) => l['msg'] === 'incoming request'));
    assert.ok(lines.some((l) => l['msg'] === 'request completed'));

    const quiet = build();
    await quiet.app.inject({ method: 'GET', url: '/health' });
    assert.equal(quiet.lines.length, 0, 'no per-request lines by default');
  });
});
