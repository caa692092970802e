/**
 * The foundation (wiring step 1): the VPC and the EKS cluster on it. Every
 * later step builds on what this returns — the Kubernetes provider, the OIDC
 * provider for IRSA, the VPC and its subnets. Composition only: the components
 * own every resource decision; this maps stack config onto their args.
 */
import { EksCluster } from "@noa/components/cluster";
import { Vpc } from "@noa/components/network";
import type { NoaConfig } from "./config";

export interface Foundation {
    readonly vpc: Vpc;
    readonly cluster: EksCluster;
}

/** The EKS cluster name of a stack (fixed, so subnet and autoscaler tags can name it before it exists). */
export function clusterNameOf(stack: string): string {
    return `noa-${stack}`;
}

export function deployFoundation(config: NoaConfig, ctx: { stack: string }): Foundation {
    const clusterName = clusterNameOf(ctx.stack);
    const n = config.network;
    const vpc = new Vpc(`noa-${ctx.stack}-net`, {
        cidr: n.cidr,
        azCount: n.azCount,
        natGateways: n.natGateways,
        publicSubnetPrefixLength: n.publicSubnetPrefixLength,
        privateSubnetPrefixLength: n.privateSubnetPrefixLength,
        clusterName,
        s3GatewayEndpoint: true,
        flowLogs: { enabled: n.flowLogs.enabled, retentionDays: n.flowLogs.retentionDays },
        tags: { "noa:stack": ctx.stack, "noa:component": "network" },
    });

    const c = config.cluster;
    const cluster = new EksCluster(clusterName, {
        clusterName,
        kubernetesVersion: c.kubernetesVersion,
        subnetIds: vpc.privateSubnetIds,
        // One per AZ, in order: zonal node groups get one managed group each.
        zoneSubnetIds: Array.from({ length: n.azCount }, (_, i) => vpc.privateSubnetIds.apply((ids) => ids[i]!)),
        publicAccessCidrs: c.publicAccessCidrs,
        adminPrincipalArns: c.adminPrincipalArns,
        logTypes: c.logTypes,
        logRetentionDays: c.logRetentionDays,
        nodeGroups: {
            base: { ...c.nodeGroups.base },
            burst: { ...c.nodeGroups.burst },
        },
        protect: config.protectStateful,
        tags: { "noa:stack": ctx.stack, "noa:component": "cluster" },
    });
    return { vpc, cluster };
}
