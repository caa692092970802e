import type { ResourceValidationPolicy } from "@pulumi/policy";
import { SCALED_OBJECT, describe } from "../lib/kubernetes";
import { fix, integer } from "../lib/policy";

export interface ScaledObjectBoundsConfig {
    minReplicas: number;
    maxReplicas: number;
}

/** KEDA ScaledObjects stay within the same replica range as HPAs (KEDA's own defaults are 0 and 100). */
export const kedaScaledObjectBounds: ResourceValidationPolicy = {
    name: "keda-scaledobject-bounds",
    description: "KEDA ScaledObjects keep minReplicaCount (and any idleReplicaCount) ≥ the environment's minimum, maxReplicaCount ≤ its cap, min ≤ max, and have at least one trigger.",
    severity: "high",
    remediationSteps: "Set spec.minReplicaCount and spec.maxReplicaCount explicitly inside the environment's range (KEDA defaults to 0 and 100).",
    configSchema: {
        properties: {
            minReplicas: integer("Lowest minReplicaCount a ScaledObject may declare.", 3, 0),
            maxReplicas: integer("Highest maxReplicaCount a ScaledObject may declare.", 50, 1),
        },
    },
    validateResource: (args, reportViolation) => {
        if (args.type !== SCALED_OBJECT) args.notApplicable(`applies to ${SCALED_OBJECT}, not ${args.type}`);
        const cfg = args.getConfig<ScaledObjectBoundsConfig>();
        const spec = args.props.spec ?? {};
        const who = describe("ScaledObject", args.props, args.name);
        const min: number = spec.minReplicaCount ?? 0;
        const max: number = spec.maxReplicaCount ?? 100;
        const unset = (v: unknown) => (v === undefined ? " (unset, KEDA default)" : "");
        if (min < cfg.minReplicas) reportViolation(fix(`${who} has minReplicaCount ${min}${unset(spec.minReplicaCount)}, below the environment's minimum of ${cfg.minReplicas}.`, `set spec.minReplicaCount to at least ${cfg.minReplicas}.`));
        if (max > cfg.maxReplicas) reportViolation(fix(`${who} has maxReplicaCount ${max}${unset(spec.maxReplicaCount)}, above the environment's cap of ${cfg.maxReplicas}.`, `set spec.maxReplicaCount to at most ${cfg.maxReplicas}.`));
        if (min > max) reportViolation(fix(`${who} has minReplicaCount ${min} above maxReplicaCount ${max}.`, "make minReplicaCount ≤ maxReplicaCount."));
        // With no trigger active KEDA scales the target to idleReplicaCount, which KEDA requires below minReplicaCount.
        const idle = spec.idleReplicaCount;
        if (idle !== undefined && idle !== null) {
            if (idle < cfg.minReplicas) {
                reportViolation(fix(`${who} has idleReplicaCount ${idle}: with no trigger active KEDA scales it to ${idle}, below the environment's minimum of ${cfg.minReplicas}.`, `remove spec.idleReplicaCount, or keep it between ${cfg.minReplicas} and minReplicaCount − 1.`));
            }
            if (idle >= min) {
                reportViolation(fix(`${who} has idleReplicaCount ${idle}, not below minReplicaCount ${min}; KEDA refuses the object.`, "remove spec.idleReplicaCount, or set it below minReplicaCount."));
            }
        }
        if (!Array.isArray(spec.triggers) || spec.triggers.length === 0) reportViolation(fix(`${who} has no triggers, so KEDA never scales it.`, "add a trigger (e.g. rabbitmq queueLength)."));
    },
};
