import { AWS_REGION_PATTERN, UTC_TIME_PATTERN } from "@noa/components/shared";
import { checkRetention } from "./network";
import { checkRange, Reader } from "./validate";

export const CONTROL_PLANE_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"] as const;
export type ControlPlaneLogType = (typeof CONTROL_PLANE_LOG_TYPES)[number];

/** One EKS managed node group. */
export interface NodeGroupConfig {
    /** EC2 instance types (several for spot diversity). */
    instanceTypes: string[];
    /** ON_DEMAND for the base, SPOT for burst capacity (seed: spot for burst). */
    capacityType: "ON_DEMAND" | "SPOT";
    minSize: number;
    /** Initial size only: the cluster autoscaler owns it after creation. */
    desiredSize: number;
    maxSize: number;
    /** Root volume size in GiB (default 50). */
    diskSizeGiB: number;
    /** Node labels. */
    labels: Record<string, string>;
    /** Node taints (`key=value:Effect`). */
    taints: { key: string; value: string; effect: "NO_SCHEDULE" | "NO_EXECUTE" | "PREFER_NO_SCHEDULE" }[];
    /** One managed group per AZ (sizes are totals, split evenly over `network.azCount`), so a pod bound to a zonal EBS volume gets a node in its zone. */
    zonal: boolean;
}

/** `noa:cluster` — the EKS cluster. */
export interface ClusterConfig {
    /** Kubernetes minor version ("1.33"). */
    kubernetesVersion: string;
    /** CIDRs allowed to reach the public API endpoint (never 0.0.0.0/0 in prod; the policy pack checks). */
    publicAccessCidrs: string[];
    /** IAM principals given cluster-admin through EKS access entries. */
    adminPrincipalArns: string[];
    /** Control-plane log types sent to CloudWatch. */
    logTypes: ControlPlaneLogType[];
    /** Retention of the control-plane log group, in days. */
    logRetentionDays: number;
    /** The on-demand base group and the spot burst group. */
    nodeGroups: { base: NodeGroupConfig; burst: NodeGroupConfig };
    /** Daily snapshots of the stores' volumes (Amazon Data Lifecycle Manager). */
    volumeSnapshots: { enabled: boolean; time: string; retainDays: number; copyToRegion: string | undefined };
}

const TAINT = /^([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*):(NoSchedule|NoExecute|PreferNoSchedule)$/;
const EFFECT = { NoSchedule: "NO_SCHEDULE", NoExecute: "NO_EXECUTE", PreferNoSchedule: "PREFER_NO_SCHEDULE" } as const;

function readNodeGroup(r: Reader, capacityDefault: "ON_DEMAND" | "SPOT"): NodeGroupConfig {
    const instanceTypes = r.stringList("instanceTypes", { minLength: 1, pattern: /^[a-z0-9-]+\.[a-z0-9]+$/, describe: "an EC2 instance type (e.g. m6i.large)" });
    const capacityType = r.oneOf("capacityType", ["ON_DEMAND", "SPOT"] as const, { default: capacityDefault });
    const minSize = r.int("minSize", { min: 0 });
    const desiredSize = r.int("desiredSize", { min: 0 });
    const maxSize = r.int("maxSize", { min: 1 });
    checkRange(r, "minSize", minSize, "maxSize", maxSize);
    if (desiredSize < minSize || desiredSize > maxSize) {
        r.problems.push(`${r.at("desiredSize")} (${desiredSize}) must be between minSize (${minSize}) and maxSize (${maxSize})`);
    }
    const diskSizeGiB = r.int("diskSizeGiB", { min: 20, max: 1000, default: 50 });
    const zonal = r.bool("zonal", { default: false });
    const labelsReader = r.object("labels");
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(labelsReader.raw)) {
        if (typeof v !== "string") labelsReader.problem(k, "must be a string");
        else labels[k] = v;
    }
    const taints = r.stringList("taints", { default: [] }).flatMap((t, i) => {
        const m = TAINT.exec(t);
        if (!m) {
            r.problems.push(`${r.at("taints")}[${i}] (${JSON.stringify(t)}) is not key=value:NoSchedule|NoExecute|PreferNoSchedule`);
            return [];
        }
        return [{ key: m[1], value: m[2], effect: EFFECT[m[3] as keyof typeof EFFECT] }];
    });
    r.rejectUnknown();
    return { instanceTypes, capacityType, minSize, desiredSize, maxSize, diskSizeGiB, labels, taints, zonal };
}

export function readCluster(r: Reader): ClusterConfig {
    const kubernetesVersion = r.string("kubernetesVersion", { pattern: /^1\.(2[89]|3\d)$/, describe: "a supported EKS minor version (1.28–1.39)" });
    // Empty turns the public endpoint off: pulumi and kubectl then run from inside the VPC.
    const publicAccessCidrs = r.cidrList("publicAccessCidrs");
    const adminPrincipalArns = r.stringList("adminPrincipalArns", {
        default: [],
        pattern: /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/.+$/,
        describe: "an IAM role or user ARN",
    });
    const logTypes = r.stringList("logTypes", { default: [...CONTROL_PLANE_LOG_TYPES] });
    logTypes.forEach((t, i) => {
        if (!(CONTROL_PLANE_LOG_TYPES as readonly string[]).includes(t)) {
            r.problems.push(`${r.at("logTypes")}[${i}] (${JSON.stringify(t)}) must be one of ${CONTROL_PLANE_LOG_TYPES.join(", ")}`);
        }
    });
    const logRetentionDays = r.int("logRetentionDays", { min: 1, default: 30 });
    checkRetention(r, "logRetentionDays", logRetentionDays);
    const groups = r.object("nodeGroups");
    const nodeGroups = { base: readNodeGroup(groups.object("base"), "ON_DEMAND"), burst: readNodeGroup(groups.object("burst"), "SPOT") };
    groups.rejectUnknown();
    const volumeSnapshots = readVolumeSnapshots(r.has("volumeSnapshots") ? r.object("volumeSnapshots") : undefined);
    r.rejectUnknown();
    return { kubernetesVersion, publicAccessCidrs, adminPrincipalArns, logTypes: logTypes as ControlPlaneLogType[], logRetentionDays, nodeGroups, volumeSnapshots };
}

/** `volumeSnapshots` (optional: absent means off). */
function readVolumeSnapshots(r: Reader | undefined): ClusterConfig["volumeSnapshots"] {
    if (r === undefined) return { enabled: false, time: "03:00", retainDays: 7, copyToRegion: undefined };
    const enabled = r.bool("enabled");
    const time = r.string("time", { default: "03:00", pattern: UTC_TIME_PATTERN, describe: "a UTC time like \"03:00\"" });
    const retainDays = r.int("retainDays", { min: 1, max: 1000, default: 7 });
    const copyToRegion = r.optionalString("copyToRegion", { pattern: AWS_REGION_PATTERN, describe: "an AWS region name" });
    r.rejectUnknown();
    return { enabled, time, retainDays, copyToRegion };
}
