import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { declaredObjects } from "../lib/kubernetes";
import { fix, integer } from "../lib/policy";
import { RABBITMQ_NODE, hasRole } from "../lib/stores";

export interface RabbitShapeConfig {
    minNodes: number;
}

const STATEFUL_SET = "kubernetes:apps/v1:StatefulSet";
const CONFIG_MAP = "kubernetes:core/v1:ConfigMap";

/** ConfigMaps a pod spec mounts, directly or through a projected volume. */
function mountedConfigMaps(sts: PolicyResource, configMaps: PolicyResource[]): PolicyResource[] {
    const ns = sts.props.metadata?.namespace ?? "default";
    const names = new Set<string>();
    for (const v of sts.props.spec?.template?.spec?.volumes ?? []) {
        if (v.configMap?.name) names.add(v.configMap.name);
        for (const s of v.projected?.sources ?? []) if (s.configMap?.name) names.add(s.configMap.name);
    }
    return configMaps.filter((c) => (c.props.metadata?.namespace ?? "default") === ns && names.has(c.props.metadata?.name));
}

/** The `cluster_partition_handling` value in any mounted rabbitmq.conf. */
function partitionHandling(configMaps: PolicyResource[]): string | undefined {
    for (const c of configMaps) {
        const conf = c.props.data?.["rabbitmq.conf"];
        const m = typeof conf === "string" ? /^\s*cluster_partition_handling\s*=\s*(\S+)\s*$/m.exec(conf) : null;
        if (m) return m[1];
    }
    return undefined;
}

/**
 * Quorum queues need a majority: an odd node count (an even one tolerates no
 * more failures than the odd one below it and can split in half), at least 3
 * where required, and `pause_minority` so a partitioned minority stops
 * instead of diverging.
 */
export const rabbitmqClusterShape: StackValidationPolicy = {
    name: "rabbitmq-cluster-shape",
    description: "A RabbitMQ cluster has an odd number of nodes, at least the environment's minimum, and cluster_partition_handling = pause_minority in its mounted rabbitmq.conf.",
    severity: "high",
    remediationSteps: "Run an odd number of RabbitMQ nodes (≥ 3 in prod) and set cluster_partition_handling = pause_minority in rabbitmq.conf.",
    configSchema: {
        properties: {
            minNodes: integer("Fewest RabbitMQ nodes.", 3, 1),
        },
    },
    validateStack: (args, reportViolation) => {
        // What the program declared, not the live objects (lib/kubernetes.ts).
        const resources = declaredObjects(args.resources);
        const cfg = args.getConfig<RabbitShapeConfig>();
        const configMaps = resources.filter((r) => r.type === CONFIG_MAP);
        for (const sts of resources.filter((r) => r.type === STATEFUL_SET && hasRole(r.props.spec?.template?.metadata?.labels, RABBITMQ_NODE))) {
            const who = `RabbitMQ StatefulSet ${sts.props.metadata?.namespace ?? "default"}/${sts.props.metadata?.name ?? sts.name}`;
            const nodes: number = sts.props.spec?.replicas ?? 1;
            if (nodes % 2 === 0) reportViolation(fix(`${who} runs ${nodes} nodes; an even count cannot keep a quorum when split in half.`, `run ${nodes + 1} (or ${Math.max(1, nodes - 1)}) nodes.`), sts.urn);
            if (nodes < cfg.minNodes) reportViolation(fix(`${who} runs ${nodes} node(s), below the environment's minimum of ${cfg.minNodes}; quorum queues would lose availability with one node.`, `run at least ${cfg.minNodes} nodes.`), sts.urn);
            const handling = partitionHandling(mountedConfigMaps(sts, configMaps));
            if (handling !== "pause_minority") {
                reportViolation(fix(`${who} ${handling ? `uses cluster_partition_handling = ${handling}` : "mounts no rabbitmq.conf setting cluster_partition_handling"}; after a network partition both sides would keep accepting writes.`, "set cluster_partition_handling = pause_minority in the rabbitmq.conf the StatefulSet mounts."), sts.urn);
            }
        }
    },
};
