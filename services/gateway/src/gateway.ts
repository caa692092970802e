import { isUtf8 } from "node:buffer";
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from "fastify";
import { Counter, Gauge, type Logger, type RedisClient, type ServiceMetrics } from "@noa/kit";
import { createTokenVerifier, type TokenVerifierOptions } from "./auth";
import { clientAddress, rateLimitSubject } from "./client-ip";
import { clientResponseHeaders, upstreamRequestHeaders } from "./headers";
import { RateLimitPolicy, type Decision, type LoginOutcome, type RateLimitSettings } from "./rate-limit-policy";
import { CIRCUIT_STATE, isFailure, Upstream, type UpstreamFailure } from "./upstream";

/** Where each API prefix goes. Upstreams own their full `/api/...` paths; the gateway forwards paths unchanged. */
export const ROUTES = [
  { prefix: "/api/auth", upstream: "users" },
  { prefix: "/api/users", upstream: "users" },
  { prefix: "/api/workflows", upstream: "workflows" },
  { prefix: "/api/storage", upstream: "storage" },
] as const;

export type UpstreamName = (typeof ROUTES)[number]["upstream"];

/** Circuit-breaker settings shared by every upstream. */
export interface CircuitSettings {
  /** Failure percentage within the rolling window that opens a circuit. */
  errorThresholdPercentage: number;
  /** Requests within the rolling window before a circuit may open. */
  volumeThreshold: number;
  /** Rolling statistics window in ms. */
  rollingWindowMs: number;
  /** Time an open circuit waits before a trial request, in ms. */
  resetTimeoutMs: number;
}

export interface GatewaySettings {
  /** Base URL of each upstream service. */
  upstreams: Record<UpstreamName, string>;
  /** Per-request upstream timeout (headers, and between body chunks), in ms. */
  upstreamTimeoutMs: number;
  /** Keep-alive connections per upstream per gateway process. */
  upstreamConnections: number;
  circuit: CircuitSettings;
  jwt: TokenVerifierOptions;
  rateLimits: RateLimitSettings;
  /** Proxies in front of the gateway that append to X-Forwarded-For (see client-ip.ts); 0 locally, 2 behind ALB + Istio. */
  trustedProxyHops: number;
  /** Maximum request body in bytes; larger bodies get 413 before they are read. */
  bodyLimitBytes: number;
}

export interface GatewayDeps {
  settings: GatewaySettings;
  /** Redis Cluster client (ioredis) shared by the rate limiters; owned and closed by the caller. */
  redis: RedisClient;
  logger: Logger;
  /** Prometheus registry that `/metrics` serves. */
  registry: ServiceMetrics["registry"];
}

/** What the gateway reports in `/health/ready`; never a reason to fail readiness. */
export interface GatewayHealth {
  rateLimits: { store: "redis" | "memory"; degraded: boolean; reason?: string };
  circuits: Record<string, string>;
}

export interface GatewayHandle {
  health(): GatewayHealth;
  policy: RateLimitPolicy;
  upstreams: Record<UpstreamName, Upstream>;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The client's rate-limit key: its address after the trusted-proxy rule, an IPv6 one by its /64. */
    clientIp: string;
    /** Subject of the verified bearer token. */
    userId: string | undefined;
    /** Why the gateway answered for the upstream itself (502/503/504), if it did. */
    upstreamFailure: UpstreamFailure["reason"] | undefined;
  }
}

/**
 * Adds the gateway's routes, hooks, parsers and metrics to a fastify instance
 * (the kit's server, which already serves health and metrics).
 */
export function registerGateway(app: FastifyInstance, deps: GatewayDeps): GatewayHandle {
  const { settings, logger, registry } = deps;
  const log = logger.child({ component: "gateway" });

  // Metrics: the circuit gauge is read at scrape time, so no event can leave it stale.
  new Gauge({
    name: "gateway_circuit_state",
    help: "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open",
    labelNames: ["upstream"],
    registers: [registry],
    collect() {
      for (const upstream of Object.values(upstreams)) this.set({ upstream: upstream.name }, CIRCUIT_STATE[upstream.state]);
    },
  });
  const rejected = new Counter({
    name: "gateway_rate_limited_total",
    help: "Requests rejected with 429, by the limit that rejected them",
    labelNames: ["limit", "store"],
    registers: [registry],
  });
  const fallbackGauge = new Gauge({
    name: "gateway_rate_limit_fallback",
    help: "1 while rate limits are enforced by the local in-memory fallback because Redis is unreachable",
    registers: [registry],
  });
  fallbackGauge.set(0);
  const upstreamFailures = new Counter({
    name: "gateway_upstream_failures_total",
    help: "Requests the gateway answered itself because an upstream failed, by reason",
    labelNames: ["upstream", "reason"],
    registers: [registry],
  });

  const fallbackDecisions = new Counter({
    name: "gateway_rate_limit_fallback_decisions_total",
    help: "Rate-limit decisions made by the local in-memory fallback: Redis unavailable, or one answer later than RATE_LIMIT_REDIS_TIMEOUT_MS",
    labelNames: ["reason"],
    registers: [registry],
  });
  const onStoreChange = (store: "redis" | "memory", error?: unknown) => {
    if (store === "memory") {
      log.warn(
        { reason: error instanceof Error ? error.message : String(error), rateLimitStore: "memory", divisor: settings.rateLimits.fallbackDivisor },
        "rate limits: Redis Cluster unreachable; enforcing local in-memory limits (each limit / fallback divisor per replica) until it answers",
      );
    } else {
      log.info({ rateLimitStore: "redis" }, "rate limits: Redis Cluster answering again; limits are shared by every replica");
    }
    fallbackGauge.set(store === "memory" ? 1 : 0);
  };
  const apiLeases = new Counter({
    name: "gateway_rate_limit_api_leases_total",
    help: "Round trips to Redis that leased API rate-limit tokens (requests served from a lease need none)",
    registers: [registry],
  });
  const apiLeasedTokens = new Counter({
    name: "gateway_rate_limit_api_lease_tokens_total",
    help: "API rate-limit tokens asked for in leases from Redis",
    registers: [registry],
  });
  const offenderLookups = new Counter({
    name: "gateway_rate_limit_offender_lookups_total",
    help: "Lookups of a client's repeat-offender flag (strict mode), at most one per client, API window and replica",
    registers: [registry],
  });
  const policy = new RateLimitPolicy(settings.rateLimits, deps.redis, onStoreChange, {
    onFallbackDecision: (reason) => fallbackDecisions.inc({ reason }),
    onOffenderLookup: () => offenderLookups.inc(),
    onApiLease: (size) => {
      apiLeases.inc();
      apiLeasedTokens.inc(size);
    },
  });
  log.info({ rateLimitStore: "redis", keyPrefix: settings.rateLimits.keyPrefix, apiLeaseMax: settings.rateLimits.apiLeaseMax }, "rate limiters for api and auth using the Redis Cluster store (distributed)");

  const upstreams = {} as Record<UpstreamName, Upstream>;
  for (const name of Object.keys(settings.upstreams) as UpstreamName[]) {
    upstreams[name] = new Upstream({
      name,
      url: settings.upstreams[name],
      timeoutMs: settings.upstreamTimeoutMs,
      connections: settings.upstreamConnections,
      ...settings.circuit,
      logger: log,
    });
  }

  app.decorateRequest("clientIp", "");
  app.decorateRequest("userId", undefined);
  app.decorateRequest("upstreamFailure", undefined);

  // Bodies stay raw bytes: they are forwarded as received, never re-serialised.
  // JSON is still checked here so malformed input gets its 400 at the edge.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "buffer", bodyLimit: settings.bodyLimitBytes }, (_request, body, done) => {
    const raw = body as Buffer;
    if (raw.length === 0) return done(null, undefined);
    try {
      JSON.parse(raw.toString("utf8"));
    } catch (error) {
      const invalid = new Error(`request body is not valid JSON: ${(error as Error).message}`) as Error & { statusCode: number; code: string };
      invalid.statusCode = 400;
      invalid.code = "FST_ERR_CTP_INVALID_JSON_BODY";
      return done(invalid, undefined);
    }
    done(null, raw);
  });
  app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: settings.bodyLimitBytes }, (_request, body, done) => {
    done(null, (body as Buffer).length === 0 ? undefined : body);
  });

  const verifyToken = createTokenVerifier(settings.jwt);

  /**
   * Counts the request against its client's API limit, then (on protected
   * routes) checks its token, as one callback-style `onRequest` hook: most
   * decisions come synchronously from this gateway's lease, so most requests
   * pay no promise or microtask hop here. Over the limit → 429 (an
   * unauthenticated flood is still counted); bad token → 401.
   */
  function limitThenMaybeAuthenticate(authenticate: boolean): onRequestHookHandler {
    return (request, reply, done) => {
      request.clientIp = rateLimitSubject(clientAddress(request.raw.socket.remoteAddress, request.headers["x-forwarded-for"], settings.trustedProxyHops));
      const decided = (decision: Decision) => {
        setRateLimitHeaders(reply, decision);
        if (!decision.allowed) tooManyRequests(reply, decision);
        else if (!authenticate || authenticated(request, reply)) done();
        // Otherwise the hook has answered (429 or 401): fastify stops when a hook sends without calling done.
      };
      const decision = policy.checkApi(request.clientIp);
      if (decision instanceof Promise) decision.then(decided, done);
      else decided(decision);
    };
  }

  /** Verifies the bearer token and sets `userId`; answers 401 and returns false when it is not valid. */
  function authenticated(request: FastifyRequest, reply: FastifyReply): boolean {
    const result = verifyToken(request.headers.authorization);
    if (result.ok) {
      request.userId = result.userId;
      return true;
    }
    reply
      .code(401)
      .header("www-authenticate", `Bearer error="${result.reason === "missing_token" ? "invalid_request" : "invalid_token"}"`)
      .send({ statusCode: 401, error: "Unauthorized", message: result.message, requestId: request.id, reason: result.reason });
    return false;
  }

  const rateLimit = limitThenMaybeAuthenticate(false);
  const rateLimitThenAuthenticate = limitThenMaybeAuthenticate(true);

  function tooManyRequests(reply: FastifyReply, decision: Decision): FastifyReply {
    rejected.inc({ limit: decision.rejectedBy, store: decision.store });
    // The headers describe the limit that rejected the request (on login: the auth limit, not the API one).
    setRateLimitHeaders(reply, decision);
    reply
      .code(429)
      .header("retry-after", String(Math.max(1, Math.ceil(decision.msBeforeReset / 1000))))
      .send({
        statusCode: 429,
        error: "Too Many Requests",
        message: `rate limit '${decision.rejectedBy}' exceeded (${decision.limit} per window); retry after the Retry-After seconds`,
        requestId: reply.request.id,
        reason: `rate_limited:${decision.rejectedBy}`,
      });
    return reply;
  }

  async function forward(request: FastifyRequest, reply: FastifyReply, upstream: Upstream) {
    const body = request.body as Buffer | undefined;
    const headers = upstreamRequestHeaders(request.headers, {
      requestId: request.id,
      peerAddress: request.raw.socket.remoteAddress,
      protocol: request.protocol,
      userId: request.userId,
    });
    // An empty body with a Content-Type (common from clients on DELETE) is no body at all;
    // forwarding the type alone makes a JSON upstream reject the request.
    if (body === undefined) delete headers["content-type"];
    const result = await upstream.send({ method: request.method as "GET", path: request.url, headers, body }, { client: reply.raw });
    if (isFailure(result)) {
      sendFailure(reply, upstream, result);
      return { status: result.status };
    }
    reply.code(result.statusCode).headers(clientResponseHeaders(result.headers));
    if (request.method === "HEAD" || result.statusCode === 204 || result.statusCode === 304) {
      // No body on these; a stray streamed one is dropped (which closes that upstream connection).
      if (!Buffer.isBuffer(result.body)) result.body.destroy();
      reply.send();
    } else if (Buffer.isBuffer(result.body) && isText(result.headers["content-type"]) && isUtf8(result.body)) {
      // A string goes out in one write together with the status line and headers
      // (a Buffer would take a second chunk and a writev); valid UTF-8 re-encodes to the same bytes.
      reply.send(result.body.toString("utf8"));
    } else {
      reply.send(result.body);
    }
    return { status: result.statusCode };
  }

  function sendFailure(reply: FastifyReply, upstream: Upstream, failure: UpstreamFailure) {
    upstreamFailures.inc({ upstream: upstream.name, reason: failure.reason });
    reply.request.upstreamFailure = failure.reason;
    if (failure.reason === "circuit_open") reply.header("retry-after", String(Math.ceil(upstream.resetTimeoutMs / 1000)));
    reply.code(failure.status).send({
      statusCode: failure.status,
      error: failure.status === 503 ? "Service Unavailable" : failure.status === 504 ? "Gateway Timeout" : failure.status === 499 ? "Client Closed Request" : "Bad Gateway",
      message: failure.message,
      requestId: reply.request.id,
      reason: failure.reason,
      upstream: upstream.name,
    });
  }

  const users = upstreams.users;
  const forwardTo = (upstream: Upstream) => async (request: FastifyRequest, reply: FastifyReply) => {
    await forward(request, reply, upstream);
    return reply;
  };

  /**
   * Counts a request against a limit before forwarding it (so parallel ones
   * cannot slip past), answers 429 when over it, and settles the count from
   * the upstream's status afterwards (what the upstream did not judge is given back).
   */
  async function forwardCounted(
    request: FastifyRequest,
    reply: FastifyReply,
    upstream: Upstream,
    attempt: () => Promise<Decision>,
    settle: (status: number) => Promise<void>,
  ) {
    const decision = await attempt();
    if (!decision.allowed) return tooManyRequests(reply, decision);
    const { status } = await forward(request, reply, upstream);
    await settle(status);
    return reply;
  }
  const succeeded = (status: number) => status >= 200 && status < 300;

  // Public: sign-up (API limit + sign-up limit per IP) and login (API limit + auth limit per IP and account).
  app.post("/api/auth/signup", { onRequest: rateLimit }, (request, reply) =>
    forwardCounted(request, reply, users, () => policy.attemptSignup(request.clientIp),
      // Only what got as far as the password hash counts: created, or the email was taken.
      (status) => policy.finishSignup(request.clientIp, succeeded(status) || status === 409)),
  );
  app.post("/api/auth/login", { onRequest: rateLimit }, (request, reply) => {
    const account = loginAccount(request.body);
    // Every attempt must count against its account: a body without one (an array, a number, no
    // email at all) could otherwise try passwords counted by address only.
    if (account === undefined) {
      return reply.code(400).send({
        statusCode: 400,
        error: "Bad Request",
        message: "body.email: a login needs a JSON body whose email is a non-empty string",
        requestId: request.id,
      });
    }
    return forwardCounted(request, reply, users, () => policy.attemptLogin(request.clientIp, account),
      (status) => policy.finishLogin(request.clientIp, account, loginOutcome(status)));
  });

  // A presigned upload URL: the API limit and the token, then the upload limit per user.
  app.post("/api/storage/uploads", { onRequest: rateLimitThenAuthenticate }, (request, reply) =>
    forwardCounted(request, reply, upstreams.storage, () => policy.attemptUpload(request.clientIp, request.userId!),
      (status) => policy.finishUpload(request.userId!, succeeded(status))),
  );

  for (const route of ROUTES) {
    const handler = forwardTo(upstreams[route.upstream]);
    const options = { onRequest: rateLimitThenAuthenticate };
    app.all(route.prefix, options, handler);
    app.all(`${route.prefix}/*`, options, handler);
  }
  // Any other /api path is a 404, but still one of the client's API requests: a flood of
  // made-up paths is limited like any other (the specific prefixes above win over this route).
  app.all("/api/*", { onRequest: rateLimit }, (_request, reply) => reply.callNotFound());

  app.addHook("onClose", async () => {
    await Promise.all(Object.values(upstreams).map((upstream) => upstream.close()));
  });

  return {
    policy,
    upstreams,
    health() {
      const degraded = policy.state.store === "memory";
      return {
        rateLimits: { store: policy.state.store, degraded, ...(degraded ? { reason: policy.state.reason } : {}) },
        circuits: Object.fromEntries(Object.values(upstreams).map((upstream) => [upstream.name, upstream.state])),
      };
    },
  };
}

function setRateLimitHeaders(reply: FastifyReply, decision: Decision) {
  reply.header("ratelimit-limit", decision.limit);
  reply.header("ratelimit-remaining", decision.remaining);
  reply.header("ratelimit-reset", Math.max(0, Math.ceil(decision.msBeforeReset / 1000)));
}

/** Verdicts of `isText` per Content-Type value seen (a service sends a handful of distinct ones). */
const textTypes = new Map<string, boolean>();

/** JSON and text bodies in UTF-8 (or ASCII), which decode and re-encode to the same bytes. */
function isText(contentType: string | undefined): boolean {
  if (!contentType) return false;
  let verdict = textTypes.get(contentType);
  if (verdict === undefined) {
    verdict = classifyText(contentType);
    // Bounded: a misbehaving upstream cannot grow it without limit.
    if (textTypes.size < 256) textTypes.set(contentType, verdict);
  }
  return verdict;
}

function classifyText(contentType: string): boolean {
  const type = contentType.toLowerCase();
  if (!(type.startsWith("application/json") || type.startsWith("text/") || type.includes("+json"))) return false;
  const charset = /charset=([^;\s]+)/.exec(type)?.[1]?.replace(/"/g, "");
  return charset === undefined || charset === "utf-8" || charset === "utf8" || charset === "us-ascii";
}

/** The account a login body names (`email`), if it is a JSON object with one. */
function loginAccount(body: unknown): string | undefined {
  if (!Buffer.isBuffer(body)) return undefined;
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { email?: unknown };
    return typeof parsed?.email === "string" && parsed.email.length > 0 ? parsed.email : undefined;
  } catch {
    return undefined;
  }
}

/** Only a verdict on the credentials counts: 2xx succeeded, 401/403 failed, anything else was not judged. */
function loginOutcome(status: number): LoginOutcome {
  if (status >= 200 && status < 300) return "succeeded";
  if (status === 401 || status === 403) return "failed";
  return "not-judged";
}
