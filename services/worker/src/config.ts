import { amqpEnv, boolVar, commonEnv, envSchema, intVar, JOB_TYPES, pgEnv, z } from '@noa/kit';

/** worker's environment: the shared contract (services/README.md) plus its own knobs. */
export const workerEnv = envSchema(
  commonEnv,
  pgEnv,
  amqpEnv,
  z.object({
    /** Unacked deliveries per queue consumer; 100-300 keeps the pipe full without hoarding jobs (DESIGN.md). */
    WORKER_PREFETCH: intVar(1, 1000).default(200),
    /** Comma-separated job types this deployment consumes (default all). */
    WORKER_JOB_TYPES: z
      .string()
      .default(JOB_TYPES.join(','))
      .transform((s) => s.split(',').map((t) => t.trim()).filter((t) => t.length > 0))
      .pipe(z.array(z.enum(JOB_TYPES)).min(1)),
    /** Attempts per job, the first included, before it is dead-lettered. */
    JOB_MAX_ATTEMPTS: intVar(1, 20).default(5),
    /** Delay before the first retry; each later retry doubles it. */
    JOB_RETRY_BASE_DELAY_MS: intVar(1).default(1000),
    /** Ceiling for a single retry delay. */
    JOB_RETRY_MAX_DELAY_MS: intVar(1).default(60_000),
    /** Per-request timeout for webhook delivery. */
    WEBHOOK_TIMEOUT_MS: intVar(1, 60_000).default(5000),
    /** How long processed jobs are remembered to recognise a redelivery, before they are pruned (hours; default a week). */
    WORKER_PROCESSED_JOBS_RETENTION_HOURS: intVar(1, 8_760).default(168),
    /** Allow webhook targets on loopback/private networks (local development only). */
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: boolVar().default(false),
  }),
);

export type WorkerEnv = z.infer<typeof workerEnv>;
