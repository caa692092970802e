import assert from 'node:assert/strict';
import { ConfigError, amqpEnv, commonEnv, envSchema, jwtEnv, loadEnv, maskValue, pgEnv, redisEnv, z } from '../index.js';

describe('loadEnv', () => {
  const full = envSchema(commonEnv, pgEnv, redisEnv, amqpEnv, jwtEnv);
  const good = {
    DATABASE_URL: 'postgres://app:pw@db:5432/noa',
    REDIS_CLUSTER_NODES: 'redis-0:6379, redis-1:6379',
    AMQP_URL: 'amqp://noa_app:pw@rabbit:5672/noa',
    JWT_SECRET: 'x'.repeat(32),
  };

  it('applies the contract defaults from services/README.md', () => {
    const env = loadEnv(full, good);
    assert.equal(env.PORT, 8080);
    assert.equal(env.LOG_LEVEL, 'info');
    assert.equal(env.SHUTDOWN_TIMEOUT_MS, 25_000);
    assert.equal(env.DATABASE_POOL_MAX, 10);
    assert.equal(env.JWT_ISSUER, 'noa');
    assert.equal(env.JWT_AUDIENCE, 'noa');
    assert.equal(env.JWT_TTL_SECONDS, 3600);
    assert.deepEqual(env.REDIS_CLUSTER_NODES, [
      { host: 'redis-0', port: 6379 },
      { host: 'redis-1', port: 6379 },
    ]);
    assert.equal(env.REDIS_URL, undefined);
  });

  it('parses numbers and treats empty strings as unset', () => {
    const env = loadEnv(full, { ...good, PORT: '9090', DATABASE_POOL_MAX: '', LOG_LEVEL: 'debug' });
    assert.equal(env.PORT, 9090);
    assert.equal(env.DATABASE_POOL_MAX, 10);
    assert.equal(env.LOG_LEVEL, 'debug');
  });

  it('accepts REDIS_URL instead of cluster nodes for local use', () => {
    const { REDIS_CLUSTER_NODES: _omit, ...rest } = good;
    const env = loadEnv(full, { ...rest, REDIS_URL: 'redis://127.0.0.1:6379' });
    assert.equal(env.REDIS_URL, 'redis://127.0.0.1:6379');
  });

  it('lists every bad variable in one error, with names and masked values', () => {
    const err = (() => {
      try {
        loadEnv(full, {
          PORT: 'eighty',
          LOG_LEVEL: 'loud',
          DATABASE_URL: 'mysql://root:hunter2@db/noa',
          REDIS_CLUSTER_NODES: 'redis-0',
          AMQP_URL: 'amqp://noa_app:s3cret@rabbit:5672/noa',
          JWT_SECRET: 'short-secret-value',
        });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof ConfigError, 'expected a ConfigError');
    const byName = new Map(err.problems.map((p) => [p.split(':')[0], p]));
    assert.deepEqual([...byName.keys()].sort(), ['DATABASE_URL', 'JWT_SECRET', 'LOG_LEVEL', 'PORT', 'REDIS_CLUSTER_NODES']);
    assert.match(byName.get('PORT')!, /got "eighty"/);
    assert.match(byName.get('LOG_LEVEL')!, /got "loud"/);
    assert.match(byName.get('DATABASE_URL')!, /must be a postgres:\/\/ URL \(got "mysql:\/\/root:\*\*\*@db\/noa"\)/);
    assert.match(byName.get('REDIS_CLUSTER_NODES')!, /host:port \(got "redis-0"\)/);
    assert.match(byName.get('JWT_SECRET')!, /at least 32 characters \(got "\*\*\*" \(18 chars\)\)/);
    assert.doesNotMatch(err.message, /hunter2|short-secret-value/);
  });

  it('reports the Redis rule even when other variables are also wrong', () => {
    assert.throws(
      () => loadEnv(full, { ...good, REDIS_URL: 'redis://x:6379', DATABASE_URL: undefined }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.problems.some((p) => p.startsWith('DATABASE_URL:')) &&
        e.problems.some((p) => p === 'REDIS_CLUSTER_NODES: set exactly one of REDIS_CLUSTER_NODES or REDIS_URL (both set)'),
    );
    assert.throws(
      () => loadEnv(redisEnv, {}),
      /REDIS_CLUSTER_NODES: set exactly one of REDIS_CLUSTER_NODES or REDIS_URL \(neither set\)/,
    );
  });

  it('composes with service-specific variables', () => {
    const schema = envSchema(commonEnv, z.object({ USERS_URL: z.url() }));
    assert.equal(loadEnv(schema, { USERS_URL: 'http://users' }).USERS_URL, 'http://users');
    assert.throws(() => loadEnv(schema, { USERS_URL: 'not a url' }), /USERS_URL: .* \(got "not a url"\)/);
  });
});

describe('maskValue', () => {
  const cases: Array<[string, string | undefined, string]> = [
    ['JWT_SECRET', 'abc', '"***" (3 chars)'],
    ['REDIS_PASSWORD', '', '""'],
    ['DATABASE_URL', 'postgres://u:p@h/db', '"postgres://u:***@h/db"'],
    ['AMQP_URL', 'amqp://h/vhost', '"amqp://h/vhost"'],
    ['PORT', '80', '"80"'],
    ['PORT', undefined, '(unset)'],
  ];
  for (const [name, value, expected] of cases) {
    it(`${name}=${String(value)} → ${expected}`, () => assert.equal(maskValue(name, value), expected));
  }
});
