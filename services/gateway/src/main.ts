import { ConfigError, closeRedis, createLogger, createMetrics, createRedis, loadEnv, runService, waitForRedis } from "@noa/kit";
import { buildApp } from "./app";
import { gatewayEnvSchema, gatewaySettings } from "./config";

/** How long startup waits for Redis before serving on the local fallback. */
const REDIS_STARTUP_WAIT_MS = 3000;

async function main() {
  const env = loadEnv(gatewayEnvSchema);
  const service = env.SERVICE_NAME ?? "gateway";
  const logger = createLogger(service, env.LOG_LEVEL);
  const redis = createRedis({
    clusterNodes: env.REDIS_CLUSTER_NODES,
    url: env.REDIS_URL,
    password: env.REDIS_PASSWORD,
    logger,
    // No auto-pipelining: with leased rate limits the gateway sends Redis a
    // command now and then, rarely two in one event-loop turn, and a pipeline
    // per turn costs more than the write it would save (measured: ≈ 15% of
    // the gateway's CPU per request in bench/gateway.ts).
    autoPipelining: false,
    // A rate-limit decision is worth little after this; the limiter falls back to memory instead.
    commandTimeoutMs: Math.max(env.RATE_LIMIT_REDIS_TIMEOUT_MS * 4, 200),
  });
  // Shared limits from the first request when Redis is there; without it the gateway still starts (degraded).
  await waitForRedis(redis, REDIS_STARTUP_WAIT_MS).catch((error: Error) =>
    logger.warn({ err: { message: error.message } }, "Redis Cluster not ready at startup; serving with the local rate-limit fallback"),
  );
  const app = await buildApp({
    settings: gatewaySettings(env),
    redis,
    logger,
    metrics: createMetrics(service),
    accessLog: env.ACCESS_LOG,
  });
  await runService({
    app,
    port: env.PORT,
    logger,
    timeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    onShutdown: [() => closeRedis(redis)],
  });
}

main().catch((error: unknown) => {
  // Config errors list every problem at once; print them plainly for whoever reads the pod's log.
  if (error instanceof ConfigError) {
    process.stderr.write(`gateway: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`gateway: failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
