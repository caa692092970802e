import { checkRedis, createHttpServer, createMetrics, type Logger, type RedisClient, type ServiceMetrics } from "@noa/kit";
import type { FastifyInstance } from "fastify";
import { registerGateway, type GatewayHandle, type GatewaySettings } from "./gateway";

export interface GatewayAppDeps {
  settings: GatewaySettings;
  /** Redis Cluster client for the rate limits; owned and closed by the caller. */
  redis: RedisClient;
  logger: Logger;
  /** Metrics registry and HTTP metrics (default: a new `createMetrics("gateway")`). */
  metrics?: ServiceMetrics;
  /**
   * `errors` (default): log only 5xx answers and requests slower than
   * `slowRequestMs`; `all`: one line per request (≈ 40–55 µs each, DESIGN.md).
   */
  accessLog?: "errors" | "all";
  /** A request slower than this is logged even with `accessLog: "errors"` (default 1000 ms). */
  slowRequestMs?: number;
}

declare module "fastify" {
  interface FastifyInstance {
    /** Rate-limit policy, upstream breakers and health of this gateway. */
    gateway: GatewayHandle;
  }
}

/**
 * The gateway as a fastify instance (routes registered, not yet listening):
 * the kit's server (request ids, request metrics, health endpoints,
 * `/metrics`, JSON errors) plus the gateway's routes, hooks and metrics.
 */
export async function buildApp(deps: GatewayAppDeps): Promise<FastifyInstance> {
  const metrics = deps.metrics ?? createMetrics("gateway");
  const slowRequestMs = deps.slowRequestMs ?? 1000;
  let gateway: GatewayHandle | undefined;

  const app = createHttpServer({
    service: "gateway",
    logger: deps.logger,
    metrics,
    bodyLimit: deps.settings.bodyLimitBytes,
    logRequests: deps.accessLog === "all",
    // The client address comes from TRUSTED_PROXY_HOPS (client-ip.ts), never from fastify's trust-everything default.
    trustProxy: false,
    checks: [
      {
        // Redis down is degraded, not down: the local fallback keeps limiting.
        name: "rateLimits",
        async check() {
          const state = gateway!.health().rateLimits;
          try {
            await checkRedis(deps.redis);
          } catch (error) {
            return { status: "degraded" as const, store: "memory", reason: `Redis Cluster unreachable: ${(error as Error).message}` };
          }
          return { status: state.degraded ? ("degraded" as const) : ("ok" as const), ...state };
        },
      },
      {
        // An open circuit is the breaker doing its job; the gateway itself is fine, so this never fails readiness.
        name: "upstreams",
        critical: false,
        async check() {
          const circuits = gateway!.health().circuits;
          const anyOpen = Object.values(circuits).some((state) => state !== "closed");
          return { status: anyOpen ? ("degraded" as const) : ("ok" as const), circuits };
        },
      },
    ],
  });

  if (deps.accessLog !== "all") {
    // Callback style, not async: this runs on every request and needs no promise of its own.
    app.addHook("onResponse", (request, reply, done) => {
      // While a circuit is open every request to that upstream is a 503: its transition is logged
      // once and gateway_upstream_failures_total counts the rest, so a flood of lines would add nothing.
      if (request.upstreamFailure !== "circuit_open" && (reply.statusCode >= 500 || reply.elapsedTime > slowRequestMs)) {
        request.log.warn(
          { method: request.method, url: request.url, statusCode: reply.statusCode, responseTimeMs: Math.round(reply.elapsedTime) },
          reply.statusCode >= 500 ? "request answered with a server error" : "slow request",
        );
      }
      done();
    });
  }

  gateway = registerGateway(app, { settings: deps.settings, redis: deps.redis, logger: deps.logger, registry: metrics.registry });
  app.decorate("gateway", gateway);
  await app.ready();
  return app;
}
