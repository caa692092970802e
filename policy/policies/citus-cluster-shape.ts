import * as k8s from "@pulumi/kubernetes";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { describe } from "../lib/kubernetes";
import { fix, integer } from "../lib/policy";
import { CITUS_WORKER, hasRole } from "../lib/stores";

export interface CitusShapeConfig {
    minWorkers: number;
}

/** Shards spread over at least N Citus workers, so one worker's loss leaves most of the data reachable and the rebalancer room to move. */
export const citusClusterShape: ResourceValidationPolicy = {
    name: "citus-cluster-shape",
    description: "A Citus cluster runs at least the environment's minimum number of workers.",
    severity: "high",
    remediationSteps: "Raise the Citus worker StatefulSet's replicas to at least the minimum and rebalance shards.",
    configSchema: {
        properties: {
            minWorkers: integer("Fewest Citus workers.", 2, 1),
        },
    },
    validateResource: validateResourceOfType(k8s.apps.v1.StatefulSet, (sts, args, reportViolation) => {
        if (!hasRole(sts.spec?.template?.metadata?.labels as Record<string, string> | undefined, CITUS_WORKER)) return args.notApplicable("not a Citus worker StatefulSet");
        const cfg = args.getConfig<CitusShapeConfig>();
        const workers = sts.spec?.replicas ?? 1;
        if (workers < cfg.minWorkers) {
            reportViolation(fix(`Citus worker ${describe("StatefulSet", sts, args.name)} runs ${workers} worker(s), below the environment's minimum of ${cfg.minWorkers}.`, `set the worker count to at least ${cfg.minWorkers} and run citus_rebalance_start().`));
        }
    }),
};
