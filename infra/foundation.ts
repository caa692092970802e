/**
 * The foundation (wiring step 1): the VPC and the EKS cluster on it. Every
 * later step builds on what this returns — the Kubernetes provider, the OIDC
 * provider for IRSA, the VPC and its subnets. Composition only: the components
 * own every resource decision; this maps stack config onto their args.
 */
import { EksCluster, type EksClusterArgs } from "@noa/components/cluster";
import { Vpc, type VpcArgs } from "@noa/components/network";
import type * as pulumi from "@pulumi/pulumi";
import type { NoaConfig } from "./config";

export interface Foundation {
    readonly vpc: Vpc;
    readonly cluster: EksCluster;
}

/** The EKS cluster name of a stack (fixed, so subnet and autoscaler tags can name it before it exists). */
export function clusterNameOf(stack: string): string {
    return `noa-${stack}`;
}

/** The Vpc component's args for a stack (also checked by the preflight, before any resource). */
export function vpcArgs(config: NoaConfig, ctx: { stack: string }): VpcArgs {
    const n = config.network;
    return {
        cidr: n.cidr,
        azCount: n.azCount,
        natGateways: n.natGateways,
        publicSubnetPrefixLength: n.publicSubnetPrefixLength,
        privateSubnetPrefixLength: n.privateSubnetPrefixLength,
        clusterName: clusterNameOf(ctx.stack),
        s3GatewayEndpoint: true,
        flowLogs: { enabled: n.flowLogs.enabled, retentionDays: n.flowLogs.retentionDays },
        tags: { "noa:stack": ctx.stack, "noa:component": "network" },
    };
}

/** The EksCluster component's args, on the VPC's private subnets (one per AZ, in order). */
export function eksClusterArgs(config: NoaConfig, ctx: { stack: string }, subnets: { subnetIds: pulumi.Input<string[]>; zoneSubnetIds: pulumi.Input<string>[] }): EksClusterArgs {
    const c = config.cluster;
    return {
        clusterName: clusterNameOf(ctx.stack),
        kubernetesVersion: c.kubernetesVersion,
        subnetIds: subnets.subnetIds,
        // One per AZ, in order: zonal node groups get one managed group each.
        zoneSubnetIds: subnets.zoneSubnetIds,
        publicAccessCidrs: c.publicAccessCidrs,
        adminPrincipalArns: c.adminPrincipalArns,
        logTypes: c.logTypes,
        logRetentionDays: c.logRetentionDays,
        nodeGroups: {
            base: { ...c.nodeGroups.base },
            burst: { ...c.nodeGroups.burst },
        },
        volumeSnapshots: c.volumeSnapshots,
        protect: config.protectStateful,
        tags: { "noa:stack": ctx.stack, "noa:component": "cluster" },
    };
}

export function deployFoundation(config: NoaConfig, ctx: { stack: string }): Foundation {
    const vpc = new Vpc(`noa-${ctx.stack}-net`, vpcArgs(config, ctx));
    const cluster = new EksCluster(clusterNameOf(ctx.stack), eksClusterArgs(config, ctx, {
        subnetIds: vpc.privateSubnetIds,
        zoneSubnetIds: Array.from({ length: config.network.azCount }, (_, i) => vpc.privateSubnetIds.apply((ids) => ids[i]!)),
    }));
    return { vpc, cluster };
}
