/**
 * Test helpers: isolated PostgreSQL databases, RabbitMQ vhosts and the local
 * Redis Cluster. Imported only by tests (`@noa/kit/testing`), never by a
 * service's runtime code.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const exec = promisify(execFile);

/** Admin connection for creating test databases (override with `NOA_TEST_PG_ADMIN_URL`). */
export const PG_ADMIN_URL = process.env['NOA_TEST_PG_ADMIN_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** RabbitMQ base URL without a vhost (override with `NOA_TEST_AMQP_URL`). */
export const AMQP_BASE_URL = process.env['NOA_TEST_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
/** Single-node Redis for tests that must not touch the cluster. */
export const REDIS_SINGLE_URL = process.env['NOA_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

function safeName(name: string): string {
  const cleaned = name.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  if (cleaned.length === 0) throw new Error(`test resource name ${JSON.stringify(name)} has no usable characters`);
  return cleaned.slice(0, 40);
}

/** A short random suffix for keys and names that must not collide between runs. */
export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export interface TestDatabase {
  /** `noa_test_<name>`. */
  readonly name: string;
  /** Connection URL for the database. */
  readonly url: string;
  /** Drops the database, terminating leftover connections. */
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates a fresh, empty database `noa_test_<name>` (dropping a leftover one first). */
export async function createTestDatabase(name: string): Promise<TestDatabase> {
  const database = `noa_test_${safeName(name)}`;
  const drop = () => admin((c) => c.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)).then(() => undefined);
  await drop();
  await admin((c) => c.query(`CREATE DATABASE "${database}"`));
  return { name: database, url: withDatabase(PG_ADMIN_URL, database), drop };
}

export interface TestVhost {
  /** `noa_test_<name>`. */
  readonly vhost: string;
  /** `amqp://guest:guest@127.0.0.1:5672/<vhost>`. */
  readonly url: string;
  /** Deletes the vhost with its queues and exchanges. */
  delete(): Promise<void>;
}

async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await exec('rabbitmqctl', ['-q', ...args], { timeout: 30_000 });
  return stdout;
}

/**
 * Creates a fresh RabbitMQ vhost `noa_test_<name>` (deleting a leftover one)
 * and grants the test user full rights on it. Uses rabbitmqctl, which works
 * as root here; each call costs about a second of Erlang start-up, so create
 * one vhost per test file, not per test.
 */
export async function createTestVhost(name: string): Promise<TestVhost> {
  const vhost = `noa_test_${safeName(name)}`;
  const user = decodeURIComponent(new URL(AMQP_BASE_URL).username || 'guest');
  const remove = async () => {
    await rabbitmqctl('delete_vhost', vhost).catch((err: Error & { stderr?: string }) => {
      if (!/does not exist|no_such_vhost/i.test(`${err.message}${err.stderr ?? ''}`)) throw err;
    });
  };
  await remove();
  await rabbitmqctl('add_vhost', vhost);
  await rabbitmqctl('set_permissions', '-p', vhost, user, '.*', '.*', '.*');
  return { vhost, url: `${AMQP_BASE_URL.replace(/\/$/, '')}/${encodeURIComponent(vhost)}`, delete: remove };
}

/** The local cluster's seed nodes, as `REDIS_CLUSTER_NODES` would list them. */
export const REDIS_CLUSTER_SEEDS = '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002';

/** The seed nodes parsed, as `createRedis({ clusterNodes })` takes them. */
export const redisClusterNodes = REDIS_CLUSTER_SEEDS.split(',').map((s) => {
  const [host, port] = s.split(':');
  return { host: host!, port: Number(port) };
});

/** Starts the local six-node Redis Cluster if needed (scripts/redis-cluster.sh start; idempotent). */
export async function ensureRedisCluster(): Promise<string> {
  await exec(path.join(REPO_ROOT, 'scripts', 'redis-cluster.sh'), ['start'], { timeout: 60_000 });
  return REDIS_CLUSTER_SEEDS;
}

/** A silent pino logger for tests, or one writing to `lines` for assertions. */
/** A free loopback port (for a child process's server: listen on 0 is not possible across processes). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export { createCapturingLogger } from './logger.js';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
