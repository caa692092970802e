import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ServiceMetrics {
  /** The service's own registry (not prom-client's global one, so tests can build many apps). */
  readonly registry: Registry;
  /** `http_requests_total{method,route,status_code}`. */
  readonly httpRequestsTotal: Counter<'method' | 'route' | 'status_code'>;
  /** `http_request_duration_seconds{method,route,status_code}`. */
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>;
}

/**
 * Buckets around the seeds' latency goals (p99 < 30 ms at the gateway, a few
 * hundred ms for heavier calls), so histogram_quantile is accurate where the
 * alerts look.
 */
export const HTTP_DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * A registry with Node's default metrics (event loop lag, heap, GC) and the
 * HTTP request metrics the kit's server records. Every series carries
 * `service` so dashboards can aggregate across pods by service.
 */
export function createMetrics(service: string): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const httpRequestsTotal = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests handled, by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [registry],
  });
  const httpRequestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_DURATION_BUCKETS,
    registers: [registry],
  });
  return { registry, httpRequestsTotal, httpRequestDuration };
}
