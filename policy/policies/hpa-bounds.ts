import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import { describe } from "../lib/kubernetes";
import { fix, integer } from "../lib/policy";

export interface HpaBoundsConfig {
    minReplicas: number;
    maxReplicas: number;
    minScaleDownStabilizationSeconds: number;
    cpuUtilizationMin: number;
    cpuUtilizationMax: number;
}

/**
 * HPAs use autoscaling/v2 (v1 has no behavior or multiple metrics; the beta
 * APIs are removed), stay within the environment's replica range, scale down
 * only after a stabilization window, and target CPU in a sane band.
 */
export const hpaBounds: ResourceValidationPolicy = {
    name: "hpa-bounds",
    description: "HorizontalPodAutoscalers use autoscaling/v2, keep minReplicas ≥ the environment's minimum, maxReplicas ≤ its cap and min ≤ max, set a scale-down stabilization window, and target CPU utilisation within a sane band.",
    severity: "high",
    remediationSteps: "Declare the HPA as autoscaling/v2 with minReplicas/maxReplicas inside the environment's range, spec.behavior.scaleDown.stabilizationWindowSeconds at or above the minimum, and a CPU averageUtilization inside the band.",
    configSchema: {
        properties: {
            minReplicas: integer("Lowest minReplicas an HPA may declare.", 3, 1),
            maxReplicas: integer("Highest maxReplicas an HPA may declare.", 50, 1),
            minScaleDownStabilizationSeconds: integer("Shortest scale-down stabilization window (seconds) an HPA must declare.", 300),
            cpuUtilizationMin: integer("Lowest CPU averageUtilization target (percent); below it pods idle at high cost.", 50, 1),
            cpuUtilizationMax: integer("Highest CPU averageUtilization target (percent); above it there is no headroom while new pods start.", 85, 1),
        },
    },
    // One validation, typed through asType/isType: the analyzer deserializes a resource once per validation function.
    validateResource: (args, reportViolation) => {
        const hpa = args.asType(k8s.autoscaling.v2.HorizontalPodAutoscaler);
        if (hpa) return checkV2(hpa, args, reportViolation);
        // Pre-v2 APIs are flagged; their bounds are judged once they move to v2.
        if (args.isType(k8s.autoscaling.v1.HorizontalPodAutoscaler) || args.isType(k8s.autoscaling.v2beta1.HorizontalPodAutoscaler) || args.isType(k8s.autoscaling.v2beta2.HorizontalPodAutoscaler)) {
            return reportViolation(fix(
                `${describe("HorizontalPodAutoscaler", args.props, args.name)} uses ${args.type.split(":")[1]}, which lacks scaling behavior and multiple metrics (or is removed from Kubernetes); its bounds are checked once it is autoscaling/v2.`,
                "declare it with kubernetes.autoscaling.v2.HorizontalPodAutoscaler.",
            ));
        }
        return args.notApplicable(`applies to HorizontalPodAutoscalers, not ${args.type}`);
    },
};

function checkV2(hpa: pulumi.Unwrap<k8s.autoscaling.v2.HorizontalPodAutoscalerArgs>, args: ResourceValidationArgs, reportViolation: ReportViolation): void {
    const cfg = args.getConfig<HpaBoundsConfig>();
    const who = describe("HorizontalPodAutoscaler", hpa, args.name);
    const spec = hpa.spec ?? ({} as NonNullable<typeof hpa.spec>);
    const min: number = spec.minReplicas ?? 1;
    const max: number | undefined = spec.maxReplicas;
    if (min < cfg.minReplicas) {
        reportViolation(fix(`${who} has minReplicas ${min}${spec.minReplicas === undefined ? " (unset, Kubernetes default)" : ""}, below the environment's minimum of ${cfg.minReplicas}.`, `set spec.minReplicas to at least ${cfg.minReplicas}.`));
    }
    if (max === undefined) {
        reportViolation(fix(`${who} has no spec.maxReplicas.`, `set spec.maxReplicas (at most ${cfg.maxReplicas}).`));
    } else {
        if (max > cfg.maxReplicas) reportViolation(fix(`${who} has maxReplicas ${max}, above the environment's cap of ${cfg.maxReplicas}.`, `set spec.maxReplicas to at most ${cfg.maxReplicas}.`));
        if (min > max) reportViolation(fix(`${who} has minReplicas ${min} above maxReplicas ${max}; the API server rejects it.`, "make minReplicas ≤ maxReplicas."));
    }
    const window = spec.behavior?.scaleDown?.stabilizationWindowSeconds;
    if (window === undefined) {
        reportViolation(fix(`${who} declares no spec.behavior.scaleDown.stabilizationWindowSeconds; scale-down would rely on an implicit default.`, `set it to at least ${cfg.minScaleDownStabilizationSeconds} seconds.`));
    } else if (window < cfg.minScaleDownStabilizationSeconds) {
        reportViolation(fix(`${who} scales down after ${window} s of stabilization, below the environment's ${cfg.minScaleDownStabilizationSeconds} s; replicas would flap with every dip in load.`, `set spec.behavior.scaleDown.stabilizationWindowSeconds to at least ${cfg.minScaleDownStabilizationSeconds}.`));
    }
    for (const m of spec.metrics ?? []) {
        // A CPU target on the pod (Resource) or on one of its containers (ContainerResource).
        const source = m.type === "Resource" ? m.resource : m.type === "ContainerResource" ? m.containerResource : undefined;
        if (source?.name !== "cpu" || source?.target?.type !== "Utilization") continue;
        const target = source.target.averageUtilization;
        if (typeof target !== "number" || target < cfg.cpuUtilizationMin || target > cfg.cpuUtilizationMax) {
            reportViolation(fix(`${who} targets ${target ?? "no"} % CPU utilisation, outside the ${cfg.cpuUtilizationMin}–${cfg.cpuUtilizationMax} % band.`, `set the CPU metric's target.averageUtilization between ${cfg.cpuUtilizationMin} and ${cfg.cpuUtilizationMax}.`));
        }
    }
}
