import type { StackValidationPolicy } from "@pulumi/policy";
import { roleKey } from "../lib/stores";
import { declaredObjects } from "../lib/kubernetes";
import { fix, integer } from "../lib/policy";
import { autoscalersByTarget, autoscalersOf, describeWorkload, workloadKey, workloadsOf } from "../lib/workloads";

export interface WorkloadReplicasConfig {
    minReplicas: number;
    maxReplicas: number;
    singletonWorkloads: Record<string, string>;
}

/**
 * Deployments and StatefulSets run between the environment's minimum and cap,
 * unless an autoscaler owns their count — and then they must not pin
 * `spec.replicas`, or every `pulumi up` would reset what the autoscaler chose.
 * A stack policy: ownership is a relation between resources.
 */
export const workloadReplicas: StackValidationPolicy = {
    name: "workload-replicas",
    description: "Deployments and StatefulSets run at least the environment's minimum and at most its cap of replicas; a workload an autoscaler owns does not pin spec.replicas.",
    severity: "high",
    remediationSteps: "Set spec.replicas within the environment's range, or attach one autoscaler and remove spec.replicas.",
    configSchema: {
        properties: {
            minReplicas: integer("Fewest replicas a workload without an autoscaler may run.", 3, 1),
            maxReplicas: integer("Most replicas a workload without an autoscaler may run.", 50, 1),
            singletonWorkloads: {
                type: "object",
                additionalProperties: { type: "string", minLength: 10 },
                default: {},
                description: "Workloads allowed to run exactly one replica, keyed by their pods' app.kubernetes.io/name[/app.kubernetes.io/component] labels (e.g. citus/coordinator), each with the reason.",
            },
        },
    },
    validateStack: (args, reportViolation) => {
        // What the program declared, not the live objects (lib/kubernetes.ts).
        const resources = declaredObjects(args.resources);
        const cfg = args.getConfig<WorkloadReplicasConfig>();
        const owners = autoscalersByTarget(autoscalersOf(resources));
        for (const w of workloadsOf(resources)) {
            const who = describeWorkload(w);
            const scalers = owners.get(workloadKey(w.namespace, w.kind, w.name));
            if (scalers && scalers.length > 0) {
                if (w.declaredReplicas !== undefined) {
                    const by = scalers.map((a) => `${a.kind} ${a.namespace}/${a.name}`).join(", ");
                    reportViolation(fix(
                        `${who} pins spec.replicas (${w.declaredReplicas}) although ${by} owns its replica count; every deployment would reset the autoscaler's choice.`,
                        "remove spec.replicas from the workload and let the autoscaler's minimum set the floor.",
                    ), w.resource.urn);
                }
                continue;
            }
            const replicas = w.declaredReplicas ?? 1;
            const singleton = cfg.singletonWorkloads[roleKey(w.podLabels) ?? ""];
            if (replicas === 1 && singleton !== undefined) continue;
            if (replicas < cfg.minReplicas) {
                reportViolation(fix(
                    `${who} runs ${replicas} replica(s)${w.declaredReplicas === undefined ? " (spec.replicas unset)" : ""}, below the environment's minimum of ${cfg.minReplicas}.`,
                    `set spec.replicas to at least ${cfg.minReplicas}, or attach an HPA/ScaledObject whose minimum is at least ${cfg.minReplicas}.`,
                ), w.resource.urn);
            }
            if (replicas > cfg.maxReplicas) {
                reportViolation(fix(
                    `${who} runs ${replicas} replicas, above the environment's cap of ${cfg.maxReplicas}.`,
                    `lower spec.replicas to at most ${cfg.maxReplicas}, or scale it with an autoscaler bounded by the cap.`,
                ), w.resource.urn);
            }
        }
    },
};
