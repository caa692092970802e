import { checkPg, Counter, createHttpServer, createMetrics, type AmqpClient, type Logger, type PgPool, type ServiceMetrics } from '@noa/kit';
import type { ChannelModel } from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { JobConsumer } from './consumer';
import { defaultHandlers, type JobHandler } from './handlers';
import { createWorkerMetrics } from './metrics';
import { ProcessedJobsRetention } from './retention';
import { DEFAULT_RETRY_POLICY, validateRetryPolicy, type RetryPolicy } from './retry';

export interface WorkerDeps {
  /** PostgreSQL/Citus pool (`createPgPool`); size it for the jobs in flight that hold a connection. */
  readonly pool: PgPool;
  /** RabbitMQ client (`createAmqp`); the consumers re-attach on each of its reconnects. */
  readonly amqp: AmqpClient;
  /** The service's logger (`createLogger`). */
  readonly logger: Logger;
  /** Registry for HTTP and job metrics (default: a new one for service `worker`). */
  readonly metrics?: ServiceMetrics;
  /** Handlers by job type (default: the five platform job types). */
  readonly handlers?: readonly JobHandler<any>[];
  /** Retry policy (default 5 attempts, 1 s doubling to at most 60 s). */
  readonly retry?: RetryPolicy;
  /** Unacked deliveries per queue consumer (default 200). */
  readonly prefetch?: number;
  /** Job types to consume (default: every handler's). */
  readonly types?: readonly string[];
  /** How long processed jobs are remembered before they are pruned, in hours (default 168: a week). */
  readonly processedJobsRetentionHours?: number;
}

export interface WorkerApp {
  /** Health and metrics server; the worker has no other HTTP API. */
  readonly app: FastifyInstance;
  readonly consumer: JobConsumer;
  /** Prunes `processed_jobs` past its retention; started by `startConsuming`, stopped by the caller on shutdown. */
  readonly retention: ProcessedJobsRetention;
  /** Starts consuming now if RabbitMQ is connected, and again after every reconnect; starts the pruning. */
  startConsuming(): Promise<void>;
}

/**
 * The worker: a JobConsumer on the kit's AMQP client (its channels are
 * re-created after every reconnect) and an HTTP server for probes and
 * Prometheus. Readiness fails while PostgreSQL is unreachable or the
 * consumers are not attached.
 */
export function buildApp(deps: WorkerDeps): WorkerApp {
  const metrics = deps.metrics ?? createMetrics('worker');
  let connection: ChannelModel | null = null;
  let consumer!: JobConsumer;
  const workerMetrics = createWorkerMetrics(metrics.registry, () => consumer.queueDepths());
  consumer = new JobConsumer({
    openChannel: async () => {
      if (!connection) throw new Error('RabbitMQ not connected');
      return connection.createConfirmChannel();
    },
    pool: deps.pool,
    logger: deps.logger,
    metrics: workerMetrics,
    handlers: deps.handlers ?? defaultHandlers(),
    retry: validateRetryPolicy(deps.retry ?? DEFAULT_RETRY_POLICY),
    prefetch: deps.prefetch ?? 200,
    types: deps.types,
  });
  const pruned = new Counter({
    name: 'worker_processed_jobs_pruned_total',
    help: 'processed_jobs records deleted after their retention',
    registers: [metrics.registry],
  });
  const retention = new ProcessedJobsRetention({
    pool: deps.pool,
    logger: deps.logger,
    retentionHours: deps.processedJobsRetentionHours ?? 168,
    onPruned: (rows) => pruned.inc(rows),
    slots: consumer.databaseSlots,
  });
  const app = createHttpServer({
    service: 'worker',
    logger: deps.logger,
    metrics,
    checks: [
      { name: 'postgres', check: () => checkPg(deps.pool) },
      {
        name: 'rabbitmq',
        check: async () => {
          const broker = await deps.amqp.check();
          if (!consumer.consuming) throw new Error('consumers not attached');
          return { ...broker, inFlight: consumer.inFlightCount };
        },
      },
    ],
  });
  return {
    app,
    consumer,
    retention,
    startConsuming: () => {
      retention.start();
      return deps.amqp.onConnect(async (model) => {
        connection = model;
        await consumer.start();
      });
    },
  };
}
