import { amqpEnv, boolVar, commonEnv, envSchema, intVar, pgEnv, redisEnv, z } from '@noa/kit';

/** workflows' environment: the shared contract (services/README.md) plus its own knobs. */
export const workflowsEnv = envSchema(
  commonEnv,
  pgEnv,
  redisEnv,
  amqpEnv,
  z.object({
    /** How long a cached workflow lives in Redis (seconds; seed 003 caches workflows for 10 minutes). */
    WORKFLOW_CACHE_TTL_S: intVar(1, 86_400).default(600),
    /** How long this process may serve a workflow from its near cache without asking Redis (ms); 0 turns it off. */
    WORKFLOW_NEAR_CACHE_TTL_MS: intVar(0, 60_000).default(5_000),
    /** Workflows kept in the near cache at most (the oldest go first). */
    WORKFLOW_NEAR_CACHE_MAX_ENTRIES: intVar(1, 1_000_000).default(10_000),
    /**
     * How long a write waits for RabbitMQ to confirm its jobs before leaving them to the outbox relay (ms).
     * At most 10 s: the writing request owns its outbox rows for 15 s, and a publish still waiting
     * after that would race the relay's and send the jobs twice.
     */
    JOB_PUBLISH_TIMEOUT_MS: intVar(100, 10_000).default(3000),
    /** How often the job outbox relay republishes jobs whose first publish did not complete (ms). */
    OUTBOX_RELAY_INTERVAL_MS: intVar(100, 600_000).default(2000),
    /** Most outbox rows one relay pass claims; a full batch is followed by another pass at once. */
    OUTBOX_RELAY_BATCH: intVar(1, 100_000).default(500),
    /** Accept webhook URLs on loopback, private or cluster-internal hosts (local use only; the worker has the same switch). */
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: boolVar().default(false),
  }),
);

export type WorkflowsEnv = z.infer<typeof workflowsEnv>;
