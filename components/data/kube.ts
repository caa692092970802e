/**
 * Small pieces every stateful cluster in `data/` and `messaging/` shares:
 * Kubernetes quantities, labels, placement (anti-affinity) and the up-front
 * checks on pod sizes. Pure functions; no resources.
 */
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { parseQuantity } from "../shared/index.js";

/** Resources and volume of one stateful pod role (the stack files' `StatefulPodConfig`). */
export interface StatefulPodArgs {
    /** CPU request, a Kubernetes quantity (e.g. `250m`). */
    readonly cpuRequest: string;
    /** CPU limit, a Kubernetes quantity (e.g. `"1"`). */
    readonly cpuLimit: string;
    /** Memory request, a Kubernetes quantity (e.g. `512Mi`). */
    readonly memoryRequest: string;
    /** Memory limit; the server's memory settings are sized from it (e.g. `1Gi`). */
    readonly memoryLimit: string;
    /** PersistentVolumeClaim size per pod, a Kubernetes quantity (e.g. `20Gi`). */
    readonly storage: string;
}

/** Re-exported: the data components and messaging read it from here. */
export { parseQuantity };

/** `1073741824` → `"1024MB"` for PostgreSQL-style unit settings (whole MiB, which PostgreSQL calls MB). */
export function mebibytes(bytes: number): number {
    return Math.floor(bytes / 2 ** 20);
}

/**
 * Checks one `StatefulPodArgs` and records every problem as
 * `<component> "<name>": <path>.<key> (<value>) ...`.
 */
export function checkPod(problems: string[], prefix: string, path: string, pod: StatefulPodArgs | undefined): void {
    if (!pod) {
        problems.push(`${prefix}${path} is required`);
        return;
    }
    const keys = ["cpuRequest", "cpuLimit", "memoryRequest", "memoryLimit", "storage"] as const;
    for (const key of keys) {
        const value = pod[key];
        const parsed = parseQuantity(value);
        if (parsed === undefined) problems.push(`${prefix}${path}.${key} (${JSON.stringify(value)}) is not a Kubernetes quantity (e.g. 250m, 512Mi, 20Gi)`);
        else if (parsed <= 0) problems.push(`${prefix}${path}.${key} (${JSON.stringify(value)}) must be greater than zero`);
    }
    const pairs = [["cpuRequest", "cpuLimit"], ["memoryRequest", "memoryLimit"]] as const;
    for (const [req, lim] of pairs) {
        const r = parseQuantity(pod[req]);
        const l = parseQuantity(pod[lim]);
        if (r !== undefined && l !== undefined && l < r) {
            problems.push(`${prefix}${path}.${lim} (${JSON.stringify(pod[lim])}) is below ${req} (${JSON.stringify(pod[req])})`);
        }
    }
}

/** Records a problem unless `value` is a whole number within [min, max]. */
export function checkInt(problems: string[], prefix: string, key: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): void {
    if (typeof value !== "number" || !Number.isInteger(value)) {
        problems.push(`${prefix}${key} (${JSON.stringify(value)}) must be a whole number`);
    } else if (value < min) {
        problems.push(`${prefix}${key} (${value}) must be at least ${min}`);
    } else if (value > max) {
        problems.push(`${prefix}${key} (${value}) must be at most ${max}`);
    }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Records a problem unless `value` is a DNS-1123 label (namespace, StorageClass and object names). */
export function checkDnsLabel(problems: string[], prefix: string, key: string, value: unknown, maxLength = 63): void {
    if (typeof value !== "string" || !DNS_LABEL.test(value) || value.length > maxLength) {
        problems.push(`${prefix}${key} (${JSON.stringify(value)}) is not a DNS label (lowercase letters, digits and '-', at most ${maxLength} characters)`);
    }
}

/**
 * Stateful pods are spread one per node (hard host anti-affinity), so a role
 * with more pods than the node groups can ever have nodes would leave pods
 * Pending forever: fail before anything is created.
 */
export function checkPlacement(problems: string[], prefix: string, key: string, pods: number, maxSchedulableNodes: number): void {
    if (Number.isInteger(maxSchedulableNodes) && Number.isInteger(pods) && pods > maxSchedulableNodes) {
        problems.push(`${prefix}${key} (${pods} pods) exceeds maxSchedulableNodes (${maxSchedulableNodes}): with one pod per node they cannot all be placed`);
    }
}

/** Throws one error listing every problem, or does nothing. */
export function throwIfProblems(component: string, name: string, problems: string[]): void {
    if (problems.length === 0) return;
    throw new Error(`${component} "${name}" has invalid arguments:\n  - ${problems.join("\n  - ")}`);
}

/** The recommended labels for one role of one cluster; `selector` is the stable subset used by selectors. */
export function roleLabels(app: string, instance: string, component: string): { selector: Record<string, string>; labels: Record<string, string> } {
    const selector = {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
    };
    return { selector, labels: { ...selector, "app.kubernetes.io/part-of": "noa", "app.kubernetes.io/managed-by": "pulumi" } };
}

/**
 * Placement for pods of one role: at most one per node (required, so a
 * node loss takes at most one member) and spread over zones (preferred, so a
 * zone with fewer nodes still schedules).
 */
export function spreadAffinity(selector: Record<string, string>, hostRequired = true): k8s.types.input.core.v1.Affinity {
    const term = { labelSelector: { matchLabels: selector }, topologyKey: "kubernetes.io/hostname" };
    return {
        podAntiAffinity: {
            ...(hostRequired
                ? { requiredDuringSchedulingIgnoredDuringExecution: [term] }
                : {}),
            preferredDuringSchedulingIgnoredDuringExecution: [
                ...(hostRequired ? [] : [{ weight: 100, podAffinityTerm: term }]),
                { weight: hostRequired ? 100 : 50, podAffinityTerm: { labelSelector: { matchLabels: selector }, topologyKey: "topology.kubernetes.io/zone" } },
            ],
        },
    };
}

/** Container resources from a pod's sizes. */
export function resources(pod: StatefulPodArgs): k8s.types.input.core.v1.ResourceRequirements {
    return {
        requests: { cpu: pod.cpuRequest, memory: pod.memoryRequest },
        limits: { cpu: pod.cpuLimit, memory: pod.memoryLimit },
    };
}

/** One ReadWriteOnce claim template on the given StorageClass. */
export function dataClaim(storageClassName: string, storage: string, name = "data"): k8s.types.input.core.v1.PersistentVolumeClaim {
    return {
        metadata: { name },
        spec: {
            accessModes: ["ReadWriteOnce"],
            storageClassName,
            resources: { requests: { storage } },
        },
    };
}

/**
 * Resource options for a store's StatefulSet. Kubernetes refuses changes to
 * `spec.volumeClaimTemplates`, so Pulumi would *replace* the StatefulSet when
 * a configured volume size changes — refused in prod (`protect`), and in dev
 * every pod of the store deleted at once — while the retained claims keep
 * their old size anyway. The template is therefore only read at creation: a
 * volume is grown by patching its claims (the StorageClass allows expansion;
 * README, "Data stores").
 */
export function statefulSetOptions(parent: pulumi.Resource, protect: boolean, more: pulumi.CustomResourceOptions = {}): pulumi.CustomResourceOptions {
    return { parent, protect, retainOnDelete: protect, ignoreChanges: ["spec.volumeClaimTemplates"], ...more };
}

/**
 * Claims outlive their StatefulSet and scale-downs: data is deleted by a
 * person, never as a side effect of `pulumi destroy` or a replica change.
 */
export const RETAIN_CLAIMS = { whenDeleted: "Retain", whenScaled: "Retain" } as const;

/** A Prometheus Operator ServiceMonitor for a cluster's metrics. */
export interface ServiceMonitorArgs {
    /** Create it. Needs the `monitoring.coreos.com` CRDs (kube-prometheus-stack). */
    readonly enabled: boolean;
    /** What installs those CRDs; the ServiceMonitor waits for it (the stores do not). Default none. */
    readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * The store's ServiceMonitor when `args.enabled`: Prometheus scrapes `port` on
 * every Service matching `selector`, every 30 s, once the monitoring CRDs
 * (`args.dependsOn`) exist.
 */
export function storeServiceMonitor(
    name: string,
    namespace: string,
    labels: Record<string, string>,
    selector: k8s.types.input.meta.v1.LabelSelector,
    port: string,
    args: ServiceMonitorArgs,
    parent: pulumi.Resource,
): k8s.apiextensions.CustomResource | undefined {
    if (!args.enabled) return undefined;
    return new k8s.apiextensions.CustomResource(name, {
        apiVersion: "monitoring.coreos.com/v1",
        kind: "ServiceMonitor",
        metadata: { namespace, labels },
        spec: { selector, endpoints: [{ port, interval: "30s" }] },
    }, { parent, dependsOn: args.dependsOn });
}

/** Every container here: no privilege escalation, no capabilities, nothing written outside its volumes. */
export const RESTRICTED_CONTAINER: k8s.types.input.core.v1.SecurityContext = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
};

/** `${pod}.${service}.${namespace}.svc.cluster.local` — a StatefulSet pod's stable DNS name. */
export function podFqdn(statefulSet: string, ordinal: number, headlessService: string, namespace: string): string {
    return `${statefulSet}-${ordinal}.${headlessService}.${namespace}.svc.cluster.local`;
}

/** `${service}.${namespace}.svc.cluster.local`. */
export function serviceFqdn(service: string, namespace: string): string {
    return `${service}.${namespace}.svc.cluster.local`;
}

/** A NetworkPolicy peer selecting every pod of a namespace by its immutable name label. */
export function namespacePeer(namespace: string): k8s.types.input.networking.v1.NetworkPolicyPeer {
    return { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": namespace } } };
}
