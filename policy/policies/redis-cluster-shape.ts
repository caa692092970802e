import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { declaredObjects } from "../lib/kubernetes";
import { fix, integer } from "../lib/policy";
import { INSTANCE_LABEL, REDIS_BOOTSTRAP, REDIS_NODE, hasRole } from "../lib/stores";

export interface RedisShapeConfig {
    minMasters: number;
    minReplicasPerMaster: number;
}

const STATEFUL_SET = "kubernetes:apps/v1:StatefulSet";
const JOB = "kubernetes:batch/v1:Job";

/** `--cluster-replicas N` from the bootstrap Job's command line (how `redis-cli --cluster create` splits masters from replicas). */
function clusterReplicasOf(job: PolicyResource): number | undefined {
    const containers = job.props.spec?.template?.spec?.containers ?? [];
    const text = containers.flatMap((c: any) => [...(c.command ?? []), ...(c.args ?? [])]).join(" ");
    const m = /--cluster-replicas\s+(\d+)/.exec(text);
    return m ? Number(m[1]) : undefined;
}

/**
 * A Redis Cluster needs at least 3 masters to hold a majority for failover,
 * and (where required) a replica per master so losing a node loses no hash
 * slots. The node StatefulSet gives the pod count; its bootstrap Job's
 * `--cluster-replicas` says how many of those pods are replicas.
 */
export const redisClusterShape: StackValidationPolicy = {
    name: "redis-cluster-shape",
    description: "A Redis Cluster has at least the minimum number of masters everywhere and at least the required replicas per master, read from its node StatefulSet and its bootstrap Job's --cluster-replicas.",
    severity: "high",
    remediationSteps: "Run masters × (1 + replicasPerMaster) Redis pods with at least 3 masters, and create the cluster with --cluster-replicas ≥ the required replicas per master.",
    configSchema: {
        properties: {
            minMasters: integer("Fewest masters (hash-slot owners); 3 is Redis Cluster's minimum for failover.", 3, 3),
            minReplicasPerMaster: integer("Fewest replicas per master.", 1, 0),
        },
    },
    validateStack: (args, reportViolation) => {
        // What the program declared, not the live objects (lib/kubernetes.ts).
        const resources = declaredObjects(args.resources);
        const cfg = args.getConfig<RedisShapeConfig>();
        const jobs = resources.filter((r) => r.type === JOB && hasRole(r.props.spec?.template?.metadata?.labels, REDIS_BOOTSTRAP));
        for (const sts of resources.filter((r) => r.type === STATEFUL_SET && hasRole(r.props.spec?.template?.metadata?.labels, REDIS_NODE))) {
            const ns = sts.props.metadata?.namespace ?? "default";
            const who = `Redis Cluster StatefulSet ${ns}/${sts.props.metadata?.name ?? sts.name}`;
            const instance = sts.props.spec.template.metadata.labels[INSTANCE_LABEL];
            const pods: number = sts.props.spec?.replicas ?? 1;
            const bootstrap = jobs.find((j) => (j.props.metadata?.namespace ?? "default") === ns && j.props.spec.template.metadata.labels[INSTANCE_LABEL] === instance);
            const perMaster = bootstrap ? clusterReplicasOf(bootstrap) : undefined;
            if (perMaster === undefined) {
                reportViolation(fix(`${who} has ${bootstrap ? "a bootstrap Job without --cluster-replicas" : "no bootstrap Job"}, so its masters and replicas cannot be told apart.`, "create the cluster with a Job (labels app.kubernetes.io/name=redis, component=bootstrap, the same instance) running redis-cli --cluster create … --cluster-replicas N."), sts.urn);
                continue;
            }
            if (pods % (1 + perMaster) !== 0) {
                reportViolation(fix(`${who} runs ${pods} pods, which do not split into masters with ${perMaster} replica(s) each.`, `run masters × ${1 + perMaster} pods.`), sts.urn);
                continue;
            }
            const masters = pods / (1 + perMaster);
            if (masters < cfg.minMasters) {
                reportViolation(fix(`${who} forms ${masters} master(s) (${pods} pods, --cluster-replicas ${perMaster}), below the minimum of ${cfg.minMasters}; a cluster without a majority of masters cannot fail over.`, `run at least ${cfg.minMasters} masters (${cfg.minMasters * (1 + perMaster)} pods).`), sts.urn);
            }
            if (perMaster < cfg.minReplicasPerMaster) {
                reportViolation(fix(`${who} has ${perMaster} replica(s) per master, below the environment's ${cfg.minReplicasPerMaster}; losing one node loses its hash slots.`, `create the cluster with --cluster-replicas ${cfg.minReplicasPerMaster} and ${masters * (1 + cfg.minReplicasPerMaster)} pods.`), sts.urn);
            }
        }
    },
};
