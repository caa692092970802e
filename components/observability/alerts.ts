/**
 * The seeds' alerts as Prometheus rules. Pure: `alertRules(args)` returns the
 * rule group so tests pin every expression exactly.
 *
 * Where each series comes from:
 * - `http_requests_total{status_code}` and `http_request_duration_seconds` — the
 *   services' kit (prom-client), scraped through Istio's merged metrics
 *   endpoint by each MicroService's ServiceMonitor (labels `namespace`,
 *   `service`, `pod` added by the Prometheus Operator);
 * - `kube_*` — kube-state-metrics; `container_*` — the kubelet's cAdvisor;
 * - `worker_queue_depth{queue}` — ready messages per job queue, read from
 *   RabbitMQ by the worker at scrape time (our own, always-scraped series; if
 *   every worker is down the replicas alert fires instead);
 * - `workflows_outbox_oldest_seconds` — the age of the oldest job the
 *   workflows service has committed but RabbitMQ has not confirmed (its
 *   transactional outbox, read at scrape time);
 * - `gateway_circuit_state{upstream}` — the gateway's opossum breakers:
 *   0 closed, 1 half-open, 2 open (services/gateway/src/upstream.ts);
 * - `pg_stat_database_numbackends` / `pg_settings_max_connections` — a
 *   postgres_exporter next to the Citus coordinator (the data area);
 * - `redis_cluster_state` (1 ok, 0 fail, from `CLUSTER INFO`),
 *   `redis_memory_used_bytes`, `redis_memory_max_bytes` — the redis_exporter
 *   beside every Redis node (the data area; names checked against a real
 *   exporter in components/data/redis.test.ts); `kube_statefulset_*` for Redis
 *   pods that are down, which no exporter on those pods can report.
 */

export interface AlertThresholds {
    /** Namespace of the services the alerts watch. Default "noa". */
    readonly namespace?: string;
    /** 5xx share of requests that pages, 0–1. Default 0.05 (seed: > 5%). */
    readonly errorRate?: number;
    /** P95 latency in seconds. Default 1 (seed: P95 > 1 s). */
    readonly p95LatencySeconds?: number;
    /** Share of a container's CPU or memory limit, 0–1. Default 0.85 (seed: > 85%). */
    readonly resourceUsage?: number;
    /** Ready messages in one job queue that count as a backlog. Default 1000. */
    readonly queueBacklogMessages?: number;
    /** Minutes the backlog must persist. Default 10. */
    readonly queueBacklogMinutes?: number;
    /** Minutes an HPA may sit at its maximum. Default 10 (seed). */
    readonly hpaMaxedMinutes?: number;
    /** Share of PostgreSQL `max_connections` in use, 0–1. Default 0.9 (seed: > 90% of the limit). */
    readonly databaseConnections?: number;
    /** Name of the kit's request counter. Default "http_requests_total". */
    readonly requestsMetric?: string;
    /** Name of the kit's latency histogram (without `_bucket`). Default "http_request_duration_seconds". */
    readonly latencyMetric?: string;
    /** Label of the HTTP status code on the request counter. Default "status_code" (the kit's, services/kit/src/metrics.ts). */
    readonly statusLabel?: string;
    /** Namespace of the data stores. Default "noa-data". */
    readonly dataNamespace?: string;
    /** The Redis Cluster's StatefulSet. Default "noa-redis". */
    readonly redisStatefulSet?: string;
    /** Share of Redis `maxmemory` in use that warns, 0–1. Default 0.9 (evictions of live cache and rate-limit keys are near). */
    readonly redisMemory?: number;
    /** Age in seconds of the oldest unpublished job in the workflows outbox that warns. Default 300. */
    readonly outboxOldestSeconds?: number;
}

export type NormalizedThresholds = Required<AlertThresholds>;

export function normalizeThresholds(t: AlertThresholds = {}): NormalizedThresholds {
    const n: NormalizedThresholds = {
        namespace: t.namespace ?? "noa",
        errorRate: t.errorRate ?? 0.05,
        p95LatencySeconds: t.p95LatencySeconds ?? 1,
        resourceUsage: t.resourceUsage ?? 0.85,
        queueBacklogMessages: t.queueBacklogMessages ?? 1000,
        queueBacklogMinutes: t.queueBacklogMinutes ?? 10,
        hpaMaxedMinutes: t.hpaMaxedMinutes ?? 10,
        databaseConnections: t.databaseConnections ?? 0.9,
        requestsMetric: t.requestsMetric ?? "http_requests_total",
        latencyMetric: t.latencyMetric ?? "http_request_duration_seconds",
        statusLabel: t.statusLabel ?? "status_code",
        dataNamespace: t.dataNamespace ?? "noa-data",
        redisStatefulSet: t.redisStatefulSet ?? "noa-redis",
        redisMemory: t.redisMemory ?? 0.9,
        outboxOldestSeconds: t.outboxOldestSeconds ?? 300,
    };
    const problems: string[] = [];
    for (const key of ["errorRate", "resourceUsage", "databaseConnections", "redisMemory"] as const) {
        if (!(n[key] > 0 && n[key] <= 1)) problems.push(`alerts.${key} (${n[key]}) must be a fraction in (0, 1]`);
    }
    for (const key of ["p95LatencySeconds", "queueBacklogMessages", "queueBacklogMinutes", "hpaMaxedMinutes", "outboxOldestSeconds"] as const) {
        if (!(n[key] > 0)) problems.push(`alerts.${key} (${n[key]}) must be positive`);
    }
    for (const key of ["requestsMetric", "latencyMetric", "statusLabel", "namespace", "dataNamespace", "redisStatefulSet"] as const) {
        if (!/^[a-zA-Z_][a-zA-Z0-9_-]*$/.test(n[key])) problems.push(`alerts.${key} (${JSON.stringify(n[key])}) is not a metric/label name`);
    }
    if (problems.length > 0) throw new Error(problems.join("; "));
    return n;
}

export interface AlertRule {
    alert: string;
    expr: string;
    for: string;
    labels: { severity: "critical" | "warning" };
    annotations: { summary: string; description: string };
}

/** The `noa.rules` group: one rule per seed alert (CPU and memory are two rules). */
export function alertRules(t: AlertThresholds = {}): { name: string; rules: AlertRule[] }[] {
    const n = normalizeThresholds(t);
    const ns = `namespace="${n.namespace}"`;
    const rule = (alert: string, expr: string, forDuration: string, severity: "critical" | "warning", summary: string, description: string): AlertRule => ({
        alert, expr, for: forDuration, labels: { severity }, annotations: { summary, description },
    });
    return [{
        name: "noa.rules",
        rules: [
            rule(
                "HighErrorRate",
                `sum by (namespace, service) (rate(${n.requestsMetric}{${ns},${n.statusLabel}=~"5.."}[5m])) / sum by (namespace, service) (rate(${n.requestsMetric}{${ns}}[5m])) > ${n.errorRate}`,
                "5m", "critical",
                `{{ $labels.service }}: more than ${n.errorRate * 100}% of requests fail`,
                "5xx share of requests over 5 minutes is {{ $value | humanizePercentage }}.",
            ),
            rule(
                "HighLatencyP95",
                `histogram_quantile(0.95, sum by (namespace, service, le) (rate(${n.latencyMetric}_bucket{${ns}}[5m]))) > ${n.p95LatencySeconds}`,
                "10m", "warning",
                `{{ $labels.service }}: P95 latency above ${n.p95LatencySeconds}s`,
                "P95 over 5 minutes is {{ $value | humanizeDuration }}.",
            ),
            rule(
                "ReplicasBelowMinimum",
                // KEDA's HPA is named keda-hpa-<ScaledObject>; ours are named after their Deployment.
                `kube_deployment_status_replicas_available{${ns}} < on (namespace, deployment) label_replace(kube_horizontalpodautoscaler_spec_min_replicas{${ns}}, "deployment", "$1", "horizontalpodautoscaler", "(?:keda-hpa-)?(.+)")`,
                "5m", "critical",
                "{{ $labels.deployment }}: fewer available replicas than its autoscaler's minimum",
                "{{ $value }} replicas available.",
            ),
            rule(
                "HighCpuUsage",
                `sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{${ns},container!="",container!="POD"}[5m])) / sum by (namespace, pod, container) (kube_pod_container_resource_limits{${ns},resource="cpu"}) > ${n.resourceUsage}`,
                "10m", "warning",
                `{{ $labels.pod }}/{{ $labels.container }}: CPU above ${n.resourceUsage * 100}% of its limit`,
                "CPU use is {{ $value | humanizePercentage }} of the limit.",
            ),
            rule(
                "HighMemoryUsage",
                `sum by (namespace, pod, container) (container_memory_working_set_bytes{${ns},container!="",container!="POD"}) / sum by (namespace, pod, container) (kube_pod_container_resource_limits{${ns},resource="memory"}) > ${n.resourceUsage}`,
                "10m", "warning",
                `{{ $labels.pod }}/{{ $labels.container }}: memory above ${n.resourceUsage * 100}% of its limit`,
                "Working set is {{ $value | humanizePercentage }} of the limit.",
            ),
            rule(
                "QueueBacklog",
                `max by (queue) (worker_queue_depth{${ns}}) > ${n.queueBacklogMessages}`,
                `${n.queueBacklogMinutes}m`, "warning",
                `{{ $labels.queue }}: more than ${n.queueBacklogMessages} ready messages for ${n.queueBacklogMinutes} minutes`,
                "{{ $value }} messages are waiting; check the worker's scaling and failures.",
            ),
            rule(
                "JobOutboxBacklog",
                `max by (namespace) (workflows_outbox_oldest_seconds{${ns}}) > ${n.outboxOldestSeconds}`,
                "5m", "warning",
                `workflows: jobs waiting more than ${n.outboxOldestSeconds}s in the outbox`,
                "Committed writes' jobs are not reaching RabbitMQ (broker down or unreachable from workflows); the relay keeps retrying.",
            ),
            rule(
                "CircuitBreakerOpen",
                `max by (namespace, upstream) (gateway_circuit_state{${ns}}) == 2`,
                "1m", "critical",
                "gateway: circuit to {{ $labels.upstream }} is open",
                "Requests to {{ $labels.upstream }} are failed fast with 503.",
            ),
            rule(
                "HPAMaxedOut",
                `kube_horizontalpodautoscaler_status_current_replicas{${ns}} >= kube_horizontalpodautoscaler_spec_max_replicas{${ns}}`,
                `${n.hpaMaxedMinutes}m`, "warning",
                "{{ $labels.horizontalpodautoscaler }} has reached max replicas",
                `At its maximum for ${n.hpaMaxedMinutes} minutes: raise maxReplicas or the node groups' capacity.`,
            ),
            rule(
                "DatabaseConnectionsHigh",
                `sum by (namespace, instance) (pg_stat_database_numbackends) / on (namespace, instance) max by (namespace, instance) (pg_settings_max_connections) > ${n.databaseConnections}`,
                "5m", "warning",
                `Database connections > ${n.databaseConnections * 100}% of limit`,
                "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of max_connections.",
            ),
            rule(
                "RedisClusterNodeDown",
                `kube_statefulset_status_replicas_ready{namespace="${n.dataNamespace}",statefulset="${n.redisStatefulSet}"} < kube_statefulset_replicas{namespace="${n.dataNamespace}",statefulset="${n.redisStatefulSet}"}`,
                "2m", "critical",
                "Redis cluster nodes down",
                "{{ $value }} of the Redis Cluster's pods are ready; a master without a ready replica loses its hash slots.",
            ),
            rule(
                "RedisClusterStateFail",
                `min by (namespace, pod) (redis_cluster_state{namespace="${n.dataNamespace}"}) == 0`,
                "1m", "critical",
                "{{ $labels.pod }}: Redis Cluster state is fail",
                "Some hash slots have no reachable master: commands for their keys fail (caches miss, rate limits fall back to memory).",
            ),
            rule(
                "RedisMemoryHigh",
                `max by (namespace, pod) (redis_memory_used_bytes{namespace="${n.dataNamespace}"} / (redis_memory_max_bytes{namespace="${n.dataNamespace}"} > 0)) > ${n.redisMemory}`,
                "10m", "warning",
                `{{ $labels.pod }}: Redis above ${n.redisMemory * 100}% of maxmemory`,
                "Used memory is {{ $value | humanizePercentage }} of maxmemory; keys with a TTL are being evicted soon.",
            ),
        ],
    }];
}
