/**
 * MicroService: the one way a noa service runs on Kubernetes.
 *
 * One component per service: ServiceAccount (optional IRSA role), the stable
 * Deployment (and a canary Deployment when a canary image is set), a Service
 * on port 80 named `http` for Istio, a PodDisruptionBudget, a deny-by-default
 * NetworkPolicy, Istio DestinationRule (connection pool + outlier detection =
 * the circuit breaker) and VirtualService (timeout, bounded retries, weighted
 * canary routing), a ServiceMonitor when monitoring is on, and EXACTLY ONE
 * autoscaler: an `autoscaling/v2` HPA or a KEDA ScaledObject on RabbitMQ queue
 * depth. The Deployment never pins `replicas`: its autoscaler owns the count.
 *
 * Everything is computed by the exported pure builders below from the
 * normalised args, so tests can check manifests without the Pulumi engine.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { parseQuantity } from "../shared/index.js";

/** HPA scaling behaviour (the seeds: up fast without stabilization, down slowly). */
export interface ScalingBehavior {
    scaleUp: {
        /** Seconds of history before scaling up (seed: 0). */
        stabilizationWindowSeconds: number;
        /** Percent of current replicas that may be added per period (seed: 100). */
        percent: number;
        /** Pods that may be added per period; the larger of the two policies wins (seed 001: 2). */
        pods: number;
        /** Period of both scale-up policies in seconds (seed: 30). */
        periodSeconds: number;
    };
    scaleDown: {
        /** Seconds the lower recommendation must hold before scaling down (seed: 300). */
        stabilizationWindowSeconds: number;
        /** Percent of current replicas that may be removed per period (seed: 50). */
        percent: number;
        /** Period of the scale-down policy in seconds (seed: 60). */
        periodSeconds: number;
    };
}

/** The seeds' behaviour, used when an autoscaler gets none. */
export const SEED_BEHAVIOR: ScalingBehavior = {
    scaleUp: { stabilizationWindowSeconds: 0, percent: 100, pods: 2, periodSeconds: 30 },
    scaleDown: { stabilizationWindowSeconds: 300, percent: 50, periodSeconds: 60 },
};

/** An `autoscaling/v2` HorizontalPodAutoscaler on CPU, memory and optionally requests per second. */
export interface HpaArgs {
    /** Average CPU utilisation target, percent of the request. Default 70 (seed). */
    readonly targetCpuUtilization?: number;
    /** Average memory utilisation target, percent of the request. Default 80 (seed). */
    readonly targetMemoryUtilization?: number;
    /**
     * Optional pods metric `http_requests_per_second` (average per replica). Needs the
     * prometheus-adapter rule of the Observability component. Default: not used.
     */
    readonly targetRequestsPerSecond?: number;
    /** Scale-up/down behaviour. Default `SEED_BEHAVIOR`. */
    readonly behavior?: ScalingBehavior;
}

/** A KEDA ScaledObject on RabbitMQ queue depth (for queue workers). */
export interface KedaArgs {
    /** Queues whose ready messages drive the replica count; one trigger each. Required, non-empty. */
    readonly queues: string[];
    /** Ready messages per replica before scaling out (KEDA `QueueLength` mode). Default 10. */
    readonly queueLengthTarget?: number;
    /** Secret (in the service's namespace) and key holding the AMQP URL KEDA connects with. */
    readonly connectionSecret: { name: string; key: string };
    /** How often KEDA polls the queues, seconds. Default 15. */
    readonly pollingIntervalSeconds?: number;
    /** Scale-up/down behaviour of the HPA that KEDA manages. Default `SEED_BEHAVIOR`. */
    readonly behavior?: ScalingBehavior;
}

/** Mesh traffic policy for calls to this service. */
export interface TrafficArgs {
    /** Total request timeout in ms (VirtualService `timeout`). Default 5000 (the gateway's upstream timeout). */
    readonly timeoutMs?: number;
    /** Retries after the first try (Istio `attempts`). Default 1. */
    readonly retryAttempts?: number;
    /** Timeout of each try in ms; (1 + retryAttempts) × perTryTimeoutMs must fit `timeoutMs`. Default 2500. */
    readonly perTryTimeoutMs?: number;
    /**
     * Envoy retry conditions. Default "connect-failure,refused-stream,unavailable,cancelled":
     * only failures where the request never reached the app, so a non-idempotent POST is never replayed.
     */
    readonly retryOn?: string;
    /** Max TCP connections per client sidecar to this service. Default 1000 (seed). */
    readonly maxConnections?: number;
    /** Max queued requests waiting for a connection. Default 1024 (seed). */
    readonly http1MaxPendingRequests?: number;
    /** Max requests per connection; 0 = unlimited keep-alive. Default 0. */
    readonly maxRequestsPerConnection?: number;
    /** Consecutive 5xx from one pod before it is ejected (circuit opens). Default 5. */
    readonly consecutive5xxErrors?: number;
    /** Outlier analysis interval in seconds. Default 10. */
    readonly outlierIntervalSeconds?: number;
    /** Minimum ejection time in seconds. Default 30. */
    readonly baseEjectionTimeSeconds?: number;
    /** Most pods that may be ejected at once, percent. Default 50 (never eject the whole service). */
    readonly maxEjectionPercent?: number;
}

export interface MicroServiceArgs {
    /** Kubernetes name of the Deployment, Service and friends. Default: the component name. */
    readonly serviceName?: string;
    /** Namespace to run in (must exist, sidecar injection on). Required. */
    readonly namespace: pulumi.Input<string>;
    /** Container image, pinned by digest (`repo@sha256:…`). Required. */
    readonly image: pulumi.Input<string>;
    /** Canary: a second Deployment `<name>-canary` with this image, taking `weight` percent of traffic. Default: none. */
    readonly canary?: {
        /** The canary image (by digest or exact tag). */
        readonly image: pulumi.Input<string>;
        /** Traffic percent to the canary, 0–100. Default 10 (the seed's 90/10 split). */
        readonly weight?: number;
        /** Canary replicas (no autoscaler owns it). Default: `minReplicas`. */
        readonly replicas?: number;
    };
    /** Container port of the API, health and /metrics. Default 8080. */
    readonly containerPort?: number;
    /** Service port (named `http` for Istio protocol selection). Default 80. */
    readonly servicePort?: number;
    /** Fewest replicas (autoscaler floor). Required, ≥ 1. */
    readonly minReplicas: number;
    /** Most replicas (autoscaler ceiling). Required, ≥ minReplicas. */
    readonly maxReplicas: number;
    /** CPU request, e.g. "250m". Required. */
    readonly cpuRequest: string;
    /** CPU limit, ≥ cpuRequest. Required. */
    readonly cpuLimit: string;
    /** Memory request, e.g. "256Mi". Required. */
    readonly memoryRequest: string;
    /** Memory limit, ≥ memoryRequest. Required. */
    readonly memoryLimit: string;
    /** HPA autoscaler. Exactly one of `hpa` / `keda` must be set. */
    readonly hpa?: HpaArgs;
    /** KEDA autoscaler. Exactly one of `hpa` / `keda` must be set. */
    readonly keda?: KedaArgs;
    /** Plain environment variables (PORT, SERVICE_NAME, SHUTDOWN_TIMEOUT_MS are set by the component). Default none. */
    readonly env?: Record<string, pulumi.Input<string>>;
    /** Environment variables read from Secrets in the namespace: name → { secret, key }. Default none. */
    readonly secretEnv?: Record<string, { secret: string; key: string }>;
    /** IAM role ARN for the ServiceAccount (IRSA annotation `eks.amazonaws.com/role-arn`). Default none. */
    readonly serviceAccountRoleArn?: pulumi.Input<string>;
    /** Services (by `app.kubernetes.io/name`, same namespace) allowed to call this one. Default none. */
    readonly callers?: string[];
    /** Admit traffic from the Istio ingress gateway pods (only the public edge sets this). Default none. */
    readonly ingressGateway?: {
        /** Namespace of the ingress gateway pods. */
        readonly namespace: string;
        /** Pod labels of the ingress gateway, e.g. `{ istio: "ingressgateway" }`. */
        readonly podLabels: Record<string, string>;
        /** The Istio Gateway (`namespace/name`) the VirtualService binds to. */
        readonly gateway: pulumi.Input<string>;
        /** Public hosts routed to this service through that Gateway. */
        readonly hosts: pulumi.Input<string>[];
        /**
         * Path prefixes the Gateway routes here; every other path from the
         * internet gets Envoy's 404, so `/metrics` and `/health/*` (its
         * dependencies' states and errors) stay inside the mesh. Default
         * `["/api/"]`. Mesh callers keep every path.
         */
        readonly publicPathPrefixes?: string[];
    };
    /** Prometheus scraping: a ServiceMonitor and a NetworkPolicy rule for the monitoring namespace. */
    readonly monitoring?: {
        /** Default false. */
        readonly enabled: boolean;
        /** Namespace Prometheus runs in. Default "monitoring". */
        readonly namespace?: string;
    };
    /** TCP ports (the data stores) the sidecar must not intercept; see `excludeOutboundPortsAnnotation`. Default none. */
    readonly excludeOutboundPorts?: number[];
    /** Internet egress ports (outside private ranges), e.g. 443 for S3/STS. Default [443]. */
    readonly internetEgressPorts?: number[];
    /** Mesh traffic policy. Defaults per field of `TrafficArgs`. */
    readonly traffic?: TrafficArgs;
    /** Seconds the preStop hook waits so endpoints and sidecars stop sending before SIGTERM. Default 5. */
    readonly preStopSeconds?: number;
    /** Time the app drains after SIGTERM (`SHUTDOWN_TIMEOUT_MS`). Default 25000 (the kit's default). */
    readonly shutdownTimeoutMs?: number;
    /** Pod grace period; must exceed preStop + drain. Default preStop + drain + 5 s. */
    readonly terminationGracePeriodSeconds?: number;
    /** UID/GID the containers run as (the images' `node` user). Default 1000. */
    readonly runAsUser?: number;
    /** Resources every child waits for: CRDs (Istio, KEDA, Prometheus Operator), data Secrets, the migrations Job. Default none. */
    readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
    /** `app.kubernetes.io/part-of` label. Default "noa". */
    readonly partOf?: string;
}

/** Args with defaults applied and every problem checked. */
export interface NormalizedMicroService {
    name: string;
    namespace: pulumi.Input<string>;
    image: pulumi.Input<string>;
    canary: { image: pulumi.Input<string>; weight: number; replicas: number } | undefined;
    containerPort: number;
    servicePort: number;
    minReplicas: number;
    maxReplicas: number;
    resources: { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } };
    hpa: Required<Omit<HpaArgs, "targetRequestsPerSecond">> & { targetRequestsPerSecond: number | undefined } | undefined;
    keda: Required<KedaArgs> | undefined;
    env: Record<string, pulumi.Input<string>>;
    secretEnv: Record<string, { secret: string; key: string }>;
    serviceAccountRoleArn: pulumi.Input<string> | undefined;
    callers: string[];
    ingressGateway: (NonNullable<MicroServiceArgs["ingressGateway"]> & { publicPathPrefixes: string[] }) | undefined;
    monitoring: { enabled: boolean; namespace: string };
    excludeOutboundPorts: number[];
    internetEgressPorts: number[];
    traffic: Required<TrafficArgs>;
    preStopSeconds: number;
    shutdownTimeoutMs: number;
    terminationGracePeriodSeconds: number;
    runAsUser: number;
    partOf: string;
}

/** The port Istio's agent serves merged (app + Envoy) Prometheus metrics on, outside mTLS. */
export const MERGED_METRICS_PORT = 15020;

const DNS_NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

function isInt(v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): boolean {
    return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
}

/** Applies defaults and validates everything; throws one error listing every problem with its key and value. */
export function normalizeMicroServiceArgs(name: string, args: MicroServiceArgs): NormalizedMicroService {
    const problems: string[] = [];
    const bad = (key: string, value: unknown, why: string) => problems.push(`${key} (${JSON.stringify(value)}) ${why}`);
    const svc = args.serviceName ?? name;
    if (!DNS_NAME.test(svc) || svc.length > 47) bad("serviceName", svc, "must be a DNS label of at most 47 characters (room for \"-canary\")");

    if (!isInt(args.minReplicas, 1)) bad("minReplicas", args.minReplicas, "must be a whole number ≥ 1");
    if (!isInt(args.maxReplicas, 1)) bad("maxReplicas", args.maxReplicas, "must be a whole number ≥ 1");
    if (args.minReplicas > args.maxReplicas) problems.push(`minReplicas (${args.minReplicas}) exceeds maxReplicas (${args.maxReplicas})`);

    for (const [req, lim] of [["cpuRequest", "cpuLimit"], ["memoryRequest", "memoryLimit"]] as const) {
        const r = parseQuantity(args[req]);
        const l = parseQuantity(args[lim]);
        if (r === undefined) bad(req, args[req], "is not a Kubernetes quantity (e.g. 250m, 512Mi)");
        if (l === undefined) bad(lim, args[lim], "is not a Kubernetes quantity (e.g. 250m, 512Mi)");
        if (r !== undefined && l !== undefined && l < r) problems.push(`${lim} (${JSON.stringify(args[lim])}) is below ${req} (${JSON.stringify(args[req])})`);
    }

    const containerPort = args.containerPort ?? 8080;
    const servicePort = args.servicePort ?? 80;
    if (!isInt(containerPort, 1, 65535)) bad("containerPort", containerPort, "must be a port number");
    if (!isInt(servicePort, 1, 65535)) bad("servicePort", servicePort, "must be a port number");

    let canary: NormalizedMicroService["canary"];
    if (args.canary) {
        const weight = args.canary.weight ?? 10;
        const replicas = args.canary.replicas ?? args.minReplicas;
        if (!isInt(weight, 0, 100)) bad("canary.weight", weight, "must be a whole percent between 0 and 100");
        if (!isInt(replicas, 1)) bad("canary.replicas", replicas, "must be a whole number ≥ 1");
        canary = { image: args.canary.image, weight, replicas };
    }

    let hpa: NormalizedMicroService["hpa"];
    let keda: NormalizedMicroService["keda"];
    if (args.hpa && args.keda) {
        problems.push("hpa and keda are both set: exactly one autoscaler may own a Deployment's replica count");
    } else if (!args.hpa && !args.keda) {
        problems.push("neither hpa nor keda is set: every service needs exactly one autoscaler");
    }
    const checkBehavior = (prefix: string, b: ScalingBehavior) => {
        if (!isInt(b.scaleUp.stabilizationWindowSeconds, 0, 3600)) bad(`${prefix}.scaleUp.stabilizationWindowSeconds`, b.scaleUp.stabilizationWindowSeconds, "must be 0–3600");
        if (!isInt(b.scaleUp.percent, 1)) bad(`${prefix}.scaleUp.percent`, b.scaleUp.percent, "must be ≥ 1");
        if (!isInt(b.scaleUp.pods, 1)) bad(`${prefix}.scaleUp.pods`, b.scaleUp.pods, "must be ≥ 1");
        if (!isInt(b.scaleUp.periodSeconds, 1, 1800)) bad(`${prefix}.scaleUp.periodSeconds`, b.scaleUp.periodSeconds, "must be 1–1800");
        if (!isInt(b.scaleDown.stabilizationWindowSeconds, 0, 3600)) bad(`${prefix}.scaleDown.stabilizationWindowSeconds`, b.scaleDown.stabilizationWindowSeconds, "must be 0–3600");
        if (!isInt(b.scaleDown.percent, 1, 100)) bad(`${prefix}.scaleDown.percent`, b.scaleDown.percent, "must be 1–100");
        if (!isInt(b.scaleDown.periodSeconds, 1, 1800)) bad(`${prefix}.scaleDown.periodSeconds`, b.scaleDown.periodSeconds, "must be 1–1800");
    };
    if (args.hpa) {
        hpa = {
            targetCpuUtilization: args.hpa.targetCpuUtilization ?? 70,
            targetMemoryUtilization: args.hpa.targetMemoryUtilization ?? 80,
            targetRequestsPerSecond: args.hpa.targetRequestsPerSecond,
            behavior: args.hpa.behavior ?? SEED_BEHAVIOR,
        };
        if (!isInt(hpa.targetCpuUtilization, 1, 100)) bad("hpa.targetCpuUtilization", hpa.targetCpuUtilization, "must be a percent between 1 and 100");
        if (!isInt(hpa.targetMemoryUtilization, 1, 100)) bad("hpa.targetMemoryUtilization", hpa.targetMemoryUtilization, "must be a percent between 1 and 100");
        if (hpa.targetRequestsPerSecond !== undefined && !isInt(hpa.targetRequestsPerSecond, 1)) bad("hpa.targetRequestsPerSecond", hpa.targetRequestsPerSecond, "must be a whole number ≥ 1");
        checkBehavior("hpa.behavior", hpa.behavior);
    }
    if (args.keda) {
        keda = {
            queues: args.keda.queues,
            queueLengthTarget: args.keda.queueLengthTarget ?? 10,
            connectionSecret: args.keda.connectionSecret,
            pollingIntervalSeconds: args.keda.pollingIntervalSeconds ?? 15,
            behavior: args.keda.behavior ?? SEED_BEHAVIOR,
        };
        if (keda.queues.length === 0) bad("keda.queues", keda.queues, "must name at least one queue");
        if (new Set(keda.queues).size !== keda.queues.length) bad("keda.queues", keda.queues, "must not repeat a queue");
        if (!isInt(keda.queueLengthTarget, 1)) bad("keda.queueLengthTarget", keda.queueLengthTarget, "must be a whole number ≥ 1");
        if (!isInt(keda.pollingIntervalSeconds, 1)) bad("keda.pollingIntervalSeconds", keda.pollingIntervalSeconds, "must be a whole number ≥ 1");
        checkBehavior("keda.behavior", keda.behavior);
    }

    const t = args.traffic ?? {};
    const traffic: Required<TrafficArgs> = {
        timeoutMs: t.timeoutMs ?? 5000,
        retryAttempts: t.retryAttempts ?? 1,
        perTryTimeoutMs: t.perTryTimeoutMs ?? 2500,
        retryOn: t.retryOn ?? "connect-failure,refused-stream,unavailable,cancelled",
        maxConnections: t.maxConnections ?? 1000,
        http1MaxPendingRequests: t.http1MaxPendingRequests ?? 1024,
        maxRequestsPerConnection: t.maxRequestsPerConnection ?? 0,
        consecutive5xxErrors: t.consecutive5xxErrors ?? 5,
        outlierIntervalSeconds: t.outlierIntervalSeconds ?? 10,
        baseEjectionTimeSeconds: t.baseEjectionTimeSeconds ?? 30,
        maxEjectionPercent: t.maxEjectionPercent ?? 50,
    };
    if (!isInt(traffic.timeoutMs, 1)) bad("traffic.timeoutMs", traffic.timeoutMs, "must be a whole number of ms ≥ 1");
    if (!isInt(traffic.retryAttempts, 0, 10)) bad("traffic.retryAttempts", traffic.retryAttempts, "must be 0–10");
    if (!isInt(traffic.perTryTimeoutMs, 1)) bad("traffic.perTryTimeoutMs", traffic.perTryTimeoutMs, "must be a whole number of ms ≥ 1");
    // Istio's `attempts` counts retries; the first try also gets a perTryTimeout.
    const worstCase = (traffic.retryAttempts + 1) * traffic.perTryTimeoutMs;
    if (worstCase > traffic.timeoutMs) {
        problems.push(
            `traffic.retryAttempts (${traffic.retryAttempts}) and traffic.perTryTimeoutMs (${traffic.perTryTimeoutMs}) cannot fit ` +
                `traffic.timeoutMs (${traffic.timeoutMs}): 1 try + ${traffic.retryAttempts} retries × ${traffic.perTryTimeoutMs} ms = ${worstCase} ms`,
        );
    }
    for (const key of ["maxConnections", "http1MaxPendingRequests", "consecutive5xxErrors", "outlierIntervalSeconds", "baseEjectionTimeSeconds"] as const) {
        if (!isInt(traffic[key], 1)) bad(`traffic.${key}`, traffic[key], "must be a whole number ≥ 1");
    }
    if (!isInt(traffic.maxRequestsPerConnection, 0)) bad("traffic.maxRequestsPerConnection", traffic.maxRequestsPerConnection, "must be a whole number ≥ 0");
    if (!isInt(traffic.maxEjectionPercent, 1, 100)) bad("traffic.maxEjectionPercent", traffic.maxEjectionPercent, "must be a percent between 1 and 100");

    const preStopSeconds = args.preStopSeconds ?? 5;
    const shutdownTimeoutMs = args.shutdownTimeoutMs ?? 25000;
    const drainSeconds = Math.ceil(shutdownTimeoutMs / 1000);
    const terminationGracePeriodSeconds = args.terminationGracePeriodSeconds ?? preStopSeconds + drainSeconds + 5;
    if (!isInt(preStopSeconds, 0, 120)) bad("preStopSeconds", preStopSeconds, "must be 0–120");
    if (!isInt(shutdownTimeoutMs, 1000)) bad("shutdownTimeoutMs", shutdownTimeoutMs, "must be a whole number of ms ≥ 1000");
    if (terminationGracePeriodSeconds <= preStopSeconds + drainSeconds) {
        problems.push(
            `terminationGracePeriodSeconds (${terminationGracePeriodSeconds}) must exceed preStopSeconds (${preStopSeconds}) + ` +
                `shutdownTimeoutMs (${shutdownTimeoutMs} ms), or the kubelet kills the pod mid-drain`,
        );
    }

    const excludeOutboundPorts = args.excludeOutboundPorts ?? [];
    const internetEgressPorts = args.internetEgressPorts ?? [443];
    excludeOutboundPorts.forEach((p, i) => isInt(p, 1, 65535) || bad(`excludeOutboundPorts[${i}]`, p, "must be a port number"));
    internetEgressPorts.forEach((p, i) => isInt(p, 1, 65535) || bad(`internetEgressPorts[${i}]`, p, "must be a port number"));
    const callers = args.callers ?? [];
    callers.forEach((c, i) => DNS_NAME.test(c) || bad(`callers[${i}]`, c, "must be a service name"));
    const publicPathPrefixes = args.ingressGateway?.publicPathPrefixes ?? ["/api/"];
    if (publicPathPrefixes.length === 0) bad("ingressGateway.publicPathPrefixes", "[]", "must name at least one path prefix");
    publicPathPrefixes.forEach((prefix, i) => /^\/[\x21-\x7e]*$/.test(prefix) || bad(`ingressGateway.publicPathPrefixes[${i}]`, prefix, "must be a path starting with /"));
    const runAsUser = args.runAsUser ?? 1000;
    if (!isInt(runAsUser, 1)) bad("runAsUser", runAsUser, "must be a non-root UID (≥ 1)");
    for (const k of ["PORT", "SERVICE_NAME", "SHUTDOWN_TIMEOUT_MS"]) {
        if (args.env && k in args.env) bad(`env.${k}`, "…", "is set by the component; remove it");
    }
    for (const k of Object.keys(args.secretEnv ?? {})) {
        if (args.env && k in args.env) bad(`secretEnv.${k}`, args.secretEnv![k], "is also in env: set each variable once");
    }

    if (problems.length > 0) {
        throw new Error(`MicroService "${name}":${problems.length === 1 ? ` ${problems[0]}` : `\n  - ${problems.join("\n  - ")}`}`);
    }
    return {
        name: svc,
        namespace: args.namespace,
        image: args.image,
        canary,
        containerPort,
        servicePort,
        minReplicas: args.minReplicas,
        maxReplicas: args.maxReplicas,
        resources: {
            requests: { cpu: args.cpuRequest, memory: args.memoryRequest },
            limits: { cpu: args.cpuLimit, memory: args.memoryLimit },
        },
        hpa,
        keda,
        env: args.env ?? {},
        secretEnv: args.secretEnv ?? {},
        serviceAccountRoleArn: args.serviceAccountRoleArn,
        callers,
        ingressGateway: args.ingressGateway ? { ...args.ingressGateway, publicPathPrefixes } : undefined,
        monitoring: { enabled: args.monitoring?.enabled ?? false, namespace: args.monitoring?.namespace ?? "monitoring" },
        excludeOutboundPorts,
        internetEgressPorts,
        traffic,
        preStopSeconds,
        shutdownTimeoutMs,
        terminationGracePeriodSeconds,
        runAsUser,
        partOf: args.partOf ?? "noa",
    };
}

/** An Istio duration: whole seconds as "5s", anything else in ms. */
export function istioDuration(ms: number): string {
    return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** Labels every object of the service carries; `version` only on pods (stable/canary). */
export function serviceLabels(n: NormalizedMicroService): Record<string, string> {
    return { "app.kubernetes.io/name": n.name, "app.kubernetes.io/part-of": n.partOf };
}

function podLabels(n: NormalizedMicroService, version: "stable" | "canary"): Record<string, string> {
    // `app`/`version` are the labels Istio's telemetry and subsets key on.
    return { ...serviceLabels(n), app: n.name, version };
}

/** The pod template of one version (stable or canary). */
export function podTemplate(n: NormalizedMicroService, image: pulumi.Input<string>, version: "stable" | "canary"): k8s.types.input.core.v1.PodTemplateSpec {
    const env: k8s.types.input.core.v1.EnvVar[] = [
        { name: "PORT", value: String(n.containerPort) },
        { name: "SERVICE_NAME", value: n.name },
        { name: "SHUTDOWN_TIMEOUT_MS", value: String(n.shutdownTimeoutMs) },
        ...Object.entries(n.env).sort(([a], [b]) => a.localeCompare(b)).map(([name, value]) => ({ name, value })),
        ...Object.entries(n.secretEnv).sort(([a], [b]) => a.localeCompare(b))
            .map(([name, ref]) => ({ name, valueFrom: { secretKeyRef: { name: ref.secret, key: ref.key } } })),
    ];
    const annotations: Record<string, string> = {
        // Istio's agent scrapes the app here and serves the merge on 15020 — reachable under STRICT mTLS.
        "prometheus.io/scrape": "true",
        "prometheus.io/port": String(n.containerPort),
        "prometheus.io/path": "/metrics",
    };
    if (n.excludeOutboundPorts.length > 0) {
        // Clustered Redis answers MOVED with pod IPs and RabbitMQ/Citus are outside the mesh: talk to them directly.
        annotations["traffic.sidecar.istio.io/excludeOutboundPorts"] = n.excludeOutboundPorts.join(",");
    }
    const spread = (topologyKey: string) => ({
        maxSkew: 1,
        topologyKey,
        // ScheduleAnyway: the burst node group is one multi-AZ ASG, so the cluster autoscaler cannot add a node
        // in a chosen zone; DoNotSchedule would leave pods Pending under load instead of scaling.
        whenUnsatisfiable: "ScheduleAnyway",
        labelSelector: { matchLabels: { "app.kubernetes.io/name": n.name, version } },
        matchLabelKeys: ["pod-template-hash"],
    });
    return {
        metadata: { labels: podLabels(n, version), annotations },
        spec: {
            serviceAccountName: n.name,
            terminationGracePeriodSeconds: n.terminationGracePeriodSeconds,
            securityContext: {
                runAsNonRoot: true,
                runAsUser: n.runAsUser,
                runAsGroup: n.runAsUser,
                fsGroup: n.runAsUser,
                seccompProfile: { type: "RuntimeDefault" },
            },
            topologySpreadConstraints: [spread("topology.kubernetes.io/zone"), spread("kubernetes.io/hostname")],
            containers: [
                {
                    name: n.name,
                    image,
                    imagePullPolicy: "IfNotPresent",
                    ports: [{ name: "http", containerPort: n.containerPort, protocol: "TCP" }],
                    env,
                    resources: n.resources,
                    startupProbe: { httpGet: { path: "/health/startup", port: "http" }, periodSeconds: 2, failureThreshold: 30, timeoutSeconds: 2 },
                    livenessProbe: { httpGet: { path: "/health", port: "http" }, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 2 },
                    readinessProbe: { httpGet: { path: "/health/ready", port: "http" }, periodSeconds: 5, failureThreshold: 2, timeoutSeconds: 2 },
                    lifecycle: { preStop: { sleep: { seconds: n.preStopSeconds } } },
                    securityContext: {
                        allowPrivilegeEscalation: false,
                        readOnlyRootFilesystem: true,
                        runAsNonRoot: true,
                        capabilities: { drop: ["ALL"] },
                        seccompProfile: { type: "RuntimeDefault" },
                    },
                    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                },
            ],
            volumes: [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }],
        },
    };
}

/** Deployment spec; `replicas` only for the canary (the stable one belongs to its autoscaler). */
export function deploymentSpec(n: NormalizedMicroService, version: "stable" | "canary"): k8s.types.input.apps.v1.DeploymentSpec {
    const image = version === "stable" ? n.image : n.canary!.image;
    return {
        ...(version === "canary" ? { replicas: n.canary!.replicas } : {}),
        selector: { matchLabels: { "app.kubernetes.io/name": n.name, version } },
        strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        revisionHistoryLimit: 5,
        minReadySeconds: 5,
        progressDeadlineSeconds: 600,
        template: podTemplate(n, image, version),
    };
}

/** The HPA spec (autoscaling/v2) for the stable Deployment. */
export function hpaSpec(n: NormalizedMicroService): k8s.types.input.autoscaling.v2.HorizontalPodAutoscalerSpec {
    const h = n.hpa!;
    const metrics: k8s.types.input.autoscaling.v2.MetricSpec[] = [
        { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: h.targetCpuUtilization } } },
        { type: "Resource", resource: { name: "memory", target: { type: "Utilization", averageUtilization: h.targetMemoryUtilization } } },
    ];
    if (h.targetRequestsPerSecond !== undefined) {
        metrics.push({
            type: "Pods",
            pods: { metric: { name: "http_requests_per_second" }, target: { type: "AverageValue", averageValue: String(h.targetRequestsPerSecond) } },
        });
    }
    return {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: n.name },
        minReplicas: n.minReplicas,
        maxReplicas: n.maxReplicas,
        metrics,
        behavior: behaviorSpec(h.behavior),
    };
}

/** HPA `behavior` from the seeds' shape. */
export function behaviorSpec(b: ScalingBehavior): k8s.types.input.autoscaling.v2.HorizontalPodAutoscalerBehavior {
    return {
        scaleUp: {
            stabilizationWindowSeconds: b.scaleUp.stabilizationWindowSeconds,
            policies: [
                { type: "Percent", value: b.scaleUp.percent, periodSeconds: b.scaleUp.periodSeconds },
                { type: "Pods", value: b.scaleUp.pods, periodSeconds: b.scaleUp.periodSeconds },
            ],
            selectPolicy: "Max",
        },
        scaleDown: {
            stabilizationWindowSeconds: b.scaleDown.stabilizationWindowSeconds,
            policies: [{ type: "Percent", value: b.scaleDown.percent, periodSeconds: b.scaleDown.periodSeconds }],
            selectPolicy: "Max",
        },
    };
}

/** KEDA ScaledObject spec: one rabbitmq trigger per queue, authenticated by `authName`. */
export function scaledObjectSpec(n: NormalizedMicroService, authName: string): Record<string, unknown> {
    const k = n.keda!;
    return {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: n.name },
        minReplicaCount: n.minReplicas,
        maxReplicaCount: n.maxReplicas,
        pollingInterval: k.pollingIntervalSeconds,
        advanced: { horizontalPodAutoscalerConfig: { behavior: behaviorSpec(k.behavior) } },
        triggers: k.queues.map((queue) => ({
            type: "rabbitmq",
            name: queue.replace(/[^a-z0-9-]/g, "-"),
            metadata: { protocol: "amqp", queueName: queue, mode: "QueueLength", value: String(k.queueLengthTarget) },
            authenticationRef: { name: authName },
        })),
    };
}

/** DestinationRule spec: the connection pool and outlier detection are the mesh's circuit breaker. */
export function destinationRuleSpec(n: NormalizedMicroService, host: string): Record<string, unknown> {
    const t = n.traffic;
    return {
        host,
        trafficPolicy: {
            connectionPool: {
                tcp: { maxConnections: t.maxConnections, connectTimeout: "2s" },
                http: { http1MaxPendingRequests: t.http1MaxPendingRequests, maxRequestsPerConnection: t.maxRequestsPerConnection },
            },
            outlierDetection: {
                consecutive5xxErrors: t.consecutive5xxErrors,
                interval: `${t.outlierIntervalSeconds}s`,
                baseEjectionTime: `${t.baseEjectionTimeSeconds}s`,
                maxEjectionPercent: t.maxEjectionPercent,
            },
        },
        ...(n.canary
            ? { subsets: [{ name: "stable", labels: { version: "stable" } }, { name: "canary", labels: { version: "canary" } }] }
            : {}),
    };
}

/** The weighted routes: 100 to the service, or stable/canary splitting 100 between them. */
export function routeWeights(n: NormalizedMicroService): { subset: string | undefined; weight: number }[] {
    if (!n.canary) return [{ subset: undefined, weight: 100 }];
    return [
        { subset: "stable", weight: 100 - n.canary.weight },
        { subset: "canary", weight: n.canary.weight },
    ];
}

/** VirtualService spec for mesh callers (and the ingress Gateway when the service is the public edge). */
export function virtualServiceSpec(n: NormalizedMicroService, host: string): Record<string, unknown> {
    const t = n.traffic;
    const ingress = n.ingressGateway;
    const behaviour = {
        timeout: istioDuration(t.timeoutMs),
        retries: t.retryAttempts > 0
            ? { attempts: t.retryAttempts, perTryTimeout: istioDuration(t.perTryTimeoutMs), retryOn: t.retryOn }
            : { attempts: 0 },
        route: routeWeights(n).map(({ subset, weight }) => ({
            destination: { host, port: { number: n.servicePort }, ...(subset ? { subset } : {}) },
            weight,
        })),
    };
    if (!ingress) return { hosts: [host], http: [{ name: "default", ...behaviour }] };
    // From the internet only the public prefixes (no route: Envoy answers 404); inside the mesh, every path.
    return {
        hosts: [host, ...ingress.hosts],
        gateways: ["mesh", ingress.gateway],
        http: [
            { name: "public", match: ingress.publicPathPrefixes.map((prefix) => ({ gateways: [ingress.gateway], uri: { prefix } })), ...behaviour },
            { name: "mesh", match: [{ gateways: ["mesh"] }], ...behaviour },
        ],
    };
}

/**
 * Ranges internet egress never reaches: RFC 1918 (the VPC, the cluster's pod
 * and service networks), link-local (the instance metadata service) and the
 * shared 100.64.0.0/10 space (the secondary CIDR that EKS custom networking
 * gives pods). The worker's webhook client refuses them too (kit
 * `isPrivateAddress`); this is the same rule one layer down.
 */
const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"];

/**
 * Deny by default, both directions. Ingress: the ingress gateway (edge only),
 * the listed callers, Prometheus on the merged-metrics port. Egress: DNS,
 * istiod (xDS and certificates), the services' own namespace (service to
 * service), the data namespace, and the public internet on the listed ports
 * (S3, STS, webhooks) — never other in-cluster namespaces.
 */
export function networkPolicySpec(
    n: NormalizedMicroService,
    opts: { dataNamespace?: string; istioNamespace?: string } = {},
): k8s.types.input.networking.v1.NetworkPolicySpec {
    const port = (p: number) => ({ protocol: "TCP", port: p });
    const ingress: k8s.types.input.networking.v1.NetworkPolicyIngressRule[] = [];
    if (n.ingressGateway) {
        ingress.push({
            from: [{
                namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": n.ingressGateway.namespace } },
                podSelector: { matchLabels: n.ingressGateway.podLabels },
            }],
            ports: [port(n.containerPort)],
        });
    }
    if (n.callers.length > 0) {
        ingress.push({
            from: [{ podSelector: { matchExpressions: [{ key: "app.kubernetes.io/name", operator: "In", values: [...n.callers].sort() }] } }],
            ports: [port(n.containerPort)],
        });
    }
    if (n.monitoring.enabled) {
        ingress.push({
            from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": n.monitoring.namespace } } }],
            ports: [port(MERGED_METRICS_PORT)],
        });
    }
    const ns = (name: string) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": name } } });
    const egress: k8s.types.input.networking.v1.NetworkPolicyEgressRule[] = [
        {
            to: [{ ...ns("kube-system"), podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }],
            ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }],
        },
        // istiod: xDS configuration and workload certificates for the sidecar.
        { to: [ns(opts.istioNamespace ?? "istio-system")], ports: [port(15012)] },
        { to: [{ podSelector: { matchLabels: { "app.kubernetes.io/part-of": n.partOf } } }], ports: [port(n.containerPort)] },
        { to: [ns(opts.dataNamespace ?? "noa-data")] },
    ];
    if (n.internetEgressPorts.length > 0) {
        egress.push({ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: PRIVATE_RANGES } }], ports: n.internetEgressPorts.map(port) });
    }
    return {
        podSelector: { matchLabels: { "app.kubernetes.io/name": n.name } },
        policyTypes: ["Ingress", "Egress"],
        ingress,
        egress,
    };
}

/** ServiceMonitor spec: the merged Istio/app metrics endpoint of every pod behind the Service. */
export function serviceMonitorSpec(n: NormalizedMicroService, namespace: pulumi.Input<string>): Record<string, unknown> {
    return {
        selector: { matchLabels: serviceLabels(n) },
        namespaceSelector: { matchNames: [namespace] },
        endpoints: [{ port: "http-metrics", path: "/stats/prometheus", interval: "15s", scrapeTimeout: "10s" }],
    };
}

export class MicroService extends pulumi.ComponentResource {
    /** The Kubernetes name shared by the Deployment, Service and friends. */
    public readonly serviceName: string;
    /** In-cluster URL of the Service (`http://<name>.<namespace>.svc.cluster.local`). */
    public readonly url: pulumi.Output<string>;
    public readonly serviceAccount: k8s.core.v1.ServiceAccount;
    public readonly deployment: k8s.apps.v1.Deployment;
    public readonly canaryDeployment: k8s.apps.v1.Deployment | undefined;
    public readonly service: k8s.core.v1.Service;
    public readonly podDisruptionBudget: k8s.policy.v1.PodDisruptionBudget;
    public readonly networkPolicy: k8s.networking.v1.NetworkPolicy;
    public readonly destinationRule: k8s.apiextensions.CustomResource;
    public readonly virtualService: k8s.apiextensions.CustomResource;
    /** The HPA, when `hpa` is set. */
    public readonly horizontalPodAutoscaler: k8s.autoscaling.v2.HorizontalPodAutoscaler | undefined;
    /** The KEDA ScaledObject, when `keda` is set. */
    public readonly scaledObject: k8s.apiextensions.CustomResource | undefined;
    public readonly serviceMonitor: k8s.apiextensions.CustomResource | undefined;

    constructor(name: string, args: MicroServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("noa:app:MicroService", name, {}, opts);
        const n = normalizeMicroServiceArgs(name, args);
        this.serviceName = n.name;
        const ns = n.namespace;
        const labels = serviceLabels(n);
        const meta = (suffix = "") => ({ name: `${n.name}${suffix}`, namespace: ns, labels });
        const host = pulumi.interpolate`${n.name}.${ns}.svc.cluster.local`;
        this.url = pulumi.interpolate`http://${host}`;
        // Every child waits: the mesh's and autoscalers' CRDs, the data Secrets, the migrations.
        const after = args.dependsOn ?? [];
        const child = { parent: this, dependsOn: after };

        this.serviceAccount = new k8s.core.v1.ServiceAccount(`${name}-sa`, {
            metadata: {
                ...meta(),
                ...(n.serviceAccountRoleArn ? { annotations: { "eks.amazonaws.com/role-arn": n.serviceAccountRoleArn } } : {}),
            },
            // No service talks to the Kubernetes API. The sidecar (istio-token) and IRSA (aws-iam-token)
            // get their own audience-bound projected tokens from their webhooks.
            automountServiceAccountToken: false,
        }, child);

        const rollout = { parent: this, dependsOn: [...after, this.serviceAccount] };
        this.deployment = new k8s.apps.v1.Deployment(`${name}-deployment`, {
            metadata: meta(),
            spec: deploymentSpec(n, "stable"),
        }, rollout);
        this.canaryDeployment = n.canary
            ? new k8s.apps.v1.Deployment(`${name}-canary`, { metadata: meta("-canary"), spec: deploymentSpec(n, "canary") }, rollout)
            : undefined;

        this.service = new k8s.core.v1.Service(`${name}-service`, {
            metadata: meta(),
            spec: {
                type: "ClusterIP",
                // Both versions sit behind the one Service; the VirtualService splits by subset.
                selector: { "app.kubernetes.io/name": n.name },
                ports: [
                    { name: "http", port: n.servicePort, targetPort: "http", protocol: "TCP", appProtocol: "http" },
                    ...(n.monitoring.enabled ? [{ name: "http-metrics", port: MERGED_METRICS_PORT, targetPort: MERGED_METRICS_PORT, protocol: "TCP" }] : []),
                ],
            },
        }, child);

        this.podDisruptionBudget = new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, {
            metadata: meta(),
            spec: {
                // One pod at a time across both versions: drains always make progress, yet never take a
                // second pod of the service down.
                maxUnavailable: 1,
                selector: { matchLabels: { "app.kubernetes.io/name": n.name } },
                unhealthyPodEvictionPolicy: "AlwaysAllow",
            },
        }, child);

        this.networkPolicy = new k8s.networking.v1.NetworkPolicy(`${name}-netpol`, {
            metadata: meta(),
            spec: networkPolicySpec(n),
        }, child);

        this.destinationRule = new k8s.apiextensions.CustomResource(`${name}-dr`, {
            apiVersion: "networking.istio.io/v1",
            kind: "DestinationRule",
            metadata: meta(),
            spec: host.apply((h) => destinationRuleSpec(n, h)),
        }, child);

        this.virtualService = new k8s.apiextensions.CustomResource(`${name}-vs`, {
            apiVersion: "networking.istio.io/v1",
            kind: "VirtualService",
            metadata: meta(),
            spec: host.apply((h) => virtualServiceSpec(n, h)),
        }, child);

        if (n.hpa) {
            this.horizontalPodAutoscaler = new k8s.autoscaling.v2.HorizontalPodAutoscaler(`${name}-hpa`, {
                metadata: meta(),
                spec: hpaSpec(n),
            }, { parent: this, dependsOn: [...after, this.deployment] });
        }
        if (n.keda) {
            const auth = new k8s.apiextensions.CustomResource(`${name}-keda-auth`, {
                apiVersion: "keda.sh/v1alpha1",
                kind: "TriggerAuthentication",
                metadata: meta("-rabbitmq"),
                spec: { secretTargetRef: [{ parameter: "host", name: n.keda.connectionSecret.name, key: n.keda.connectionSecret.key }] },
            }, child);
            this.scaledObject = new k8s.apiextensions.CustomResource(`${name}-scaledobject`, {
                apiVersion: "keda.sh/v1alpha1",
                kind: "ScaledObject",
                metadata: meta(),
                spec: scaledObjectSpec(n, `${n.name}-rabbitmq`),
            }, { parent: this, dependsOn: [...after, this.deployment, auth] });
        }
        if (n.monitoring.enabled) {
            this.serviceMonitor = new k8s.apiextensions.CustomResource(`${name}-monitor`, {
                apiVersion: "monitoring.coreos.com/v1",
                kind: "ServiceMonitor",
                metadata: meta(),
                spec: serviceMonitorSpec(n, ns),
            }, child);
        }

        this.registerOutputs({ serviceName: this.serviceName, url: this.url });
    }
}
