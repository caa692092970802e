import type { StackValidationPolicy } from "@pulumi/policy";
import { declaredObjects, PDB_TYPES, selectorMatches } from "../lib/kubernetes";
import { boolean, fix, integer } from "../lib/policy";
import { autoscalersByTarget, autoscalersOf, describeWorkload, floorReplicas, workloadKey, workloadsOf } from "../lib/workloads";

export interface DisruptionConfig {
    requirePdb: boolean;
    minReplicasRequiringPdb: number;
}

/** True when a PDB's bound, for a workload at `replicas`, still lets a node drain evict one pod. */
function blocksEviction(spec: any, replicas: number): string | undefined {
    const { maxUnavailable, minAvailable } = spec ?? {};
    if (maxUnavailable !== undefined) {
        if (maxUnavailable === 0 || maxUnavailable === "0%" || maxUnavailable === "0") return `maxUnavailable is ${JSON.stringify(maxUnavailable)}`;
        return undefined;
    }
    if (minAvailable === undefined) return undefined;
    if (typeof minAvailable === "string" && minAvailable.endsWith("%")) {
        // The eviction API rounds a percentage of minAvailable up.
        const needed = Math.ceil((Number(minAvailable.slice(0, -1)) / 100) * replicas);
        return needed >= replicas ? `minAvailable ${minAvailable} of ${replicas} replicas keeps every pod` : undefined;
    }
    const n = Number(minAvailable);
    return n >= replicas ? `minAvailable ${n} with ${replicas} replica(s) at the workload's floor` : undefined;
}

/**
 * Every workload with two or more replicas (at its floor) has a
 * PodDisruptionBudget, and no budget forbids all evictions — such a budget
 * blocks node drains, so cluster upgrades stall.
 */
export const podDisruptionBudgets: StackValidationPolicy = {
    name: "pod-disruption-budgets",
    description: "Every Deployment and StatefulSet running two or more replicas has a PodDisruptionBudget, and every budget still allows at least one eviction (no maxUnavailable 0, no minAvailable equal to the replicas).",
    severity: "medium",
    remediationSteps: "Add a policy/v1 PodDisruptionBudget selecting the workload's pods with maxUnavailable: 1 (or minAvailable below the replica floor).",
    configSchema: {
        properties: {
            requirePdb: boolean("Whether replicated workloads must have a PodDisruptionBudget (budgets that block eviction are flagged either way).", true),
            minReplicasRequiringPdb: integer("Replica floor from which a workload needs a PodDisruptionBudget.", 2, 2),
        },
    },
    validateStack: (args, reportViolation) => {
        // What the program declared, not the live objects (lib/kubernetes.ts).
        const resources = declaredObjects(args.resources);
        const cfg = args.getConfig<DisruptionConfig>();
        const owners = autoscalersByTarget(autoscalersOf(resources));
        const pdbs = resources.filter((r) => PDB_TYPES.has(r.type));
        const covered = new Set<string>();
        for (const w of workloadsOf(resources)) {
            const replicas = floorReplicas(w, owners.get(workloadKey(w.namespace, w.kind, w.name)));
            const matching = pdbs.filter((b) => (b.props.metadata?.namespace ?? "default") === w.namespace && selectorMatches(b.props.spec?.selector, w.podLabels));
            for (const b of matching) {
                covered.add(b.urn);
                const blocked = blocksEviction(b.props.spec, replicas);
                if (blocked) {
                    reportViolation(fix(
                        `PodDisruptionBudget ${w.namespace}/${b.props.metadata?.name ?? b.name} allows no eviction of ${describeWorkload(w)}: ${blocked}; node drains and cluster upgrades would hang.`,
                        "use maxUnavailable: 1, or a minAvailable below the workload's replica floor.",
                    ), b.urn);
                }
            }
            if (cfg.requirePdb && replicas >= cfg.minReplicasRequiringPdb && matching.length === 0) {
                reportViolation(fix(
                    `${describeWorkload(w)} runs ${replicas} replicas at its floor but no PodDisruptionBudget selects its pods; a node drain may evict all of them at once.`,
                    "add a policy/v1 PodDisruptionBudget in the same namespace whose selector matches the pod template labels, with maxUnavailable: 1.",
                ), w.resource.urn);
            }
        }
        for (const b of pdbs) {
            if (covered.has(b.urn)) continue;
            const blocked = blocksEviction(b.props.spec, Number.POSITIVE_INFINITY);
            if (blocked) reportViolation(fix(`PodDisruptionBudget ${b.props.metadata?.namespace ?? "default"}/${b.props.metadata?.name ?? b.name} allows no eviction: ${blocked}.`, "use maxUnavailable: 1."), b.urn);
        }
    },
};
