import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
    autoscalerDiscoveryTags, CHARTS, clusterAutoscalerPolicy, clusterAutoscalerValues, expanderPriorities, kubeconfig,
    launchTemplateMetadataOptions, metricsServerValues, nodeTemplateTags, TaintEffect,
} from "./builders";
import { IrsaRole } from "./irsa";
import { LOG_RETENTION_DAYS } from "../network/vpc";
import { AWS_REGION_PATTERN, UTC_TIME_PATTERN } from "../shared/index.js";

export const CONTROL_PLANE_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"] as const;
export type ControlPlaneLogType = (typeof CONTROL_PLANE_LOG_TYPES)[number];
export const MANAGED_ADDONS = ["vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"] as const;

/** vpc-cni add-on configuration: turn on NetworkPolicy enforcement (the add-on's network policy agent). */
export const VPC_CNI_CONFIGURATION = JSON.stringify({ enableNetworkPolicy: "true" });
export type ManagedAddon = (typeof MANAGED_ADDONS)[number];

/** A Kubernetes taint on every node of a group. */
export interface NodeTaint {
    /** Taint key, e.g. "noa.io/spot". Required. */
    readonly key: string;
    /** Taint value. Default: "" (a key-only taint). */
    readonly value?: string;
    /** NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE (EKS spelling). Required. */
    readonly effect: TaintEffect;
}

/** One EKS managed node group. */
export interface NodeGroupArgs {
    /** EC2 instance types; list several for a spot group so one pool's shortage does not stall it. Required. */
    readonly instanceTypes: string[];
    /** "ON_DEMAND" or "SPOT". Default: "ON_DEMAND". */
    readonly capacityType?: "ON_DEMAND" | "SPOT";
    /** Fewest nodes. Required. */
    readonly minSize: number;
    /** Size at creation only: afterwards the cluster autoscaler owns it (ignored on update). Default: minSize. */
    readonly desiredSize?: number;
    /** Most nodes. Required. */
    readonly maxSize: number;
    /** Encrypted gp3 root volume size in GiB. Default: 50. */
    readonly diskSizeGiB?: number;
    /** Kubernetes labels on the nodes. Default: none. */
    readonly labels?: Record<string, string>;
    /** Kubernetes taints on the nodes. Default: none. */
    readonly taints?: NodeTaint[];
    /** EKS AMI type. Default: "AL2023_x86_64_STANDARD". */
    readonly amiType?: string;
    /** Share of nodes replaced at once during a rolling update (1–100). Default: 33. */
    readonly maxUnavailablePercentage?: number;
    /** Cluster autoscaler priority-expander rank; higher is tried first. Default: 50 for SPOT, 10 for ON_DEMAND. */
    readonly autoscalerPriority?: number;
    /**
     * One managed node group per availability zone (`zoneSubnetIds`) instead of
     * one spanning them all; min/desired/max are totals, split evenly. A group
     * spanning zones lets the autoscaler add a node in any zone, so a pod whose
     * EBS volume lives in one zone may wait; per-zone groups let it add the
     * node where the volume is. Use it for groups that run stateful pods.
     * Default: false.
     */
    readonly zonal?: boolean;
}

export interface VolumeSnapshotArgs {
    readonly enabled?: boolean;
    /** UTC start time, "HH:MM". Default "03:00". */
    readonly time?: string;
    /** Days each snapshot is kept (1–1000). Default 7. */
    readonly retainDays?: number;
    /** A second region the snapshots are copied to (encrypted with that region's default EBS key). Default none. */
    readonly copyToRegion?: string;
}

/** The tag the StorageClass puts on its volumes, and that the snapshot policy selects. */
export const SNAPSHOT_TAG = "noa.io/snapshots";

export interface EksClusterArgs {
    /** The EKS cluster name (fixed, so subnet and autoscaler tags can name it). Default: the component name. */
    readonly clusterName?: string;
    /** Kubernetes minor version, e.g. "1.33". Required. */
    readonly kubernetesVersion: string;
    /** Private subnets for the control plane's network interfaces and every node group. Required. */
    readonly subnetIds: pulumi.Input<pulumi.Input<string>[]>;
    /** One private subnet per availability zone, for `zonal` node groups (the count must be known). Required when a group is zonal. */
    readonly zoneSubnetIds?: pulumi.Input<string>[];
    /** CIDRs allowed to the public API endpoint; an empty list turns the public endpoint off. Required. */
    readonly publicAccessCidrs: string[];
    /** IAM role/user ARNs given cluster-admin through access entries. Default: none. */
    readonly adminPrincipalArns?: string[];
    /** Control-plane log types sent to CloudWatch. Default: all five. */
    readonly logTypes?: ControlPlaneLogType[];
    /** Retention of `/aws/eks/<clusterName>/cluster` in days. Default: 90. */
    readonly logRetentionDays?: number;
    /** Managed node groups by name (e.g. `base`, `burst`). Required, at least one. */
    readonly nodeGroups: Record<string, NodeGroupArgs>;
    /** IMDSv2 hop limit on every node (1 keeps pods off the node role). Default: 1. */
    readonly imdsHopLimit?: 1 | 2;
    /** Pinned add-on versions; an add-on left out gets EKS's default version for `kubernetesVersion`. Default: none pinned. */
    readonly addonVersions?: Partial<Record<ManagedAddon, string>>;
    /** metrics-server (resource metrics for every HPA). Default: enabled. */
    readonly metricsServer?: { readonly enabled?: boolean };
    /** Cluster autoscaler. Default: enabled with image `v<kubernetesVersion>.0`. */
    readonly clusterAutoscaler?: { readonly enabled?: boolean; readonly imageTag?: string };
    /** The default `gp3-encrypted` StorageClass. Default: enabled. */
    readonly storageClass?: { readonly enabled?: boolean };
    /**
     * Daily EBS snapshots of every volume the StorageClass provisions (the
     * stores' data; the class tags its volumes `noa.io/snapshots: <clusterName>`),
     * taken by an Amazon Data Lifecycle Manager policy at `time` (UTC, "HH:MM"),
     * kept `retainDays` (one per day), and copied to `copyToRegion` (kept as
     * long) when set. Crash-consistent, per volume. Default: off.
     */
    readonly volumeSnapshots?: VolumeSnapshotArgs;
    /**
     * Production safety: `protect` and `retainOnDelete` on the secrets KMS key,
     * EKS deletion protection, and `Retain` as the StorageClass reclaim policy. Default: false.
     */
    readonly protect?: boolean;
    /** Tags on every AWS child that takes tags. Default: none. */
    readonly tags?: Record<string, string>;
}

export interface NormalizedNodeGroup {
    readonly instanceTypes: string[];
    readonly capacityType: "ON_DEMAND" | "SPOT";
    readonly minSize: number;
    readonly desiredSize: number;
    readonly maxSize: number;
    readonly diskSizeGiB: number;
    readonly labels: Record<string, string>;
    readonly taints: NodeTaint[];
    readonly amiType: string;
    readonly maxUnavailablePercentage: number;
    readonly autoscalerPriority: number;
    readonly zonal: boolean;
}

export interface NormalizedEksClusterArgs {
    readonly clusterName: string;
    readonly kubernetesVersion: string;
    readonly subnetIds: pulumi.Input<pulumi.Input<string>[]>;
    readonly zoneSubnetIds: pulumi.Input<string>[];
    readonly publicAccessCidrs: string[];
    readonly adminPrincipalArns: string[];
    readonly logTypes: ControlPlaneLogType[];
    readonly logRetentionDays: number;
    readonly nodeGroups: Record<string, NormalizedNodeGroup>;
    readonly imdsHopLimit: number;
    readonly addonVersions: Partial<Record<ManagedAddon, string>>;
    readonly metricsServer: boolean;
    readonly clusterAutoscaler: { enabled: boolean; imageTag: string };
    readonly storageClass: boolean;
    readonly volumeSnapshots: { time: string; retainDays: number; copyToRegion: string | undefined } | undefined;
    readonly protect: boolean;
    readonly tags: Record<string, string>;
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d|[12]\d|3[0-2])$/;
const TAINT_EFFECTS: readonly string[] = ["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"];
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Applies defaults and validates every field; throws one error listing each problem with its key and value. */
export function normalizeEksClusterArgs(name: string, args: EksClusterArgs): NormalizedEksClusterArgs {
    const problems: string[] = [];
    const at = (key: string, value: unknown, message: string) => problems.push(`${key} (${JSON.stringify(value)}) ${message}`);
    const clusterName = args.clusterName ?? name;
    if (!/^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/.test(clusterName)) at("clusterName", clusterName, "is not an EKS cluster name (letters, digits, - and _, up to 100)");
    if (typeof args.kubernetesVersion !== "string" || !/^1\.\d{2}$/.test(args.kubernetesVersion)) at("kubernetesVersion", args.kubernetesVersion, "is not a Kubernetes minor version like \"1.33\"");
    (args.publicAccessCidrs ?? []).forEach((c, i) => {
        const m = CIDR.exec(c);
        if (!m || m.slice(1, 5).some((o) => Number(o) > 255)) at(`publicAccessCidrs[${i}]`, c, "is not an IPv4 CIDR");
    });
    if (!Array.isArray(args.publicAccessCidrs)) at("publicAccessCidrs", args.publicAccessCidrs, "must be a list of CIDRs (empty turns the public endpoint off)");
    const adminPrincipalArns = args.adminPrincipalArns ?? [];
    adminPrincipalArns.forEach((arn, i) => {
        if (!/^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/[\w+=,.@/-]+$/.test(arn)) at(`adminPrincipalArns[${i}]`, arn, "is not an IAM role or user ARN");
        if (adminPrincipalArns.indexOf(arn) !== i) at(`adminPrincipalArns[${i}]`, arn, "is listed twice");
    });
    const logTypes = args.logTypes ?? [...CONTROL_PLANE_LOG_TYPES];
    logTypes.forEach((t, i) => {
        if (!(CONTROL_PLANE_LOG_TYPES as readonly string[]).includes(t)) at(`logTypes[${i}]`, t, `must be one of ${CONTROL_PLANE_LOG_TYPES.join(", ")}`);
    });
    const logRetentionDays = args.logRetentionDays ?? 90;
    if (!(LOG_RETENTION_DAYS as readonly number[]).includes(logRetentionDays)) at("logRetentionDays", logRetentionDays, `is not a CloudWatch Logs retention (${LOG_RETENTION_DAYS.join(", ")})`);
    const imdsHopLimit = args.imdsHopLimit ?? 1;
    if (imdsHopLimit !== 1 && imdsHopLimit !== 2) at("imdsHopLimit", imdsHopLimit, "must be 1 or 2");
    const addonVersions = args.addonVersions ?? {};
    for (const [addon, version] of Object.entries(addonVersions)) {
        if (!(MANAGED_ADDONS as readonly string[]).includes(addon)) at(`addonVersions.${addon}`, version, `is not a managed add-on (${MANAGED_ADDONS.join(", ")})`);
        else if (typeof version !== "string" || !/^v\d+\.\d+\.\d+-eksbuild\.\d+$/.test(version)) at(`addonVersions.${addon}`, version, "is not an EKS add-on version like \"v1.19.2-eksbuild.1\"");
    }
    const imageTag = args.clusterAutoscaler?.imageTag ?? `v${args.kubernetesVersion}.0`;
    if (!/^v\d+\.\d+\.\d+$/.test(imageTag)) at("clusterAutoscaler.imageTag", imageTag, "is not a cluster-autoscaler release tag like \"v1.33.0\"");

    const nodeGroups: Record<string, NormalizedNodeGroup> = {};
    const groupEntries = Object.entries(args.nodeGroups ?? {});
    if (groupEntries.length === 0) at("nodeGroups", args.nodeGroups, "must define at least one node group");
    const zoneSubnetIds = args.zoneSubnetIds ?? [];
    for (const [group, g] of groupEntries) {
        const key = (k: string) => `nodeGroups.${group}.${k}`;
        const zonal = g.zonal ?? false;
        if (typeof zonal !== "boolean") at(key("zonal"), zonal, "must be true or false");
        if (!/^[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?$/.test(group)) at(`nodeGroups.${group}`, group, "is not a node group key (lowercase letters, digits and -, up to 20)");
        // EKS appends a 26-character suffix to the prefix; node group names stop at 63.
        const longest = zonal ? zoneGroupKey(group, Math.max(1, zoneSubnetIds.length) - 1) : group;
        if (nodeGroupNamePrefix(clusterName, longest).length > 37) {
            at(`nodeGroups.${group}`, group, `makes the node group name prefix "${nodeGroupNamePrefix(clusterName, longest)}" longer than 37 characters`);
        }
        if (zonal === true) {
            if (zoneSubnetIds.length === 0) at(key("zonal"), true, "needs zoneSubnetIds: one private subnet per availability zone");
            else {
                for (const k of ["minSize", "desiredSize", "maxSize"] as const) {
                    const v = k === "desiredSize" ? (g.desiredSize ?? g.minSize) : g[k];
                    if (Number.isInteger(v) && v % zoneSubnetIds.length !== 0) at(key(k), v, `must divide evenly over the ${zoneSubnetIds.length} zones of a zonal group`);
                }
            }
        }
        const capacityType = g.capacityType ?? "ON_DEMAND";
        if (capacityType !== "ON_DEMAND" && capacityType !== "SPOT") at(key("capacityType"), capacityType, "must be ON_DEMAND or SPOT");
        if (!Array.isArray(g.instanceTypes) || g.instanceTypes.length === 0) at(key("instanceTypes"), g.instanceTypes, "must list at least one instance type");
        else g.instanceTypes.forEach((t, i) => {
            if (!/^[a-z0-9-]+\.[a-z0-9]+$/.test(t)) at(`${key("instanceTypes")}[${i}]`, t, "is not an EC2 instance type (e.g. m6i.large)");
        });
        for (const [k, v, min] of [["minSize", g.minSize, 0], ["maxSize", g.maxSize, 1]] as const) {
            if (!Number.isInteger(v) || v < min) at(key(k), v, `must be a whole number of at least ${min}`);
        }
        const desiredSize = g.desiredSize ?? g.minSize;
        if (Number.isInteger(g.minSize) && Number.isInteger(g.maxSize)) {
            if (g.minSize > g.maxSize) at(key("minSize"), g.minSize, `exceeds maxSize (${g.maxSize})`);
            else if (!Number.isInteger(desiredSize) || desiredSize < g.minSize || desiredSize > g.maxSize) {
                at(key("desiredSize"), desiredSize, `must be between minSize (${g.minSize}) and maxSize (${g.maxSize})`);
            }
        }
        const diskSizeGiB = g.diskSizeGiB ?? 50;
        if (!Number.isInteger(diskSizeGiB) || diskSizeGiB < 20 || diskSizeGiB > 16384) at(key("diskSizeGiB"), diskSizeGiB, "must be a whole number of GiB from 20 to 16384");
        const labels = g.labels ?? {};
        for (const [k, v] of Object.entries(labels)) {
            if (!LABEL_KEY.test(k) || !LABEL_VALUE.test(v) || v.length > 63) at(`${key("labels")}.${k}`, v, "is not a valid Kubernetes label");
        }
        const taints = g.taints ?? [];
        taints.forEach((t, i) => {
            if (!LABEL_KEY.test(t.key)) at(`${key("taints")}[${i}].key`, t.key, "is not a valid taint key");
            if (!TAINT_EFFECTS.includes(t.effect)) at(`${key("taints")}[${i}].effect`, t.effect, `must be one of ${TAINT_EFFECTS.join(", ")}`);
        });
        const maxUnavailablePercentage = g.maxUnavailablePercentage ?? 33;
        if (!Number.isInteger(maxUnavailablePercentage) || maxUnavailablePercentage < 1 || maxUnavailablePercentage > 100) {
            at(key("maxUnavailablePercentage"), maxUnavailablePercentage, "must be a whole number from 1 to 100");
        }
        const autoscalerPriority = g.autoscalerPriority ?? (capacityType === "SPOT" ? 50 : 10);
        if (!Number.isInteger(autoscalerPriority) || autoscalerPriority < 0) at(key("autoscalerPriority"), autoscalerPriority, "must be a whole number of at least 0");
        nodeGroups[group] = {
            instanceTypes: g.instanceTypes,
            capacityType,
            minSize: g.minSize,
            desiredSize,
            maxSize: g.maxSize,
            diskSizeGiB,
            labels,
            taints: taints.map((t) => ({ key: t.key, value: t.value ?? "", effect: t.effect })),
            amiType: g.amiType ?? "AL2023_x86_64_STANDARD",
            maxUnavailablePercentage,
            autoscalerPriority,
            zonal: zonal === true,
        };
    }
    const snapshots = args.volumeSnapshots;
    const storageClass = args.storageClass?.enabled ?? true;
    let volumeSnapshots: NormalizedEksClusterArgs["volumeSnapshots"];
    if (snapshots?.enabled) {
        volumeSnapshots = { time: snapshots.time ?? "03:00", retainDays: snapshots.retainDays ?? 7, copyToRegion: snapshots.copyToRegion };
        if (!UTC_TIME_PATTERN.test(volumeSnapshots.time)) at("volumeSnapshots.time", volumeSnapshots.time, "is not a UTC time like \"03:00\"");
        if (!Number.isInteger(volumeSnapshots.retainDays) || volumeSnapshots.retainDays < 1 || volumeSnapshots.retainDays > 1000) {
            at("volumeSnapshots.retainDays", volumeSnapshots.retainDays, "must be a whole number of days from 1 to 1000");
        }
        if (volumeSnapshots.copyToRegion !== undefined && !AWS_REGION_PATTERN.test(volumeSnapshots.copyToRegion)) {
            at("volumeSnapshots.copyToRegion", volumeSnapshots.copyToRegion, "is not an AWS region name");
        }
        if (!storageClass) at("volumeSnapshots.enabled", true, "needs the StorageClass (storageClass.enabled), whose volumes it snapshots");
    }
    if (problems.length > 0) throw new Error(`EksCluster "${name}": ${problems.join("; ")}`);
    return {
        clusterName,
        kubernetesVersion: args.kubernetesVersion,
        subnetIds: args.subnetIds,
        zoneSubnetIds,
        publicAccessCidrs: args.publicAccessCidrs,
        adminPrincipalArns,
        logTypes,
        logRetentionDays,
        nodeGroups,
        imdsHopLimit,
        addonVersions,
        metricsServer: args.metricsServer?.enabled ?? true,
        clusterAutoscaler: { enabled: args.clusterAutoscaler?.enabled ?? true, imageTag },
        storageClass,
        volumeSnapshots,
        protect: args.protect ?? false,
        tags: args.tags ?? {},
    };
}

/** A stable, readable child-name fragment for an IAM principal ARN (`role-noa-platform-admins`). */
export function principalSlug(arn: string): string {
    const m = /:(role|user)\/(.+)$/.exec(arn);
    const raw = m ? `${m[1]}-${m[2]}` : arn;
    return raw.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "");
}

/** The name prefix of a node group; its ASG is `eks-<prefix><suffix>-<id>`. */
export function nodeGroupNamePrefix(clusterName: string, group: string): string {
    return `${clusterName}-${group}-`;
}

/** The key (and name part) of zone `index` of a zonal group: `base-z1`, `base-z2`, … */
export function zoneGroupKey(group: string, index: number): string {
    return `${group}-z${index + 1}`;
}

function assumeRoleBy(service: string): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { Service: service }, Action: service === "eks.amazonaws.com" ? ["sts:AssumeRole", "sts:TagSession"] : "sts:AssumeRole" }],
    });
}

/**
 * An EKS cluster ready for workloads: KMS envelope encryption of secrets,
 * control-plane logs with retention, a private endpoint (public one limited to
 * given CIDRs), API-mode access entries, an OIDC provider for IRSA, managed
 * node groups (IMDSv2-only launch templates, desired size owned by the
 * autoscaler), the managed add-ons, a default encrypted gp3 StorageClass,
 * metrics-server and the cluster autoscaler — and the Kubernetes provider
 * every other component deploys through.
 */
export class EksCluster extends pulumi.ComponentResource {
    public readonly cluster: aws.eks.Cluster;
    public readonly clusterName: pulumi.Output<string>;
    public readonly endpoint: pulumi.Output<string>;
    /** ARN of the IAM OIDC provider (for `IrsaRole.oidcProviderArn`). */
    public readonly oidcProviderArn: pulumi.Output<string>;
    /** The OIDC issuer URL (for `IrsaRole.oidcIssuerUrl`). */
    public readonly oidcIssuerUrl: pulumi.Output<string>;
    /** The EKS-created cluster security group (control plane ↔ nodes). */
    public readonly clusterSecurityGroupId: pulumi.Output<string>;
    /**
     * The security group on every node: managed node groups without their own get the
     * cluster security group, which allows all traffic between control plane and nodes —
     * so admission webhooks on nodes (Istio 15017, the LB controller 9443) need no extra rule.
     */
    public readonly nodeSecurityGroupId: pulumi.Output<string>;
    public readonly nodeRoleArn: pulumi.Output<string>;
    public readonly secretsKeyArn: pulumi.Output<string>;
    /** Managed node groups by key: the group name, or `<group>-z<n>` per zone for a zonal group. */
    public readonly nodeGroups: Record<string, aws.eks.NodeGroup>;
    /** Kubeconfig (JSON, `aws eks get-token` auth) — secret. */
    public readonly kubeconfig: pulumi.Output<string>;
    /** The Kubernetes provider for every component that deploys into this cluster. */
    public readonly provider: k8s.Provider;
    /** Name of the default StorageClass ("gp3-encrypted"), or undefined when disabled. */
    public readonly storageClassName: string | undefined;

    constructor(name: string, args: EksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("noa:cluster:EksCluster", name, {}, opts);
        const a = normalizeEksClusterArgs(name, args);
        const parent = { parent: this };
        const tagged = (n: string) => ({ ...a.tags, Name: n });
        const partition = aws.getPartitionOutput({}, parent).partition;
        const region = aws.getRegionOutput({}, parent).region;
        const accountId = aws.getCallerIdentityOutput({}, parent).accountId;
        const awsManaged = (policy: string) => pulumi.interpolate`arn:${partition}:iam::aws:policy/${policy}`;

        // --- Control plane -------------------------------------------------------------------
        const key = new aws.kms.Key(
            `${name}-secrets`,
            {
                description: `EKS ${a.clusterName}: envelope encryption of Kubernetes secrets`,
                enableKeyRotation: true,
                deletionWindowInDays: 30,
                tags: tagged(`${name}-secrets`),
            },
            { parent: this, protect: a.protect, retainOnDelete: a.protect },
        );
        new aws.kms.Alias(`${name}-secrets`, { name: `alias/eks/${a.clusterName}-secrets`, targetKeyId: key.keyId }, parent);

        // EKS creates this group itself (without retention) unless it exists first.
        const logGroup = new aws.cloudwatch.LogGroup(
            `${name}-control-plane`,
            { name: `/aws/eks/${a.clusterName}/cluster`, retentionInDays: a.logRetentionDays, tags: tagged(`${name}-control-plane`) },
            parent,
        );

        const clusterRole = new aws.iam.Role(`${name}-cluster`, { assumeRolePolicy: assumeRoleBy("eks.amazonaws.com"), tags: tagged(`${name}-cluster`) }, parent);
        const clusterPolicy = new aws.iam.RolePolicyAttachment(`${name}-cluster`, { role: clusterRole.name, policyArn: awsManaged("AmazonEKSClusterPolicy") }, parent);
        const encryptionPolicy = new aws.iam.RolePolicy(
            `${name}-cluster-encryption`,
            {
                role: clusterRole.name,
                policy: pulumi.jsonStringify({
                    Version: "2012-10-17",
                    Statement: [{ Effect: "Allow", Action: ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"], Resource: key.arn }],
                }),
            },
            parent,
        );

        this.cluster = new aws.eks.Cluster(
            `${name}-eks`,
            {
                name: a.clusterName,
                version: a.kubernetesVersion,
                roleArn: clusterRole.arn,
                // Never slide into paid extended support by omission.
                upgradePolicy: { supportType: "STANDARD" },
                vpcConfig: {
                    subnetIds: a.subnetIds,
                    endpointPrivateAccess: true,
                    endpointPublicAccess: a.publicAccessCidrs.length > 0,
                    publicAccessCidrs: a.publicAccessCidrs.length > 0 ? a.publicAccessCidrs : undefined,
                },
                encryptionConfig: { provider: { keyArn: key.arn }, resources: ["secrets"] },
                enabledClusterLogTypes: a.logTypes,
                accessConfig: {
                    authenticationMode: "API",
                    // The identity running `pulumi up` must reach the API to deploy everything else.
                    bootstrapClusterCreatorAdminPermissions: true,
                },
                // Add-ons are EKS-managed below, so their versions and settings are ours.
                bootstrapSelfManagedAddons: false,
                deletionProtection: a.protect,
                tags: tagged(a.clusterName),
            },
            { parent: this, dependsOn: [logGroup, clusterPolicy, encryptionPolicy] },
        );
        const clusterName = this.cluster.name;

        this.oidcIssuerUrl = this.cluster.identities.apply((ids) => {
            const issuer = ids?.[0]?.oidcs?.[0]?.issuer;
            if (!issuer) throw new Error(`EksCluster "${name}": the cluster reported no OIDC issuer`);
            return issuer;
        });
        const oidc = new aws.iam.OpenIdConnectProvider(
            `${name}-oidc`,
            { url: this.oidcIssuerUrl, clientIdLists: ["sts.amazonaws.com"], tags: tagged(`${name}-oidc`) },
            parent,
        );
        this.oidcProviderArn = oidc.arn;

        const adminAccess = a.adminPrincipalArns.map((arn) => {
            const slug = principalSlug(arn);
            const entry = new aws.eks.AccessEntry(`${name}-admin-${slug}`, { clusterName, principalArn: arn, type: "STANDARD", tags: a.tags }, parent);
            return new aws.eks.AccessPolicyAssociation(
                `${name}-admin-${slug}`,
                {
                    clusterName,
                    principalArn: arn,
                    policyArn: pulumi.interpolate`arn:${partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy`,
                    accessScope: { type: "cluster" },
                },
                { parent: this, dependsOn: [entry] },
            );
        });

        // --- Add-ons that nodes need to become Ready -----------------------------------------
        const irsa = (sa: string, namespace: string, extra: Partial<ConstructorParameters<typeof IrsaRole>[1]>) =>
            new IrsaRole(`${name}-${sa}`, { oidcProviderArn: oidc.arn, oidcIssuerUrl: this.oidcIssuerUrl, namespace, serviceAccountName: sa, tags: a.tags, ...extra }, parent);
        const addon = (addonName: ManagedAddon, extra: { serviceAccountRoleArn?: pulumi.Input<string>; configurationValues?: string }, dependsOn: pulumi.Resource[]) =>
            new aws.eks.Addon(
                `${name}-${addonName}`,
                {
                    clusterName,
                    addonName,
                    addonVersion:
                        a.addonVersions[addonName] ??
                        aws.eks.getAddonVersionOutput({ addonName, kubernetesVersion: a.kubernetesVersion, mostRecent: false }, parent).version,
                    resolveConflictsOnCreate: "OVERWRITE",
                    resolveConflictsOnUpdate: "OVERWRITE",
                    tags: a.tags,
                    ...extra,
                },
                { parent: this, dependsOn },
            );
        // The CNI's permissions go to its own service account, not to every pod's node role.
        const cniRole = irsa("aws-node", "kube-system", { managedPolicyArns: [awsManaged("AmazonEKS_CNI_Policy")] });
        // Without the CNI's network policy agent, NetworkPolicy objects are accepted but not enforced:
        // every service's and data store's deny-by-default policy would be decoration.
        const vpcCni = addon("vpc-cni", { serviceAccountRoleArn: cniRole.roleArn, configurationValues: VPC_CNI_CONFIGURATION }, []);
        const kubeProxy = addon("kube-proxy", {}, []);

        // --- Nodes ---------------------------------------------------------------------------
        const nodeRole = new aws.iam.Role(`${name}-node`, { assumeRolePolicy: assumeRoleBy("ec2.amazonaws.com"), tags: tagged(`${name}-node`) }, parent);
        const nodePolicies = ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore"].map(
            (policy) => new aws.iam.RolePolicyAttachment(`${name}-node-${policy}`, { role: nodeRole.name, policyArn: awsManaged(policy) }, parent),
        );
        this.nodeRoleArn = nodeRole.arn;

        this.nodeGroups = {};
        const discovery = autoscalerDiscoveryTags(a.clusterName);
        for (const [group, g] of Object.entries(a.nodeGroups)) {
            const lt = new aws.ec2.LaunchTemplate(
                `${name}-${group}`,
                {
                    description: `EKS ${a.clusterName} node group ${group}`,
                    updateDefaultVersion: true,
                    metadataOptions: launchTemplateMetadataOptions(a.imdsHopLimit),
                    blockDeviceMappings: [
                        { deviceName: "/dev/xvda", ebs: { volumeSize: g.diskSizeGiB, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" } },
                    ],
                    tagSpecifications: ["instance", "volume"].map((resourceType) => ({ resourceType, tags: tagged(`${a.clusterName}-${group}`) })),
                    tags: tagged(`${name}-${group}`),
                },
                parent,
            );
            // A group spanning zones lets the autoscaler add a node in any zone; a `zonal` group is one
            // managed group per zone, so a pod pinned to a zonal EBS volume gets its node in that zone
            // (balance-similar-node-groups keeps the zones even).
            const parts = g.zonal
                ? a.zoneSubnetIds.map((subnet, i) => ({ key: zoneGroupKey(group, i), subnets: [subnet] as pulumi.Input<pulumi.Input<string>[]>, share: a.zoneSubnetIds.length }))
                : [{ key: group, subnets: a.subnetIds, share: 1 }];
            for (const part of parts) {
                const ng = new aws.eks.NodeGroup(
                    `${name}-${part.key}`,
                    {
                        clusterName,
                        nodeGroupNamePrefix: nodeGroupNamePrefix(a.clusterName, part.key),
                        version: a.kubernetesVersion,
                        nodeRoleArn: nodeRole.arn,
                        subnetIds: part.subnets,
                        instanceTypes: g.instanceTypes,
                        capacityType: g.capacityType,
                        amiType: g.amiType,
                        scalingConfig: { minSize: g.minSize / part.share, desiredSize: g.desiredSize / part.share, maxSize: g.maxSize / part.share },
                        updateConfig: { maxUnavailablePercentage: g.maxUnavailablePercentage },
                        launchTemplate: { id: lt.id, version: lt.latestVersion.apply(String) },
                        labels: g.labels,
                        taints: g.taints.map((t) => ({ key: t.key, value: t.value, effect: t.effect })),
                        tags: { ...tagged(`${a.clusterName}-${part.key}`), ...discovery },
                    },
                    {
                        parent: this,
                        dependsOn: [...nodePolicies, vpcCni, kubeProxy],
                        // The cluster autoscaler owns the size after creation.
                        ignoreChanges: ["scalingConfig.desiredSize"],
                    },
                );
                this.nodeGroups[part.key] = ng;
                const asgName = ng.resources.apply((r) => r[0].autoscalingGroups![0].name!);
                for (const [tagKey, value] of Object.entries(nodeTemplateTags(g.labels, g.taints))) {
                    const suffix = tagKey.replace(/^k8s\.io\/cluster-autoscaler\/node-template\//, "").replace(/[^A-Za-z0-9-]+/g, "-");
                    new aws.autoscaling.Tag(`${name}-${part.key}-${suffix}`, { autoscalingGroupName: asgName, tag: { key: tagKey, value, propagateAtLaunch: false } }, parent);
                }
            }
        }
        const allGroups = Object.values(this.nodeGroups);

        // --- Add-ons that need nodes ---------------------------------------------------------
        const coredns = addon("coredns", {}, allGroups);
        const ebsRole = irsa("ebs-csi-controller-sa", "kube-system", { managedPolicyArns: [awsManaged("service-role/AmazonEBSCSIDriverPolicy")] });
        const ebsCsi = addon("aws-ebs-csi-driver", { serviceAccountRoleArn: ebsRole.roleArn }, allGroups);

        // --- Kubernetes provider -------------------------------------------------------------
        this.kubeconfig = pulumi.secret(
            pulumi
                .all([clusterName, this.cluster.endpoint, this.cluster.certificateAuthority, region])
                .apply(([n, endpoint, ca, r]) => kubeconfig(n, endpoint, ca.data!, r)),
        );
        // Depending on the add-ons means anything deployed through it finds DNS, networking and volumes working.
        this.provider = new k8s.Provider(
            `${name}-k8s`,
            { kubeconfig: this.kubeconfig, enableServerSideApply: true },
            { parent: this, dependsOn: [coredns, ebsCsi, ...adminAccess] },
        );
        const k8sOpts = { parent: this, provider: this.provider };

        if (a.storageClass) {
            new k8s.storage.v1.StorageClass(
                `${name}-gp3-encrypted`,
                {
                    metadata: { name: "gp3-encrypted", annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
                    provisioner: "ebs.csi.aws.com",
                    // The tag marks the volumes the snapshot policy (if any) backs up.
                    parameters: { type: "gp3", encrypted: "true", "csi.storage.k8s.io/fstype": "ext4", tagSpecification_1: `${SNAPSHOT_TAG}=${a.clusterName}` },
                    volumeBindingMode: "WaitForFirstConsumer",
                    allowVolumeExpansion: true,
                    reclaimPolicy: a.protect ? "Retain" : "Delete",
                },
                k8sOpts,
            );
        }
        this.storageClassName = a.storageClass ? "gp3-encrypted" : undefined;

        if (a.volumeSnapshots) {
            const snap = a.volumeSnapshots;
            const dlmRole = new aws.iam.Role(`${name}-snapshots`, { assumeRolePolicy: assumeRoleBy("dlm.amazonaws.com"), tags: tagged(`${name}-snapshots`) }, parent);
            const dlmPolicy = new aws.iam.RolePolicyAttachment(`${name}-snapshots`, { role: dlmRole.name, policyArn: awsManaged("service-role/AWSDataLifecycleManagerServiceRole") }, parent);
            new aws.dlm.LifecyclePolicy(`${name}-snapshots`, {
                // DLM accepts only letters, digits, spaces, _ and - here.
                description: `${a.clusterName} daily snapshots of gp3-encrypted volumes`,
                executionRoleArn: dlmRole.arn,
                state: "ENABLED",
                policyDetails: {
                    policyType: "EBS_SNAPSHOT_MANAGEMENT",
                    resourceTypes: ["VOLUME"],
                    targetTags: { [SNAPSHOT_TAG]: a.clusterName },
                    schedules: [{
                        name: "daily",
                        createRule: { interval: 24, intervalUnit: "HOURS", times: snap.time },
                        retainRule: { count: snap.retainDays },
                        copyTags: true,
                        crossRegionCopyRules: snap.copyToRegion === undefined ? undefined : [{
                            target: snap.copyToRegion,
                            encrypted: true,
                            copyTags: true,
                            retainRule: { interval: snap.retainDays, intervalUnit: "DAYS" },
                        }],
                    }],
                },
                tags: tagged(`${name}-snapshots`),
            }, { ...parent, dependsOn: [dlmPolicy] });
        }

        if (a.metricsServer) {
            new k8s.helm.v3.Release(
                `${name}-metrics-server`,
                {
                    name: "metrics-server",
                    namespace: "kube-system",
                    chart: CHARTS.metricsServer.chart,
                    version: CHARTS.metricsServer.version,
                    repositoryOpts: { repo: CHARTS.metricsServer.repo },
                    values: metricsServerValues(),
                    atomic: true,
                    cleanupOnFail: true,
                    maxHistory: 10,
                },
                k8sOpts,
            );
        }

        if (a.clusterAutoscaler.enabled) {
            const caRole = irsa("cluster-autoscaler", "kube-system", {
                inlinePolicies: [
                    {
                        name: "cluster-autoscaler",
                        policy: pulumi.all([partition, region, accountId]).apply(([p, r, acct]) => clusterAutoscalerPolicy(a.clusterName, p, r, acct)),
                    },
                ],
            });
            const priorities = expanderPriorities(
                Object.entries(a.nodeGroups).map(([group, g]) => ({ nodeGroupNamePrefix: nodeGroupNamePrefix(a.clusterName, group), priority: g.autoscalerPriority })),
            );
            new k8s.helm.v3.Release(
                `${name}-cluster-autoscaler`,
                {
                    name: "cluster-autoscaler",
                    namespace: "kube-system",
                    chart: CHARTS.clusterAutoscaler.chart,
                    version: CHARTS.clusterAutoscaler.version,
                    repositoryOpts: { repo: CHARTS.clusterAutoscaler.repo },
                    values: pulumi.all([region, caRole.roleArn]).apply(([r, roleArn]) =>
                        clusterAutoscalerValues({ clusterName: a.clusterName, region: r, roleArn, imageTag: a.clusterAutoscaler.imageTag, priorities }),
                    ),
                    atomic: true,
                    cleanupOnFail: true,
                    maxHistory: 10,
                },
                k8sOpts,
            );
        }

        this.clusterName = clusterName;
        this.endpoint = this.cluster.endpoint;
        this.clusterSecurityGroupId = this.cluster.vpcConfig.apply((v) => v.clusterSecurityGroupId!);
        this.nodeSecurityGroupId = this.clusterSecurityGroupId;
        this.secretsKeyArn = key.arn;
        this.registerOutputs({
            clusterName: this.clusterName,
            endpoint: this.endpoint,
            oidcProviderArn: this.oidcProviderArn,
            oidcIssuerUrl: this.oidcIssuerUrl,
            clusterSecurityGroupId: this.clusterSecurityGroupId,
            nodeRoleArn: this.nodeRoleArn,
            secretsKeyArn: this.secretsKeyArn,
            kubeconfig: this.kubeconfig,
        });
    }
}
