/**
 * Observability: kube-prometheus-stack (Prometheus, Alertmanager, Grafana,
 * kube-state-metrics, node-exporter), KEDA, prometheus-adapter when an HPA
 * scales on requests per second, and the platform's alert rules.
 *
 * Prometheus picks up every ServiceMonitor/PodMonitor/PrometheusRule in the
 * cluster (`*SelectorNilUsesHelmValues: false`), so the MicroServices' own
 * ServiceMonitors need no chart-specific labels.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { alertRules, AlertThresholds, normalizeThresholds } from "./alerts.js";

export const PROMETHEUS_COMMUNITY_REPO = "https://prometheus-community.github.io/helm-charts";
export const KEDA_REPO = "https://kedacore.github.io/charts";

/** Chart versions this component is written against (values keys checked for these). */
export const CHART_VERSIONS = {
    kubePrometheusStack: "78.5.0",
    keda: "2.17.2",
    prometheusAdapter: "4.14.1",
} as const;

export interface ObservabilityArgs {
    /** kube-prometheus-stack, the ServiceMonitors' target and the alert rules. Required (prod and dev: true). */
    readonly monitoring: boolean;
    /** KEDA (queue-depth autoscaling of workers). Default true. */
    readonly keda?: boolean;
    /**
     * prometheus-adapter with the rule exposing `http_requests_per_second` as a pods metric. Set it
     * exactly when an HPA uses `targetRequestsPerSecond` (needs `monitoring`). Default false.
     */
    readonly prometheusAdapter?: boolean;
    /** Prometheus retention in days. Default 15. */
    readonly retentionDays?: number;
    /** Prometheus volume size. Default "50Gi". */
    readonly prometheusStorage?: string;
    /** StorageClass of the Prometheus and Alertmanager volumes. Default "gp3-encrypted" (the cluster's encrypted class). */
    readonly storageClass?: string;
    /** Prometheus replicas (each scrapes everything; two survive a node loss). Default 1. */
    readonly prometheusReplicas?: number;
    /** Alert thresholds. Defaults: the seeds' numbers (see `AlertThresholds`). */
    readonly alerts?: AlertThresholds;
    /** Namespace of Prometheus and friends. Default "monitoring". */
    readonly monitoringNamespace?: string;
    /** Namespace of KEDA. Default "keda". */
    readonly kedaNamespace?: string;
    /** Chart version overrides. Default `CHART_VERSIONS`. */
    readonly chartVersions?: Partial<Record<keyof typeof CHART_VERSIONS, string>>;
}

export interface NormalizedObservability {
    monitoring: boolean;
    keda: boolean;
    prometheusAdapter: boolean;
    retentionDays: number;
    prometheusStorage: string;
    storageClass: string;
    prometheusReplicas: number;
    alerts: AlertThresholds;
    monitoringNamespace: string;
    kedaNamespace: string;
    chartVersions: Record<keyof typeof CHART_VERSIONS, string>;
}

export function normalizeObservabilityArgs(name: string, args: ObservabilityArgs): NormalizedObservability {
    const n: NormalizedObservability = {
        monitoring: args.monitoring,
        keda: args.keda ?? true,
        prometheusAdapter: args.prometheusAdapter ?? false,
        retentionDays: args.retentionDays ?? 15,
        prometheusStorage: args.prometheusStorage ?? "50Gi",
        storageClass: args.storageClass ?? "gp3-encrypted",
        prometheusReplicas: args.prometheusReplicas ?? 1,
        alerts: args.alerts ?? {},
        monitoringNamespace: args.monitoringNamespace ?? "monitoring",
        kedaNamespace: args.kedaNamespace ?? "keda",
        chartVersions: { ...CHART_VERSIONS, ...(args.chartVersions ?? {}) },
    };
    const problems: string[] = [];
    if (!Number.isInteger(n.retentionDays) || n.retentionDays < 1) problems.push(`retentionDays (${n.retentionDays}) must be a whole number ≥ 1`);
    if (!/^[0-9]+(Mi|Gi|Ti)$/.test(n.prometheusStorage)) problems.push(`prometheusStorage (${JSON.stringify(n.prometheusStorage)}) must be a size like 50Gi`);
    if (!Number.isInteger(n.prometheusReplicas) || n.prometheusReplicas < 1) problems.push(`prometheusReplicas (${n.prometheusReplicas}) must be a whole number ≥ 1`);
    if (n.prometheusAdapter && !n.monitoring) problems.push("prometheusAdapter (true) needs monitoring (false): the adapter reads its metric from this Prometheus");
    for (const [chart, version] of Object.entries(n.chartVersions)) {
        if (!/^\d+\.\d+\.\d+$/.test(version)) problems.push(`chartVersions.${chart} (${JSON.stringify(version)}) must be an exact version`);
    }
    try {
        normalizeThresholds(n.alerts);
    } catch (err) {
        problems.push((err as Error).message);
    }
    if (problems.length > 0) throw new Error(`Observability "${name}": ${problems.join("; ")}`);
    return n;
}

/** The kube-prometheus-stack release name; Prometheus is `<release>-prometheus.<ns>.svc:9090`. */
export const KUBE_PROMETHEUS_RELEASE = "kube-prometheus-stack";

/** Secret holding Grafana's generated admin credentials (the chart's default password is public). */
export const GRAFANA_ADMIN_SECRET = "grafana-admin";

/** kube-prometheus-stack values (no secrets: Grafana reads its admin credentials from `GRAFANA_ADMIN_SECRET`). */
export function kubePrometheusStackValues(n: NormalizedObservability): Record<string, unknown> {
    const volume = (size: string) => ({
        volumeClaimTemplate: {
            spec: { storageClassName: n.storageClass, accessModes: ["ReadWriteOnce"], resources: { requests: { storage: size } } },
        },
    });
    return {
        prometheus: {
            prometheusSpec: {
                replicas: n.prometheusReplicas,
                retention: `${n.retentionDays}d`,
                // Select every ServiceMonitor/PodMonitor/rule in the cluster, not only this release's.
                serviceMonitorSelectorNilUsesHelmValues: false,
                podMonitorSelectorNilUsesHelmValues: false,
                ruleSelectorNilUsesHelmValues: false,
                probeSelectorNilUsesHelmValues: false,
                storageSpec: volume(n.prometheusStorage),
                resources: { requests: { cpu: "500m", memory: "2Gi" }, limits: { memory: "4Gi" } },
            },
        },
        alertmanager: { alertmanagerSpec: { storage: volume("5Gi") } },
        grafana: {
            enabled: true,
            persistence: { enabled: false },
            admin: { existingSecret: GRAFANA_ADMIN_SECRET, userKey: "admin-user", passwordKey: "admin-password" },
        },
    };
}

/** prometheus-adapter values: only the `http_requests_per_second` pods metric (resource metrics stay with metrics-server). */
export function prometheusAdapterValues(n: NormalizedObservability): Record<string, unknown> {
    const requests = n.alerts.requestsMetric ?? "http_requests_total";
    return {
        prometheus: { url: `http://${KUBE_PROMETHEUS_RELEASE}-prometheus.${n.monitoringNamespace}.svc`, port: 9090 },
        replicas: 2,
        rules: {
            default: false,
            custom: [{
                seriesQuery: `${requests}{namespace!="",pod!=""}`,
                resources: { overrides: { namespace: { resource: "namespace" }, pod: { resource: "pod" } } },
                name: { matches: `^${requests}$`, as: "http_requests_per_second" },
                metricsQuery: "sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)",
            }],
        },
    };
}

export class Observability extends pulumi.ComponentResource {
    public readonly monitoringNamespace: k8s.core.v1.Namespace | undefined;
    public readonly kedaNamespace: k8s.core.v1.Namespace | undefined;
    public readonly kubePrometheusStack: k8s.helm.v3.Release | undefined;
    public readonly keda: k8s.helm.v3.Release | undefined;
    public readonly prometheusAdapter: k8s.helm.v3.Release | undefined;
    public readonly alertRules: k8s.apiextensions.CustomResource | undefined;
    /** Depend on these before creating ServiceMonitors / ScaledObjects (their CRDs come from here). */
    public readonly ready: pulumi.Resource[];
    /** Grafana's admin password (secret). */
    public readonly grafanaAdminPassword: pulumi.Output<string> | undefined;

    constructor(name: string, args: ObservabilityArgs, opts?: pulumi.ComponentResourceOptions) {
        super("noa:observability:Observability", name, {}, opts);
        const n = normalizeObservabilityArgs(name, args);
        const ready: pulumi.Resource[] = [];
        const namespace = (ns: string, level: string) => new k8s.core.v1.Namespace(`${name}-ns-${ns}`, {
            metadata: { name: ns, labels: { "pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/enforce-version": "latest" } },
        }, { parent: this });

        if (n.monitoring) {
            // node-exporter mounts the host's /proc and /sys and uses the host network.
            this.monitoringNamespace = namespace(n.monitoringNamespace, "privileged");
            const grafana = new random.RandomPassword(`${name}-grafana-admin`, { length: 32, special: false }, { parent: this });
            this.grafanaAdminPassword = pulumi.secret(grafana.result);
            // In a Secret the chart reads, so the release's values stay free of secrets (and readable in plans).
            const grafanaSecret = new k8s.core.v1.Secret(`${name}-grafana-admin`, {
                metadata: { name: GRAFANA_ADMIN_SECRET, namespace: n.monitoringNamespace },
                type: "Opaque",
                stringData: { "admin-user": "admin", "admin-password": this.grafanaAdminPassword },
            }, { parent: this, dependsOn: [this.monitoringNamespace] });
            this.kubePrometheusStack = new k8s.helm.v3.Release(`${name}-kube-prometheus-stack`, {
                name: KUBE_PROMETHEUS_RELEASE,
                chart: "kube-prometheus-stack",
                version: n.chartVersions.kubePrometheusStack,
                repositoryOpts: { repo: PROMETHEUS_COMMUNITY_REPO },
                namespace: n.monitoringNamespace,
                values: kubePrometheusStackValues(n),
                atomic: true,
                timeout: 900,
            }, { parent: this, dependsOn: [this.monitoringNamespace, grafanaSecret] });
            ready.push(this.kubePrometheusStack);

            this.alertRules = new k8s.apiextensions.CustomResource(`${name}-alerts`, {
                apiVersion: "monitoring.coreos.com/v1",
                kind: "PrometheusRule",
                metadata: { name: "noa-alerts", namespace: n.monitoringNamespace, labels: { release: KUBE_PROMETHEUS_RELEASE } },
                spec: { groups: alertRules(n.alerts) },
            }, { parent: this, dependsOn: [this.kubePrometheusStack] });

            if (n.prometheusAdapter) {
                this.prometheusAdapter = new k8s.helm.v3.Release(`${name}-prometheus-adapter`, {
                    name: "prometheus-adapter",
                    chart: "prometheus-adapter",
                    version: n.chartVersions.prometheusAdapter,
                    repositoryOpts: { repo: PROMETHEUS_COMMUNITY_REPO },
                    namespace: n.monitoringNamespace,
                    values: prometheusAdapterValues(n),
                    atomic: true,
                    timeout: 600,
                }, { parent: this, dependsOn: [this.kubePrometheusStack] });
                ready.push(this.prometheusAdapter);
            }
        }
        if (n.keda) {
            this.kedaNamespace = namespace(n.kedaNamespace, "baseline");
            this.keda = new k8s.helm.v3.Release(`${name}-keda`, {
                name: "keda",
                chart: "keda",
                version: n.chartVersions.keda,
                repositoryOpts: { repo: KEDA_REPO },
                namespace: n.kedaNamespace,
                values: {
                    // Two operators/metrics servers: a single KEDA pod restart would freeze worker scaling.
                    operator: { replicaCount: 2 },
                    metricsServer: { replicaCount: 2 },
                    podDisruptionBudget: { operator: { maxUnavailable: 1 }, metricServer: { maxUnavailable: 1 } },
                },
                atomic: true,
                timeout: 600,
            }, { parent: this, dependsOn: [this.kedaNamespace] });
            ready.push(this.keda);
        }
        this.ready = ready;
        this.registerOutputs({});
    }
}
