/**
 * The stack-level view the replica, autoscaler and disruption policies share:
 * which workloads exist, which autoscalers point at them, and how many
 * replicas each runs at its smallest.
 */
import type { PolicyResource } from "@pulumi/policy";
import { HPA_TYPES, SCALABLE_KINDS, SCALED_OBJECT } from "./kubernetes";

export interface Workload {
    resource: PolicyResource;
    kind: string;
    namespace: string;
    name: string;
    /** `spec.replicas` as declared (undefined when unset). */
    declaredReplicas: number | undefined;
    podLabels: Record<string, string>;
}

export interface Autoscaler {
    resource: PolicyResource;
    /** `HorizontalPodAutoscaler` or `ScaledObject`. */
    kind: string;
    namespace: string;
    name: string;
    targetKind: string;
    targetName: string | undefined;
    /** The fewest replicas this autoscaler runs (HPA default 1, KEDA default 0). */
    minReplicas: number;
}

export const workloadKey = (namespace: string, kind: string, name: string) => `${namespace}/${kind}/${name}`;

export function workloadsOf(resources: PolicyResource[]): Workload[] {
    const out: Workload[] = [];
    for (const r of resources) {
        const kind = SCALABLE_KINDS[r.type];
        if (!kind) continue;
        const p = r.props;
        out.push({
            resource: r,
            kind,
            namespace: p.metadata?.namespace ?? "default",
            name: p.metadata?.name ?? r.name,
            declaredReplicas: p.spec?.replicas,
            podLabels: p.spec?.template?.metadata?.labels ?? {},
        });
    }
    return out;
}

export function autoscalersOf(resources: PolicyResource[]): Autoscaler[] {
    const out: Autoscaler[] = [];
    for (const r of resources) {
        const p = r.props;
        const namespace = p.metadata?.namespace ?? "default";
        const name = p.metadata?.name ?? r.name;
        if (HPA_TYPES.has(r.type)) {
            out.push({
                resource: r, kind: "HorizontalPodAutoscaler", namespace, name,
                targetKind: p.spec?.scaleTargetRef?.kind ?? "<unset>",
                targetName: p.spec?.scaleTargetRef?.name,
                minReplicas: p.spec?.minReplicas ?? 1,
            });
        } else if (r.type === SCALED_OBJECT) {
            out.push({
                resource: r, kind: "ScaledObject", namespace, name,
                // KEDA's documented default target kind.
                targetKind: p.spec?.scaleTargetRef?.kind ?? "Deployment",
                targetName: p.spec?.scaleTargetRef?.name,
                // KEDA scales to idleReplicaCount (below minReplicaCount) while no trigger is active.
                minReplicas: Math.min(p.spec?.minReplicaCount ?? 0, p.spec?.idleReplicaCount ?? Number.POSITIVE_INFINITY),
            });
        }
    }
    return out;
}

/** Autoscalers grouped by the workload key they target. */
export function autoscalersByTarget(autoscalers: Autoscaler[]): Map<string, Autoscaler[]> {
    const map = new Map<string, Autoscaler[]>();
    for (const a of autoscalers) {
        if (a.targetName === undefined) continue;
        const key = workloadKey(a.namespace, a.targetKind, a.targetName);
        map.set(key, [...(map.get(key) ?? []), a]);
    }
    return map;
}

/** The fewest replicas a workload runs: its autoscalers' floor, else its declared count (Kubernetes default 1). */
export function floorReplicas(w: Workload, owners: Autoscaler[] | undefined): number {
    if (owners && owners.length > 0) return Math.max(...owners.map((a) => a.minReplicas));
    return w.declaredReplicas ?? 1;
}

export const describeWorkload = (w: { kind: string; namespace: string; name: string }) => `${w.kind} ${w.namespace}/${w.name}`;
