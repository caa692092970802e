/**
 * @noa/kit: what every noa service starts, reports and stops with. Services
 * import only from here (tests may also use `@noa/kit/testing`).
 */
export { z } from 'zod';
export {
  ConfigError,
  loadEnv,
  envSchema,
  withEnvRules,
  maskValue,
  intVar,
  boolVar,
  hostPortList,
  commonEnv,
  pgEnv,
  redisEnv,
  amqpEnv,
  jwtEnv,
  type EnvRule,
} from './src/config.js';
export { createLogger, REDACT_PATHS, type Logger } from './src/logger.js';
export { createMetrics, HTTP_DURATION_BUCKETS, type ServiceMetrics } from './src/metrics.js';
// Services declare their own metrics with the same prom-client the registry uses.
export { Counter, Gauge, Histogram } from 'prom-client';
export { createPgPool, checkPg, withTransaction, type PgPoolArgs, type PgPool, type PgPoolClient } from './src/pg.js';
export {
  createRedis,
  waitForRedis,
  checkRedis,
  closeRedis,
  redisNodeOf,
  redisRetryDelay,
  type RedisArgs,
  type RedisClient,
} from './src/redis.js';
export { cacheGenerationKey, fillCache, invalidateCache, readCacheTicket, CACHE_GENERATION_TTL_MS, type CacheTicket } from './src/cache.js';
export { createNearCache, type NearCache, type NearCacheArgs, type NearCacheStats } from './src/near-cache.js';
export { isPrivateAddress, isPrivateHost } from './src/targets.js';
export { createAmqp, withHeartbeat, type AmqpArgs, type AmqpClient, type AmqpSetup } from './src/amqp.js';
export { createHttpServer, HttpError, type HealthCheck, type HttpServerArgs, type ErrorBody } from './src/http.js';
export { assertStorableText, decodeKeysetCursor, describeIssue, encodeKeysetCursor, findUnstorableText, forwardedUserId, parseInput, UNPAIRED_SURROGATE, UNSTORABLE_TEXT_RULE, USER_ID_HEADER } from './src/requests.js';
export { runService, type RunServiceArgs } from './src/run.js';
export {
  JOB_TYPES,
  JOBS_EXCHANGE,
  DEAD_LETTER_EXCHANGE,
  DEAD_LETTER_QUEUE,
  JOB_DELIVERY_LIMIT,
  jobQueue,
  delayQueue,
  assertJobTopology,
  jobEnvelopeSchema,
  newJob,
  type JobType,
  type JobEnvelope,
} from './src/jobs.js';
