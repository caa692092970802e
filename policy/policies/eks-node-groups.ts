import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { boolean, fix, integer, known } from "../lib/policy";

export interface NodeGroupsConfig {
    maxNodesPerGroup: number;
    minOnDemandNodes: number;
    requireImdsV2: boolean;
}

const NODE_GROUP = "aws:eks/nodeGroup:NodeGroup";
const LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate";

/** The launch template a node group uses: matched by name, else by the dependency the engine recorded. */
function launchTemplateOf(ng: PolicyResource, templates: PolicyResource[]): PolicyResource | undefined {
    const ref = ng.props.launchTemplate;
    const name = known(() => ref?.name);
    return templates.find((t) => name !== undefined && known(() => t.props.name) === name)
        ?? templates.find((t) => ng.dependencies.includes(t) || (ng.propertyDependencies.launchTemplate ?? []).includes(t));
}

/**
 * Managed node groups keep min ≤ desired ≤ max within the environment's
 * bounds, keep enough on-demand capacity for the replica minimums to spread,
 * and require IMDSv2 (a pod must not read the node role's credentials via
 * IMDSv1). A stack policy: IMDS lives on the launch template, a separate
 * resource.
 */
export const eksNodeGroups: StackValidationPolicy = {
    name: "eks-node-groups",
    description: "EKS node groups keep min ≤ desired ≤ max, stay within the environment's size bounds with enough on-demand nodes, and require IMDSv2 through their launch template.",
    severity: "high",
    remediationSteps: "Fix scalingConfig; give each node group a launch template with metadataOptions { httpTokens: \"required\", httpPutResponseHopLimit: 2 }.",
    configSchema: {
        properties: {
            maxNodesPerGroup: integer("Largest maxSize a node group may declare.", 50, 1),
            minOnDemandNodes: integer("Fewest on-demand nodes (sum of minSize over ON_DEMAND groups).", 3, 0),
            requireImdsV2: boolean("Whether node groups must require IMDSv2 via their launch template.", true),
        },
    },
    validateStack: (args, reportViolation) => {
        const cfg = args.getConfig<NodeGroupsConfig>();
        const groups = args.resources.filter((r) => r.type === NODE_GROUP);
        if (groups.length === 0) return;
        const templates = args.resources.filter((r) => r.type === LAUNCH_TEMPLATE);
        let onDemandMin = 0;
        for (const ng of groups) {
            const who = `EKS node group ${known(() => ng.props.nodeGroupName) ?? ng.name}`;
            const { minSize, desiredSize, maxSize } = ng.props.scalingConfig ?? {};
            if (!(minSize <= desiredSize && desiredSize <= maxSize)) {
                reportViolation(fix(`${who} has scalingConfig min ${minSize}, desired ${desiredSize}, max ${maxSize}; it must satisfy min ≤ desired ≤ max.`, "correct scalingConfig."), ng.urn);
            }
            if (maxSize > cfg.maxNodesPerGroup) {
                reportViolation(fix(`${who} may grow to ${maxSize} nodes, above the environment's ${cfg.maxNodesPerGroup} per group.`, `lower scalingConfig.maxSize to at most ${cfg.maxNodesPerGroup}.`), ng.urn);
            }
            if ((ng.props.capacityType ?? "ON_DEMAND") === "ON_DEMAND") onDemandMin += Number(minSize ?? 0);
            if (!cfg.requireImdsV2) continue;
            const lt = launchTemplateOf(ng, templates);
            if (!lt) {
                reportViolation(fix(`${who} has no launch template in this stack, so IMDSv2 cannot be required.`, "create an aws.ec2.LaunchTemplate with metadataOptions.httpTokens \"required\" and pass it as launchTemplate { id, version }."), ng.urn);
            } else if (lt.props.metadataOptions?.httpTokens !== "required") {
                reportViolation(fix(`${who} uses launch template ${known(() => lt.props.name) ?? lt.name}, which does not require IMDSv2 (httpTokens ${JSON.stringify(lt.props.metadataOptions?.httpTokens ?? "unset")}); pods could read the node role's credentials.`, "set metadataOptions { httpTokens: \"required\", httpPutResponseHopLimit: 2 } on the launch template."), lt.urn);
            }
        }
        if (onDemandMin < cfg.minOnDemandNodes) {
            reportViolation(fix(`The stack's on-demand node groups guarantee ${onDemandMin} node(s), below the environment's ${cfg.minOnDemandNodes}; replicated workloads cannot spread across zones.`, `raise the on-demand groups' minSize to a total of at least ${cfg.minOnDemandNodes}.`));
        }
    },
};
