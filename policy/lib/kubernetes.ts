/**
 * Reading Kubernetes objects as policies see them: plain JSON (inputs for
 * resource policies, outputs for stack policies), possibly wrapped in the
 * policy SDK's unknown-value proxy. Nothing here knows about noa's code; it
 * knows about Kubernetes.
 */
import { type PolicyResource, UnknownValueError } from "@pulumi/policy";
import * as policyProxy from "@pulumi/policy/proxy";

/** The SDK's sentinel for an unknown object (internal to it, but what its error's constructor needs). */
const unknownObjectValue: unknown = (policyProxy as Record<string, unknown>).unknownObjectValue;

/** A stack whose Kubernetes objects have no outputs yet: the policy cannot judge them during this preview. */
class UnknownOutputsError extends UnknownValueError {
    constructor(message: string) {
        super(unknownObjectValue, []);
        (this as unknown as Error).message = message;
    }
}

/**
 * The object a program declared, for every Kubernetes resource a stack policy
 * sees (other resources are returned as they are).
 *
 * Stack policies get outputs, and `@pulumi/kubernetes` outputs are the live
 * object as the API server returned it — defaults filled in (a Deployment an
 * HPA scales always has `spec.replicas`, set by the HPA) — with the checked
 * inputs, auto-names included, under `__inputs`. Rules about what the program
 * declares read those inputs; outputs without them (a preview that did not
 * reach a cluster) are the inputs already.
 *
 * On a stack's first preview the cluster does not exist, its provider is not
 * configured, and the engine records no outputs at all for its objects. That
 * is not an empty object to judge with Kubernetes' defaults: the policy is
 * reported as unable to run during this preview (as any unknown value is),
 * and runs on the real outputs during `pulumi up`.
 */
export function declaredObjects(resources: PolicyResource[]): PolicyResource[] {
    const empty = resources.filter((r) => r.type.startsWith("kubernetes:") && Object.keys(r.props).length === 0);
    if (empty.length > 0) {
        throw new UnknownOutputsError(
            `${empty.length} Kubernetes object(s) have no outputs yet (e.g. ${empty[0]!.type} ${empty[0]!.name}): their provider is not configured until the cluster exists`,
        );
    }
    return resources.map((r) => {
        if (!r.type.startsWith("kubernetes:")) return r;
        const inputs = r.props.__inputs;
        return inputs === undefined ? r : { ...r, props: inputs };
    });
}

/** Workload kinds that run pods from a template, by Pulumi type token. */
export const POD_TEMPLATE_KINDS: Readonly<Record<string, string>> = {
    "kubernetes:apps/v1:Deployment": "Deployment",
    "kubernetes:apps/v1:StatefulSet": "StatefulSet",
    "kubernetes:apps/v1:DaemonSet": "DaemonSet",
    "kubernetes:apps/v1:ReplicaSet": "ReplicaSet",
    "kubernetes:batch/v1:Job": "Job",
    "kubernetes:batch/v1:CronJob": "CronJob",
    "kubernetes:core/v1:Pod": "Pod",
};

/** Kinds whose replica count a policy judges (and that an autoscaler may own). */
export const SCALABLE_KINDS: Readonly<Record<string, string>> = {
    "kubernetes:apps/v1:Deployment": "Deployment",
    "kubernetes:apps/v1:StatefulSet": "StatefulSet",
};

/** Long-running kinds (their containers serve or consume, so they need probes). */
export const LONG_RUNNING_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"]);

export const HPA_V2 = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler";
/** Every HorizontalPodAutoscaler token the provider knows; all but v2 are deprecated or removed APIs. */
export const HPA_TYPES = new Set([
    HPA_V2,
    "kubernetes:autoscaling/v1:HorizontalPodAutoscaler",
    "kubernetes:autoscaling/v2beta1:HorizontalPodAutoscaler",
    "kubernetes:autoscaling/v2beta2:HorizontalPodAutoscaler",
]);
/** KEDA's ScaledObject, registered through `apiextensions.CustomResource` (type = apiVersion + kind). */
export const SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject";
export const PDB_TYPES = new Set(["kubernetes:policy/v1:PodDisruptionBudget", "kubernetes:policy/v1beta1:PodDisruptionBudget"]);
export const PEER_AUTHENTICATION_TYPES = new Set([
    "kubernetes:security.istio.io/v1:PeerAuthentication",
    "kubernetes:security.istio.io/v1beta1:PeerAuthentication",
]);

export const NAME_LABEL = "app.kubernetes.io/name";
export const PART_OF_LABEL = "app.kubernetes.io/part-of";

export interface Container {
    name?: string;
    image?: string;
    resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
    readinessProbe?: unknown;
    livenessProbe?: unknown;
    startupProbe?: unknown;
    securityContext?: SecurityContext;
}

export interface SecurityContext {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    readOnlyRootFilesystem?: boolean;
}

export interface PodSpec {
    containers?: Container[];
    initContainers?: Container[];
    securityContext?: SecurityContext;
    volumes?: Array<{ name?: string; configMap?: { name?: string }; projected?: { sources?: Array<{ configMap?: { name?: string } }> } }>;
}

/** A workload's pod template: its spec and the labels its pods carry. */
export interface PodTemplate {
    kind: string;
    spec: PodSpec;
    labels: Record<string, string>;
}

/** The pod template of any pod-running kind, or undefined for other types. */
export function podTemplateOf(type: string, props: any): PodTemplate | undefined {
    const kind = POD_TEMPLATE_KINDS[type];
    if (!kind) return undefined;
    if (kind === "Pod") return { kind, spec: props.spec ?? {}, labels: props.metadata?.labels ?? {} };
    const template = kind === "CronJob" ? props.spec?.jobTemplate?.spec?.template : props.spec?.template;
    return { kind, spec: template?.spec ?? {}, labels: template?.metadata?.labels ?? {} };
}

/** Every container of a pod spec, init containers flagged. */
export function containersOf(spec: PodSpec): Array<{ container: Container; init: boolean }> {
    return [
        ...(spec.initContainers ?? []).map((container) => ({ container, init: true })),
        ...(spec.containers ?? []).map((container) => ({ container, init: false })),
    ];
}

/** `namespace/name` of an object (namespace "default" when unset, as the API server does). */
export function objectRef(props: any, fallbackName?: string): string {
    return `${namespaceOf(props)}/${props.metadata?.name ?? fallbackName ?? "<unnamed>"}`;
}

export function namespaceOf(props: any): string {
    return props.metadata?.namespace ?? "default";
}

/** Human label for a resource in messages: `Deployment noa/gateway`. */
export function describe(kind: string, props: any, fallbackName?: string): string {
    return `${kind} ${objectRef(props, fallbackName)}`;
}

/** A label selector as the API server evaluates it. */
export interface LabelSelector {
    matchLabels?: Record<string, string>;
    matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** True when `selector` selects a pod carrying `labels` (an empty selector selects every pod). */
export function selectorMatches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
    if (!selector) return false;
    for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
        if (labels[k] !== v) return false;
    }
    for (const e of selector.matchExpressions ?? []) {
        const has = Object.prototype.hasOwnProperty.call(labels, e.key);
        const values = e.values ?? [];
        switch (e.operator) {
            case "In": if (!has || !values.includes(labels[e.key])) return false; break;
            case "NotIn": if (has && values.includes(labels[e.key])) return false; break;
            case "Exists": if (!has) return false; break;
            case "DoesNotExist": if (has) return false; break;
            default: return false;
        }
    }
    return true;
}

const MEMORY_SUFFIX: Record<string, number> = {
    "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/**
 * A Kubernetes resource quantity in base units (cores for CPU, bytes for
 * memory): `500m` → 0.5, `1.5` → 1.5, `512Mi` → 536870912, `1e3` → 1000.
 * Returns NaN for a malformed quantity (the caller reports it).
 */
export function parseQuantity(value: string | number | undefined): number {
    if (typeof value === "number") return value;
    if (typeof value !== "string") return NaN;
    const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:(m|Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)|[eE]([+-]?\d+))?$/.exec(value.trim());
    if (!m) return NaN;
    const n = Number(m[1]);
    if (m[3] !== undefined) return n * 10 ** Number(m[3]);
    if (m[2] === "m") return n / 1000;
    return n * MEMORY_SUFFIX[m[2] ?? ""];
}
