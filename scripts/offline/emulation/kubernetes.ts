import type { MockResourceArgs } from "@pulumi/pulumi/runtime";
import { Emulated, EmulationContext, stableHex } from "./common";

/** Kinds that are cluster-scoped (get no default namespace). */
const CLUSTER_SCOPED = new Set([
    "Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass", "CustomResourceDefinition",
    "PersistentVolume", "PriorityClass", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "IngressClass", "APIService",
]);

/**
 * `@pulumi/kubernetes`: the provider auto-names objects without
 * `metadata.name` (logical name + random suffix) and defaults the namespace;
 * outputs are the live object (with `spec.replicas` defaulted) plus `__inputs`;
 * Services and Ingresses get a load-balancer status; Helm releases report
 * "deployed".
 */
/**
 * A Kubernetes object's outputs as the provider records them: the live object
 * (the API server's defaults filled in: a Deployment or StatefulSet always has
 * `spec.replicas`, 1 until an HPA sets it) and the checked inputs (auto-name
 * included) under `__inputs`, which stack policies read.
 */
export function liveOutputs(kind: string, checked: Record<string, any>): Record<string, any> {
    const state = structuredClone(checked);
    if ((kind === "Deployment" || kind === "StatefulSet") && state.spec !== undefined) state.spec.replicas ??= 1;
    return { ...state, __inputs: structuredClone(checked) };
}

export function emulateKubernetes(args: MockResourceArgs, ctx: EmulationContext): Emulated | undefined {
    if (args.type === "pulumi:providers:kubernetes") {
        return { id: `${args.name}-provider`, state: { ...args.inputs } };
    }
    if (!args.type.startsWith("kubernetes:")) return undefined;
    const inputs = args.inputs ?? {};
    const kind = args.type.split(":").pop()!;
    if (args.type === "kubernetes:helm.sh/v3:Release") {
        const name = inputs.name ?? `${args.name}-${stableHex(8, ctx.stack, args.name)}`;
        const namespace = inputs.namespace ?? "default";
        return {
            id: `${namespace}/${name}`,
            state: {
                ...inputs,
                name,
                namespace,
                status: { name, namespace, chart: inputs.chart, version: inputs.version, status: "deployed", revision: 1 },
            },
        };
    }
    const metadata = { ...(inputs.metadata ?? {}) };
    metadata.name = metadata.name ?? `${args.name}-${stableHex(8, ctx.stack, args.type, args.name)}`;
    if (!CLUSTER_SCOPED.has(kind) && !args.type.includes("/List")) {
        metadata.namespace = metadata.namespace ?? "default";
    }
    const state = liveOutputs(kind, { ...inputs, metadata });
    state.metadata.uid = stableHex(32, ctx.stack, args.type, args.name);
    if (kind === "Service") {
        state.spec = { clusterIP: `10.100.${parseInt(stableHex(2, args.name), 16)}.${parseInt(stableHex(2, args.name, "b"), 16)}`, ...(inputs.spec ?? {}) };
        if (inputs.spec?.type === "LoadBalancer") {
            state.status = { loadBalancer: { ingress: [{ hostname: `${metadata.name}-${stableHex(10, args.name)}.elb.us-east-1.amazonaws.com` }] } };
        }
    }
    if (kind === "Ingress") {
        const group = metadata.annotations?.["alb.ingress.kubernetes.io/group.name"] ?? metadata.name;
        state.status = { loadBalancer: { ingress: [{ hostname: `k8s-${String(group).slice(0, 16)}-${stableHex(10, args.name)}-${parseInt(stableHex(6, args.name), 16)}.us-east-1.elb.amazonaws.com` }] } };
    }
    const namespaced = metadata.namespace ? `${metadata.namespace}/` : "";
    return { id: `${namespaced}${metadata.name}`, state };
}
