import {
  assertJobTopology,
  checkPg,
  checkRedis,
  Counter,
  createHttpServer,
  createMetrics,
  Gauge,
  type AmqpClient,
  type Logger,
  type NearCache,
  type PgPool,
  type RedisClient,
  type ServiceMetrics,
} from '@noa/kit';
import type { FastifyInstance } from 'fastify';
import { WorkflowCache } from './cache';
import { JobOutbox } from './outbox';
import { WorkflowRepository } from './repository';
import { workflowRoutes } from './routes';

export interface WorkflowsDeps {
  /** PostgreSQL/Citus pool (`createPgPool`). */
  readonly pool: PgPool;
  /** Redis Cluster client for the workflow cache (`createRedis`). */
  readonly redis: RedisClient;
  /** RabbitMQ client the jobs are published through (`createAmqp`). */
  readonly amqp: AmqpClient;
  /** The service's logger (`createLogger`). */
  readonly logger: Logger;
  /** Metrics registry (default: a new one for service `workflows`). */
  readonly metrics?: ServiceMetrics;
  /** How long a cached workflow lives in Redis, in seconds (`WORKFLOW_CACHE_TTL_S`, default 600: seed 003's 10 minutes). */
  readonly cacheTtlSeconds?: number;
  /**
   * The process's near cache of workflows kept honest by Redis's change
   * reports (kit `createNearCache`, prefix `wf:`); owned and closed by the
   * caller. Without it every cached read asks Redis.
   */
  readonly nearCache?: NearCache;
  /** Maximum request body in bytes (default 256 KiB: 100 steps with configs fit). */
  readonly bodyLimit?: number;
  /** Job outbox relay period in ms (`OUTBOX_RELAY_INTERVAL_MS`, default 2000); 0 turns the relay off (tests drive it). */
  readonly outboxRelayIntervalMs?: number;
  /** Most outbox rows one relay pass claims (`OUTBOX_RELAY_BATCH`, default 500). */
  readonly outboxRelayBatchSize?: number;
  /** How long a writing request owns its fresh outbox rows, and a relay claim its rows, in ms (default 15 000). */
  readonly outboxLeaseMs?: number;
  /**
   * Accept webhook URLs on loopback, private or cluster-internal hosts
   * (`WEBHOOK_ALLOW_PRIVATE_NETWORKS`, default false: the worker would refuse
   * to deliver them, so the API answers 400 instead).
   */
  readonly allowPrivateWebhooks?: boolean;
}

/**
 * The workflows API on the kit's server. Readiness fails only without
 * PostgreSQL: the cache is an accelerator, and a write's jobs wait in the
 * transactional outbox while RabbitMQ is away (the relay publishes them when
 * it is back), so Redis or RabbitMQ outages are reported but keep the pods in
 * rotation.
 */
export function buildApp(deps: WorkflowsDeps): { app: FastifyInstance; outbox: JobOutbox } {
  const metrics = deps.metrics ?? createMetrics('workflows');
  const registers = [metrics.registry];
  const cacheLookups = new Counter({
    name: 'workflows_cache_lookups_total',
    help: 'Workflow cache lookups by result (near: served from this process\'s near cache; hit, miss, error: Redis; invalidate_error)',
    labelNames: ['result'] as const,
    registers,
  });
  const publishFailures = new Counter({
    name: 'workflows_job_publish_failures_total',
    help: 'Job publishes that failed; the job stays in the outbox and the relay retries it',
    labelNames: ['type'] as const,
    registers,
  });
  const relayed = new Counter({
    name: 'workflows_outbox_relayed_total',
    help: 'Jobs published by the outbox relay because their first publish did not complete',
    labelNames: ['type'] as const,
    registers,
  });
  const app = createHttpServer({
    service: 'workflows',
    logger: deps.logger,
    metrics,
    bodyLimit: deps.bodyLimit ?? 262_144,
    checks: [
      { name: 'postgres', check: () => checkPg(deps.pool) },
      {
        name: 'redis',
        check: async () => ({ ...(await checkRedis(deps.redis)), ...(deps.nearCache ? { nearCache: deps.nearCache.stats() } : {}) }),
        critical: false,
      },
      { name: 'rabbitmq', check: () => deps.amqp.check(), critical: false },
    ],
  });
  // Declared on every (re)connection, before publishes may use it: the job
  // queues must exist even if no worker has started yet, or jobs would be dropped as unroutable.
  app.addHook('onReady', () =>
    deps.amqp.onConnect(async (connection) => {
      const channel = await connection.createChannel();
      try {
        await assertJobTopology(channel);
      } finally {
        await channel.close().catch(() => undefined);
      }
    }),
  );
  const outbox = new JobOutbox({
    pool: deps.pool,
    publish: (exchange, routingKey, body, options) => deps.amqp.publish(exchange, routingKey, body, options),
    logger: deps.logger,
    publishFailures,
    relayed,
    leaseMs: deps.outboxLeaseMs,
    relayIntervalMs: deps.outboxRelayIntervalMs,
    relayBatchSize: deps.outboxRelayBatchSize,
    canPublish: () => deps.amqp.connected,
  });
  // Read from PostgreSQL at scrape time; a failed read keeps the last values rather than failing /metrics.
  let backlog: Promise<{ pending: number; oldestSeconds: number }> | undefined;
  const readBacklog = () => (backlog ??= outbox.backlog().finally(() => (backlog = undefined)));
  new Gauge({
    name: 'workflows_outbox_pending',
    help: 'Jobs in the outbox not yet confirmed by RabbitMQ (read at scrape time)',
    registers,
    async collect() {
      await readBacklog().then((b) => this.set(b.pending), () => undefined);
    },
  });
  new Gauge({
    name: 'workflows_outbox_oldest_seconds',
    help: 'Age of the oldest job in the outbox, 0 when empty (read at scrape time)',
    registers,
    async collect() {
      await readBacklog().then((b) => this.set(b.oldestSeconds), () => undefined);
    },
  });
  if ((deps.outboxRelayIntervalMs ?? 2_000) > 0) {
    app.addHook('onReady', async () => outbox.start());
    // The HTTP server stops first; the relay's pass in progress finishes before the pools close.
    app.addHook('onClose', async () => outbox.stop());
  }
  void app.register(workflowRoutes, {
    repository: new WorkflowRepository(deps.pool),
    cache: new WorkflowCache(deps.redis, deps.cacheTtlSeconds ?? 600, deps.logger, cacheLookups, deps.nearCache),
    allowPrivateWebhooks: deps.allowPrivateWebhooks ?? false,
    outbox,
  });
  return { app, outbox };
}
