import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { lazyChildLoggerFactory } from './logger.js';
import type { ServiceMetrics } from './metrics.js';

/** A dependency probed by `/health/ready`. */
export interface HealthCheck {
  /** Key in the readiness JSON, e.g. `postgres`. */
  readonly name: string;
  /**
   * Throws when the dependency is unusable. May return details to show; a
   * `status: 'degraded'` detail reports a working fallback without failing
   * readiness (e.g. the gateway's in-memory rate limiter while Redis is away).
   */
  check(): Promise<void | ({ status?: 'ok' | 'degraded' } & Record<string, unknown>)>;
  /** Give up on the check after this long (default 2000 ms; a hung dependency must not hang the probe). */
  readonly timeoutMs?: number;
  /**
   * Whether a failure makes the pod unready (default true). Non-critical
   * failures are reported with status `fail` but the endpoint answers 200.
   */
  readonly critical?: boolean;
}

export interface HttpServerArgs {
  /** Service name, for logs. */
  readonly service: string;
  /** The service's pino logger; fastify logs through it. */
  readonly logger: Logger;
  /** Request metrics are recorded here and `/metrics` serves its registry. */
  readonly metrics: ServiceMetrics;
  /** Dependencies probed by `/health/ready` (default none). */
  readonly checks?: readonly HealthCheck[];
  /** Maximum request body in bytes (default 1 MiB); larger bodies get 413. */
  readonly bodyLimit?: number;
  /**
   * Log one line per completed request (default false). Costs ≈40–55 µs per
   * request (DESIGN.md); request rates and latencies are in `/metrics` anyway,
   * and errors (5xx) are always logged.
   */
  readonly logRequests?: boolean;
  /** Socket-level timeout for a request in ms (default 30000); the gateway sets tighter upstream timeouts. */
  readonly requestTimeoutMs?: number;
  /**
   * fastify's `trustProxy` for `request.ip` / `request.protocol` (default
   * false). `true` would take the left-most `X-Forwarded-For` entry, which the
   * client controls; a service that needs the client address trusts a known
   * list of proxy addresses or resolves it itself (as the gateway does).
   */
  readonly trustProxy?: boolean | string | string[];
}

/** An error whose status and message reach the client as JSON. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    /** Extra fields merged into the JSON body (e.g. `{ retryAfter: 3 }`). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The JSON body of every error response. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  requestId: string;
  [extra: string]: unknown;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Flips `/health/startup` to 200; `runService` calls it once listening. */
    markStarted(): void;
    /** Whether `markStarted` has been called. */
    readonly started: boolean;
  }
}

/** Paths that are not counted in request metrics: probes would swamp real traffic. */
const UNMETERED = new Set(['/health', '/health/ready', '/health/startup', '/metrics']);

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function zodMessage(err: ZodError): string {
  return err.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(body)'}: ${i.message}`).join('; ');
}

async function runCheck(hc: HealthCheck) {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeoutMs = hc.timeoutMs ?? 2_000;
  try {
    const details = await Promise.race([
      hc.check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    const latencyMs = Math.round((performance.now() - started) * 10) / 10;
    return { status: 'ok' as const, latencyMs, ...(details ?? {}) };
  } catch (err) {
    const latencyMs = Math.round((performance.now() - started) * 10) / 10;
    return { status: 'fail' as const, latencyMs, error: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** A `pg` error with an SQLSTATE of class 22 (data exception). */
function isPgDataException(err: Error): boolean {
  const e = err as { code?: unknown; severity?: unknown };
  return typeof e.code === 'string' && typeof e.severity === 'string' && /^22[0-9A-Z]{3}$/.test(e.code);
}

/**
 * The fastify instance every service builds on: request ids (an incoming
 * well-formed `x-request-id` is kept so one id follows a request through the
 * gateway, otherwise a UUID), request metrics, health endpoints, `/metrics`,
 * and JSON errors — validation 400 with the reason, 413 for large bodies,
 * 404 for unknown routes, 500 without internals.
 */
export function createHttpServer(args: HttpServerArgs): FastifyInstance {
  const { metrics } = args;
  const checks = args.checks ?? [];
  const app = Fastify({
    loggerInstance: args.logger,
    logController: new LogController({
      disableRequestLogging: !(args.logRequests ?? false),
      requestIdLogLabel: 'requestId',
    }),
    childLoggerFactory: lazyChildLoggerFactory as never,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    bodyLimit: args.bodyLimit ?? 1_048_576,
    // No type coercion in JSON schema validation: fastify's default turns ["a@b.c"] into "a@b.c",
    // so a body the gateway saw as having no email would log in as that account.
    ajv: { customOptions: { coerceTypes: false } },
    requestTimeout: args.requestTimeoutMs ?? 30_000,
    trustProxy: args.trustProxy ?? false,
    // During shutdown, keep-alive connections get 503 + Connection: close for
    // new requests and idle sockets are closed, so in-flight requests drain.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  }) as unknown as FastifyInstance;

  let started = false;
  app.decorate('markStarted', () => {
    started = true;
  });
  app.decorate('started', {
    getter: () => started,
  });

  // Callback-style hooks: they run on every request, and an async hook costs a promise and a microtask hop each.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });

  // Node closes idle keep-alive sockets when the server closes, but a socket
  // busy with an in-flight request stays open afterwards and would hold the
  // drain until the timeout. Telling those clients `Connection: close` makes
  // Node end the socket right after the response.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  // One pair of bound label children per method, route and status (a bounded set):
  // binding hashes the labels once instead of on every request, for both metrics.
  const meters = new Map<string, { count: { inc(): void }; duration: { observe(seconds: number): void } }>();
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    if (!UNMETERED.has(route)) {
      const key = `${request.method} ${reply.statusCode} ${route}`;
      let meter = meters.get(key);
      if (meter === undefined) {
        const labels = { method: request.method, route, status_code: String(reply.statusCode) };
        meter = { count: metrics.httpRequestsTotal.labels(labels), duration: metrics.httpRequestDuration.labels(labels) };
        meters.set(key, meter);
      }
      meter.count.inc();
      meter.duration.observe(reply.elapsedTime / 1000);
    }
    done();
  });

  app.setErrorHandler((err: FastifyError | HttpError | ZodError | Error, request, reply) => {
    let statusCode: number;
    let message: string;
    let details: Record<string, unknown> | undefined;
    if (err instanceof ZodError) {
      statusCode = 400;
      message = zodMessage(err);
    } else if (err instanceof HttpError) {
      statusCode = err.statusCode;
      message = err.message;
      details = err.details;
    } else if ('validation' in err && err.validation) {
      statusCode = 400;
      message = err.message;
    } else if ('code' in err && err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      statusCode = 413;
      message = err.message;
    } else if (isPgDataException(err)) {
      // A value PostgreSQL refused (SQLSTATE class 22: NUL in text, a bad cast, out of range):
      // the request's fault, not the service's. Validation should have caught it; this keeps a
      // gap there from becoming a 500, which would count against the service's circuit breaker.
      statusCode = 400;
      message = `a value in the request cannot be stored: ${err.message}`;
      request.log.warn({ err }, 'PostgreSQL refused a value from the request (data exception): add it to the validation');
    } else {
      const candidate = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : 500;
      statusCode = candidate >= 400 && candidate < 600 ? candidate : 500;
      message = statusCode >= 500 ? 'Internal Server Error' : err.message;
    }
    if (statusCode >= 500) request.log.error({ err }, 'request failed');
    const body: ErrorBody = {
      statusCode,
      error: STATUS_CODES[statusCode] ?? 'Error',
      message,
      requestId: String(request.id),
      ...details,
    };
    return reply.status(statusCode).send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    const body: ErrorBody = {
      statusCode: 404,
      error: 'Not Found',
      message: `no route for ${request.method} ${request.url.split('?')[0]}`,
      requestId: String(request.id),
    };
    return reply.status(404).send(body);
  });

  app.get('/health', async () => ({ status: 'ok', service: args.service }));

  app.get('/health/startup', async (_request, reply) =>
    reply.status(started ? 200 : 503).send({ status: started ? 'ok' : 'starting', service: args.service }),
  );

  app.get('/health/ready', async (_request, reply) => {
    const results = await Promise.all(checks.map(runCheck));
    const report: Record<string, unknown> = {};
    let failed = false;
    let degraded = false;
    checks.forEach((hc, i) => {
      const result = results[i]!;
      report[hc.name] = result;
      if (result.status === 'fail' && (hc.critical ?? true)) failed = true;
      if (result.status !== 'ok') degraded = true;
    });
    const status = failed ? 'fail' : degraded ? 'degraded' : 'ok';
    return reply.status(failed ? 503 : 200).send({ status, service: args.service, checks: report });
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(body);
  });

  return app;
}
