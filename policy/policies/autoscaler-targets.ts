import type { StackValidationPolicy } from "@pulumi/policy";
import { declaredObjects } from "../lib/kubernetes";
import { fix } from "../lib/policy";
import { autoscalersOf, describeWorkload, workloadKey, workloadsOf } from "../lib/workloads";

/**
 * Every HPA and ScaledObject scales a workload this stack declares, and no
 * workload has two autoscalers (an HPA and KEDA's own HPA would fight over
 * the same replica count).
 */
export const autoscalerTargets: StackValidationPolicy = {
    name: "autoscaler-targets",
    description: "Every HorizontalPodAutoscaler and KEDA ScaledObject targets a Deployment or StatefulSet in the stack, and no workload has more than one autoscaler.",
    severity: "high",
    remediationSteps: "Point scaleTargetRef at an existing workload (same namespace, kind and name); keep exactly one autoscaler per workload.",
    configSchema: { properties: {} },
    validateStack: (args, reportViolation) => {
        // What the program declared, not the live objects (lib/kubernetes.ts).
        const resources = declaredObjects(args.resources);
        const workloads = new Map(workloadsOf(resources).map((w) => [workloadKey(w.namespace, w.kind, w.name), w]));
        const byTarget = new Map<string, string[]>();
        for (const a of autoscalersOf(resources)) {
            const self = `${a.kind} ${a.namespace}/${a.name}`;
            if (a.targetName === undefined) {
                reportViolation(fix(`${self} has no spec.scaleTargetRef.name.`, "set scaleTargetRef to the Deployment or StatefulSet it scales."), a.resource.urn);
                continue;
            }
            const key = workloadKey(a.namespace, a.targetKind, a.targetName);
            if (!workloads.has(key)) {
                reportViolation(fix(
                    `${self} targets ${a.targetKind} ${a.namespace}/${a.targetName}, which this stack does not declare (autoscalers scale only within their own namespace).`,
                    "point scaleTargetRef at a Deployment or StatefulSet of this stack in the same namespace, or remove the autoscaler.",
                ), a.resource.urn);
                continue;
            }
            byTarget.set(key, [...(byTarget.get(key) ?? []), self]);
        }
        for (const [key, scalers] of byTarget) {
            if (scalers.length < 2) continue;
            const w = workloads.get(key)!;
            reportViolation(fix(
                `${describeWorkload(w)} has ${scalers.length} autoscalers (${scalers.join(", ")}); they would fight over its replica count.`,
                "keep one: an HPA for request-driven services, a ScaledObject for queue consumers (KEDA can add CPU as a trigger).",
            ), w.resource.urn);
        }
    },
};
