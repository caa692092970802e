import * as assert from "node:assert/strict";
import { childNames, harness } from "@noa/offline";
import { parser } from "@prometheus-io/lezer-promql";

/** Syntax errors in a PromQL expression, by Prometheus's own grammar (lezer marks them as error nodes). */
function promqlErrors(expr: string): string[] {
    const errors: string[] = [];
    parser.parse(expr).iterate({
        enter: (node) => {
            if (node.type.isError) errors.push(`at ${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 10), node.to + 10))}`);
        },
    });
    return errors;
}

describe("Observability", () => {
    before(() => harness.install());
    beforeEach(() => harness.reset());

    describe("alertRules: the seeds' alerts, exact expressions", () => {
        it("defaults", async () => {
            const { alertRules } = await import("./index.js");
            const [group] = alertRules();
            assert.equal(group.name, "noa.rules");
            const byName = Object.fromEntries(group.rules.map((r) => [r.alert, [r.expr, r.for, r.labels.severity]]));
            assert.deepEqual(byName, {
                HighErrorRate: [
                    'sum by (namespace, service) (rate(http_requests_total{namespace="noa",status_code=~"5.."}[5m])) / sum by (namespace, service) (rate(http_requests_total{namespace="noa"}[5m])) > 0.05',
                    "5m", "critical",
                ],
                HighLatencyP95: [
                    'histogram_quantile(0.95, sum by (namespace, service, le) (rate(http_request_duration_seconds_bucket{namespace="noa"}[5m]))) > 1',
                    "10m", "warning",
                ],
                ReplicasBelowMinimum: [
                    'kube_deployment_status_replicas_available{namespace="noa"} < on (namespace, deployment) label_replace(kube_horizontalpodautoscaler_spec_min_replicas{namespace="noa"}, "deployment", "$1", "horizontalpodautoscaler", "(?:keda-hpa-)?(.+)")',
                    "5m", "critical",
                ],
                HighCpuUsage: [
                    'sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{namespace="noa",container!="",container!="POD"}[5m])) / sum by (namespace, pod, container) (kube_pod_container_resource_limits{namespace="noa",resource="cpu"}) > 0.85',
                    "10m", "warning",
                ],
                HighMemoryUsage: [
                    'sum by (namespace, pod, container) (container_memory_working_set_bytes{namespace="noa",container!="",container!="POD"}) / sum by (namespace, pod, container) (kube_pod_container_resource_limits{namespace="noa",resource="memory"}) > 0.85',
                    "10m", "warning",
                ],
                QueueBacklog: ['max by (queue) (worker_queue_depth{namespace="noa"}) > 1000', "10m", "warning"],
                JobOutboxBacklog: ['max by (namespace) (workflows_outbox_oldest_seconds{namespace="noa"}) > 300', "5m", "warning"],
                CircuitBreakerOpen: ['max by (namespace, upstream) (gateway_circuit_state{namespace="noa"}) == 2', "1m", "critical"],
                HPAMaxedOut: [
                    'kube_horizontalpodautoscaler_status_current_replicas{namespace="noa"} >= kube_horizontalpodautoscaler_spec_max_replicas{namespace="noa"}',
                    "10m", "warning",
                ],
                DatabaseConnectionsHigh: [
                    "sum by (namespace, instance) (pg_stat_database_numbackends) / on (namespace, instance) max by (namespace, instance) (pg_settings_max_connections) > 0.9",
                    "5m", "warning",
                ],
                RedisClusterNodeDown: [
                    'kube_statefulset_status_replicas_ready{namespace="noa-data",statefulset="noa-redis"} < kube_statefulset_replicas{namespace="noa-data",statefulset="noa-redis"}',
                    "2m", "critical",
                ],
                RedisClusterStateFail: ['min by (namespace, pod) (redis_cluster_state{namespace="noa-data"}) == 0', "1m", "critical"],
                RedisMemoryHigh: [
                    'max by (namespace, pod) (redis_memory_used_bytes{namespace="noa-data"} / (redis_memory_max_bytes{namespace="noa-data"} > 0)) > 0.9',
                    "10m", "warning",
                ],
            });
        });

        it("every expression parses with Prometheus's PromQL grammar (and a broken one does not)", async () => {
            const { alertRules } = await import("./index.js");
            for (const rule of alertRules()[0].rules) assert.deepEqual(promqlErrors(rule.expr), [], rule.alert);
            assert.notDeepEqual(promqlErrors('sum by (namespace (rate(x[5m])) > 1'), [], "the check can fail");
        });

        it("thresholds and metric names from args", async () => {
            const { alertRules } = await import("./index.js");
            const rules = alertRules({ errorRate: 0.02, queueBacklogMessages: 50, queueBacklogMinutes: 3, hpaMaxedMinutes: 15, statusLabel: "code", namespace: "apps" })[0].rules;
            const find = (a: string) => rules.find((r) => r.alert === a)!;
            assert.equal(find("HighErrorRate").expr, 'sum by (namespace, service) (rate(http_requests_total{namespace="apps",code=~"5.."}[5m])) / sum by (namespace, service) (rate(http_requests_total{namespace="apps"}[5m])) > 0.02');
            assert.deepEqual([find("QueueBacklog").expr, find("QueueBacklog").for], ['max by (queue) (worker_queue_depth{namespace="apps"}) > 50', "3m"]);
            assert.equal(find("HPAMaxedOut").for, "15m");
            const redis = alertRules({ dataNamespace: "stores", redisStatefulSet: "cache", redisMemory: 0.8 })[0].rules;
            assert.equal(redis.find((r) => r.alert === "RedisClusterNodeDown")!.expr,
                'kube_statefulset_status_replicas_ready{namespace="stores",statefulset="cache"} < kube_statefulset_replicas{namespace="stores",statefulset="cache"}');
            assert.equal(redis.find((r) => r.alert === "RedisMemoryHigh")!.expr,
                'max by (namespace, pod) (redis_memory_used_bytes{namespace="stores"} / (redis_memory_max_bytes{namespace="stores"} > 0)) > 0.8');
        });

        it("rejects thresholds out of range with key and value", async () => {
            const { normalizeThresholds } = await import("./index.js");
            assert.throws(() => normalizeThresholds({ errorRate: 5, statusLabel: "a b" }), {
                message: 'alerts.errorRate (5) must be a fraction in (0, 1]; alerts.statusLabel ("a b") is not a metric/label name',
            });
            assert.throws(() => normalizeThresholds({ redisMemory: 0, dataNamespace: "" }), {
                message: 'alerts.redisMemory (0) must be a fraction in (0, 1]; alerts.dataNamespace ("") is not a metric/label name',
            });
        });
    });

    it("prod-like: kube-prometheus-stack, the PrometheusRule and KEDA; no adapter unless asked", async () => {
        const { Observability, CHART_VERSIONS } = await import("./index.js");
        const obs = new Observability("o1", { monitoring: true, retentionDays: 15, prometheusStorage: "100Gi" });
        await harness.settle();
        assert.deepEqual(await childNames(obs), [
            "kubernetes:core/v1:Namespace::o1-ns-keda",
            "kubernetes:core/v1:Namespace::o1-ns-monitoring",
            "kubernetes:core/v1:Secret::o1-grafana-admin",
            "kubernetes:helm.sh/v3:Release::o1-keda",
            "kubernetes:helm.sh/v3:Release::o1-kube-prometheus-stack",
            "kubernetes:monitoring.coreos.com/v1:PrometheusRule::o1-alerts",
            "random:index/randomPassword:RandomPassword::o1-grafana-admin",
        ]);
        const kps = harness.one("kubernetes:helm.sh/v3:Release", "o1-kube-prometheus-stack");
        assert.deepEqual([kps.inputs.chart, kps.inputs.version, kps.inputs.namespace], ["kube-prometheus-stack", CHART_VERSIONS.kubePrometheusStack, "monitoring"]);
        const spec = kps.inputs.values.prometheus.prometheusSpec;
        assert.equal(spec.retention, "15d");
        assert.equal(spec.serviceMonitorSelectorNilUsesHelmValues, false);
        assert.equal(spec.ruleSelectorNilUsesHelmValues, false);
        assert.deepEqual(spec.storageSpec.volumeClaimTemplate.spec, { storageClassName: "gp3-encrypted", accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "100Gi" } } });
        assert.deepEqual(kps.secretPaths, [], "values carry no secret");
        assert.deepEqual(kps.inputs.values.grafana.admin, { existingSecret: "grafana-admin", userKey: "admin-user", passwordKey: "admin-password" });
        const grafana = harness.one("kubernetes:core/v1:Secret", "o1-grafana-admin");
        assert.deepEqual(grafana.inputs.metadata, { name: "grafana-admin", namespace: "monitoring" });
        assert.ok(grafana.secretPaths.some((p) => p.startsWith("stringData")), "the generated password stays secret");
        assert.equal(grafana.inputs.stringData["admin-password"].length, 32);
        const keda = harness.one("kubernetes:helm.sh/v3:Release", "o1-keda").inputs;
        assert.deepEqual([keda.chart, keda.version, keda.namespace], ["keda", CHART_VERSIONS.keda, "keda"]);
        const rule = harness.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "o1-alerts");
        assert.equal(rule.inputs.spec.groups[0].rules.length, 13);
        assert.ok(rule.dependsOn.includes(kps.urn), "the rule waits for its CRD");
    });

    it("prometheus-adapter only on the explicit switch, with the requests-per-second rule", async () => {
        const { Observability } = await import("./index.js");
        new Observability("o2", { monitoring: true, prometheusAdapter: true });
        await harness.settle();
        const adapter = harness.one("kubernetes:helm.sh/v3:Release", "o2-prometheus-adapter").inputs;
        assert.equal(adapter.values.prometheus.url, "http://kube-prometheus-stack-prometheus.monitoring.svc");
        assert.deepEqual(adapter.values.rules.custom, [{
            seriesQuery: 'http_requests_total{namespace!="",pod!=""}',
            resources: { overrides: { namespace: { resource: "namespace" }, pod: { resource: "pod" } } },
            name: { matches: "^http_requests_total$", as: "http_requests_per_second" },
            metricsQuery: "sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)",
        }]);
    });

    it("monitoring off: KEDA only", async () => {
        const { Observability } = await import("./index.js");
        const obs = new Observability("o3", { monitoring: false });
        await harness.settle();
        assert.deepEqual(await childNames(obs), ["kubernetes:core/v1:Namespace::o3-ns-keda", "kubernetes:helm.sh/v3:Release::o3-keda"]);
    });

    it("rejects bad args up front", async () => {
        const { normalizeObservabilityArgs } = await import("./index.js");
        assert.throws(() => normalizeObservabilityArgs("bad", { monitoring: false, prometheusAdapter: true, retentionDays: 0 }), {
            message: 'Observability "bad": retentionDays (0) must be a whole number ≥ 1; prometheusAdapter (true) needs monitoring (false): the adapter reads its metric from this Prometheus',
        });
    });
});
