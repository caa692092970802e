/**
 * IstioMesh: the platform namespaces and Istio, installed from the official
 * Helm charts in dependency order:
 *
 *   namespaces → base (CRDs) → cni → istiod (waits) → ingress gateway
 *                                           └──────→ mesh-wide PeerAuthentication, Gateway
 *
 * Why Istio CNI: the services' namespace enforces the `restricted` Pod
 * Security Standard, which forbids the NET_ADMIN/NET_RAW `istio-init`
 * container; the CNI node agent sets up the redirection instead (it needs a
 * `privileged` namespace, so `istio-system` is labelled that way).
 *
 * Why the data stores are outside the mesh (`noa-data` has no injection):
 * Redis Cluster clients follow MOVED/ASK redirects to pod IPs and the cluster
 * bus (port+10000) talks pod to pod; RabbitMQ nodes cluster over Erlang
 * distribution (epmd 4369, dist 25672) with their own peer discovery; Citus
 * workers are reached by the coordinator by pod DNS. Behind sidecars these
 * break in subtle ways (mTLS on pod-IP traffic, protocol sniffing on
 * server-first protocols, startup ordering). Services also exclude the stores'
 * ports from their own sidecar (MicroService `excludeOutboundPorts`).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export const ISTIO_CHART_REPO = "https://istio-release.storage.googleapis.com/charts";

export interface IstioMeshArgs {
    /** Istio version: the chart version of base, cni, istiod and gateway (exact, e.g. "1.27.3"). Required. */
    readonly istioVersion: string;
    /** Mesh-wide PeerAuthentication mode: STRICT (prod) or PERMISSIVE (dev, while clients migrate). Required. */
    readonly mtlsMode: "STRICT" | "PERMISSIVE";
    /** Envoy access logs to stdout (JSON). Default true. */
    readonly accessLogging?: boolean;
    /** Proxies in front of the ingress gateway that append X-Forwarded-For (the ALB: 1). Default 1. */
    readonly numTrustedProxies?: number;
    /** Services' namespace: sidecar injection on, PSS `restricted`. Default "noa". */
    readonly servicesNamespace?: string;
    /** Data stores' namespace: no injection, PSS `baseline`. Default "noa-data". */
    readonly dataNamespace?: string;
    /** Ingress gateway namespace. Default "istio-ingress". */
    readonly ingressNamespace?: string;
    /** istiod replicas floor (its own HPA scales above). Default 2. */
    readonly istiodMinReplicas?: number;
    /** Ingress gateway replicas floor (its chart's HPA). Default 2. */
    readonly gatewayMinReplicas?: number;
    /** Ingress gateway replicas ceiling. Default 10. */
    readonly gatewayMaxReplicas?: number;
    /** Public hosts the Istio `Gateway` accepts on port 80 (TLS ends at the ALB). Required, non-empty. */
    readonly ingressHosts: pulumi.Input<string>[];
}

export interface NormalizedIstioMesh {
    istioVersion: string;
    mtlsMode: "STRICT" | "PERMISSIVE";
    accessLogging: boolean;
    numTrustedProxies: number;
    servicesNamespace: string;
    dataNamespace: string;
    ingressNamespace: string;
    istiodMinReplicas: number;
    gatewayMinReplicas: number;
    gatewayMaxReplicas: number;
    ingressHosts: pulumi.Input<string>[];
}

/** The ingress gateway's Service name and pod label (the ALB Ingress targets this Service). */
export const INGRESS_GATEWAY_SERVICE = "istio-ingressgateway";
export const INGRESS_GATEWAY_POD_LABELS = { istio: "ingressgateway" } as const;
/** The gateway pod's readiness endpoint the ALB health check uses. */
export const INGRESS_GATEWAY_STATUS_PORT = 15021;
/** Name of the Istio `Gateway` object (in the ingress namespace). */
export const INGRESS_GATEWAY_NAME = "noa-gateway";

export function normalizeIstioMeshArgs(name: string, args: IstioMeshArgs): NormalizedIstioMesh {
    const problems: string[] = [];
    const n: NormalizedIstioMesh = {
        istioVersion: args.istioVersion,
        mtlsMode: args.mtlsMode,
        accessLogging: args.accessLogging ?? true,
        numTrustedProxies: args.numTrustedProxies ?? 1,
        servicesNamespace: args.servicesNamespace ?? "noa",
        dataNamespace: args.dataNamespace ?? "noa-data",
        ingressNamespace: args.ingressNamespace ?? "istio-ingress",
        istiodMinReplicas: args.istiodMinReplicas ?? 2,
        gatewayMinReplicas: args.gatewayMinReplicas ?? 2,
        gatewayMaxReplicas: args.gatewayMaxReplicas ?? 10,
        ingressHosts: args.ingressHosts,
    };
    if (!/^1\.\d+\.\d+$/.test(n.istioVersion ?? "")) problems.push(`istioVersion (${JSON.stringify(n.istioVersion)}) must be an exact Istio version (1.x.y)`);
    if (n.mtlsMode !== "STRICT" && n.mtlsMode !== "PERMISSIVE") problems.push(`mtlsMode (${JSON.stringify(n.mtlsMode)}) must be STRICT or PERMISSIVE`);
    if (!Number.isInteger(n.numTrustedProxies) || n.numTrustedProxies < 0 || n.numTrustedProxies > 5) problems.push(`numTrustedProxies (${n.numTrustedProxies}) must be 0–5`);
    for (const key of ["istiodMinReplicas", "gatewayMinReplicas", "gatewayMaxReplicas"] as const) {
        if (!Number.isInteger(n[key]) || n[key] < 1) problems.push(`${key} (${n[key]}) must be a whole number ≥ 1`);
    }
    if (n.gatewayMinReplicas > n.gatewayMaxReplicas) problems.push(`gatewayMinReplicas (${n.gatewayMinReplicas}) exceeds gatewayMaxReplicas (${n.gatewayMaxReplicas})`);
    const names = [n.servicesNamespace, n.dataNamespace, n.ingressNamespace, "istio-system"];
    if (new Set(names).size !== names.length) problems.push(`namespaces (${JSON.stringify(names)}) must be distinct`);
    if (!n.ingressHosts || n.ingressHosts.length === 0) problems.push(`ingressHosts (${JSON.stringify(n.ingressHosts)}) must list at least one host`);
    if (problems.length > 0) throw new Error(`IstioMesh "${name}": ${problems.join("; ")}`);
    return n;
}

/** Namespace labels: injection and Pod Security Standards per namespace role. */
export function namespaceLabels(n: NormalizedIstioMesh): Record<string, Record<string, string>> {
    const pss = (level: string) => ({
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    });
    return {
        "istio-system": pss("privileged"), // the istio-cni node agent needs hostPath and host networking
        // The ALB sends traffic to the ingress gateway's pod IPs (target-type ip): the load balancer
        // controller's readiness gate holds a rollout until each new pod is a healthy target, so a
        // gateway upgrade or a node drain never leaves the ALB with no healthy target.
        [n.ingressNamespace]: { ...pss("baseline"), "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled" },
        [n.servicesNamespace]: { ...pss("restricted"), "istio-injection": "enabled" },
        [n.dataNamespace]: { ...pss("baseline"), "istio-injection": "disabled" },
    };
}

/** istiod chart values (Istio ≥ 1.24 flattened values). */
export function istiodValues(n: NormalizedIstioMesh): Record<string, unknown> {
    return {
        autoscaleMin: n.istiodMinReplicas,
        autoscaleMax: Math.max(5, n.istiodMinReplicas),
        replicaCount: n.istiodMinReplicas,
        cni: { enabled: true },
        seccompProfile: { type: "RuntimeDefault" },
        global: { defaultPodDisruptionBudget: { enabled: true } },
        meshConfig: {
            ...(n.accessLogging ? { accessLogFile: "/dev/stdout", accessLogEncoding: "JSON" } : { accessLogFile: "" }),
            enablePrometheusMerge: true,
            defaultConfig: {
                gatewayTopology: { numTrustedProxies: n.numTrustedProxies },
                // The app starts after its sidecar, and the sidecar outlives the app's drain on shutdown.
                holdApplicationUntilProxyStarts: true,
                proxyMetadata: { EXIT_ON_ZERO_ACTIVE_CONNECTIONS: "true" },
            },
        },
    };
}

/** Ingress gateway chart values: Service `istio-ingressgateway` (ClusterIP: the ALB targets pod IPs). */
export function gatewayValues(n: NormalizedIstioMesh): Record<string, unknown> {
    return {
        name: INGRESS_GATEWAY_SERVICE,
        labels: { ...INGRESS_GATEWAY_POD_LABELS, app: INGRESS_GATEWAY_SERVICE },
        service: {
            type: "ClusterIP",
            ports: [
                { name: "status-port", port: INGRESS_GATEWAY_STATUS_PORT, protocol: "TCP", targetPort: INGRESS_GATEWAY_STATUS_PORT },
                { name: "http2", port: 80, protocol: "TCP", targetPort: 80 },
            ],
        },
        autoscaling: { enabled: true, minReplicas: n.gatewayMinReplicas, maxReplicas: n.gatewayMaxReplicas, targetCPUUtilizationPercentage: 70 },
        podDisruptionBudget: { maxUnavailable: 1 },
        resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "2", memory: "1Gi" } },
        topologySpreadConstraints: [{
            maxSkew: 1,
            topologyKey: "topology.kubernetes.io/zone",
            whenUnsatisfiable: "ScheduleAnyway",
            labelSelector: { matchLabels: INGRESS_GATEWAY_POD_LABELS },
        }],
    };
}

/** The Istio `Gateway`: plain HTTP on 80 for the public hosts (the ALB terminates TLS). */
export function gatewaySpec(hosts: string[]): Record<string, unknown> {
    return {
        selector: { ...INGRESS_GATEWAY_POD_LABELS },
        servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts }],
    };
}

export class IstioMesh extends pulumi.ComponentResource {
    /** Namespace objects by name (`noa`, `noa-data`, `istio-system`, `istio-ingress`). */
    public readonly namespaces: Record<string, k8s.core.v1.Namespace>;
    /** The namespace names, known before anything is created (for args that need plain strings). */
    public readonly namespaceNames: { readonly services: string; readonly data: string; readonly ingress: string };
    public readonly servicesNamespace: pulumi.Output<string>;
    public readonly dataNamespace: pulumi.Output<string>;
    public readonly ingressNamespace: pulumi.Output<string>;
    /** The ingress gateway Service name (the ALB's target). */
    public readonly ingressGatewayService: string = INGRESS_GATEWAY_SERVICE;
    /** Its status port (ALB health check `/healthz/ready`). */
    public readonly ingressGatewayStatusPort: number = INGRESS_GATEWAY_STATUS_PORT;
    /** Pod labels of the ingress gateway (for NetworkPolicies). */
    public readonly ingressGatewayPodLabels: Record<string, string> = { ...INGRESS_GATEWAY_POD_LABELS };
    /** The Istio Gateway reference (`namespace/name`) VirtualServices bind to. */
    public readonly gatewayRef: pulumi.Output<string>;
    public readonly base: k8s.helm.v3.Release;
    public readonly cni: k8s.helm.v3.Release;
    public readonly istiod: k8s.helm.v3.Release;
    public readonly ingressGateway: k8s.helm.v3.Release;
    public readonly peerAuthentication: k8s.apiextensions.CustomResource;
    public readonly gateway: k8s.apiextensions.CustomResource;
    /** Depend on this to deploy meshed workloads (injection webhook and CRDs are ready). */
    public readonly ready: pulumi.Resource[];

    constructor(name: string, args: IstioMeshArgs, opts?: pulumi.ComponentResourceOptions) {
        super("noa:mesh:IstioMesh", name, {}, opts);
        const n = normalizeIstioMeshArgs(name, args);

        this.namespaces = {};
        for (const [ns, labels] of Object.entries(namespaceLabels(n))) {
            this.namespaces[ns] = new k8s.core.v1.Namespace(`${name}-ns-${ns}`, { metadata: { name: ns, labels } }, { parent: this });
        }
        const system = this.namespaces["istio-system"];
        const release = (releaseName: string, chart: string, namespace: string, values: Record<string, unknown>, dependsOn: pulumi.Resource[]) =>
            new k8s.helm.v3.Release(`${name}-${chart}`, {
                name: releaseName,
                chart,
                version: n.istioVersion,
                repositoryOpts: { repo: ISTIO_CHART_REPO },
                namespace,
                values,
                // Wait for readiness; roll back a failed upgrade instead of leaving it half-applied.
                atomic: true,
                timeout: 600,
            }, { parent: this, dependsOn });

        this.base = release("istio-base", "base", "istio-system", { defaultRevision: "default" }, [system]);
        // Chart defaults fit EKS: chained after the AWS VPC CNI, binaries in /opt/cni/bin.
        this.cni = release("istio-cni", "cni", "istio-system", {}, [this.base]);
        this.istiod = release("istiod", "istiod", "istio-system", istiodValues(n), [this.base, this.cni]);
        this.ingressGateway = release(INGRESS_GATEWAY_SERVICE, "gateway", n.ingressNamespace, gatewayValues(n), [this.istiod, this.namespaces[n.ingressNamespace]]);

        // The CRDs come from `base` and the validating webhook from istiod: create mesh config after both.
        this.peerAuthentication = new k8s.apiextensions.CustomResource(`${name}-mtls`, {
            apiVersion: "security.istio.io/v1",
            kind: "PeerAuthentication",
            metadata: { name: "default", namespace: "istio-system" },
            spec: { mtls: { mode: n.mtlsMode } },
        }, { parent: this, dependsOn: [this.istiod] });

        this.gateway = new k8s.apiextensions.CustomResource(`${name}-gateway-config`, {
            apiVersion: "networking.istio.io/v1",
            kind: "Gateway",
            metadata: { name: INGRESS_GATEWAY_NAME, namespace: n.ingressNamespace },
            spec: pulumi.all(n.ingressHosts).apply((hosts) => gatewaySpec(hosts)),
        }, { parent: this, dependsOn: [this.istiod, this.namespaces[n.ingressNamespace]] });

        this.namespaceNames = { services: n.servicesNamespace, data: n.dataNamespace, ingress: n.ingressNamespace };
        this.servicesNamespace = this.namespaces[n.servicesNamespace].metadata.name;
        this.dataNamespace = this.namespaces[n.dataNamespace].metadata.name;
        this.ingressNamespace = this.namespaces[n.ingressNamespace].metadata.name;
        this.gatewayRef = pulumi.interpolate`${this.gateway.metadata.namespace}/${this.gateway.metadata.name}`;
        this.ready = [this.istiod, this.namespaces[n.servicesNamespace], this.peerAuthentication];

        this.registerOutputs({
            servicesNamespace: this.servicesNamespace,
            dataNamespace: this.dataNamespace,
            ingressNamespace: this.ingressNamespace,
            gatewayRef: this.gatewayRef,
        });
    }
}
