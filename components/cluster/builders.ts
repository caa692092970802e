/**
 * Pure builders for what the EksCluster renders: kubeconfig, launch-template
 * options, node-group tags, the cluster autoscaler's IAM policy and Helm
 * values, metrics-server values. No Pulumi resources here, so they are tested
 * table-driven without mocks.
 */

/** Chart pins (bump deliberately, together with a plan review). */
export const CHARTS = {
    metricsServer: { chart: "metrics-server", version: "3.13.0", repo: "https://kubernetes-sigs.github.io/metrics-server/" },
    clusterAutoscaler: { chart: "cluster-autoscaler", version: "9.46.6", repo: "https://kubernetes.github.io/autoscaler" },
} as const;

/**
 * A kubeconfig that authenticates with `aws eks get-token` (short-lived STS
 * tokens from whatever AWS credentials run Pulumi or kubectl) — no long-lived
 * secret is embedded, only the cluster's public CA.
 */
export function kubeconfig(clusterName: string, endpoint: string, certificateAuthorityData: string, region: string): string {
    return JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: clusterName, cluster: { server: endpoint, "certificate-authority-data": certificateAuthorityData } }],
        contexts: [{ name: clusterName, context: { cluster: clusterName, user: clusterName } }],
        "current-context": clusterName,
        users: [
            {
                name: clusterName,
                user: {
                    exec: {
                        apiVersion: "client.authentication.k8s.io/v1beta1",
                        command: "aws",
                        args: ["eks", "get-token", "--cluster-name", clusterName, "--region", region, "--output", "json"],
                        interactiveMode: "Never",
                    },
                },
            },
        ],
    });
}

/**
 * IMDSv2 only. Hop limit 1 keeps pods on the pod network away from the node
 * role's credentials (every AWS-calling pod here uses IRSA and gets its region
 * from config); host-network daemons (aws-node) are one hop and unaffected.
 * The EBS CSI node plugin is not on the host network: without IMDS it reads
 * its node's zone and instance type from Kubernetes, and counts one ENI and
 * the root volume as attached, so on a node with many ENIs it may promise more
 * volume attachments than the instance has slots. The stateful pods here run
 * one per node, far below that. Raise it to 2 (EksClusterArgs.imdsHopLimit)
 * only for a workload that truly needs IMDS.
 */
export function launchTemplateMetadataOptions(hopLimit: number) {
    return { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: hopLimit, instanceMetadataTags: "disabled" };
}

/** The cluster autoscaler's auto-discovery tags (EKS also puts them on each group's ASG). */
export function autoscalerDiscoveryTags(clusterName: string): Record<string, string> {
    return { "k8s.io/cluster-autoscaler/enabled": "true", [`k8s.io/cluster-autoscaler/${clusterName}`]: "owned" };
}

export type TaintEffect = "NO_SCHEDULE" | "NO_EXECUTE" | "PREFER_NO_SCHEDULE";
const TAINT_EFFECT_K8S: Record<TaintEffect, string> = { NO_SCHEDULE: "NoSchedule", NO_EXECUTE: "NoExecute", PREFER_NO_SCHEDULE: "PreferNoSchedule" };

/**
 * ASG tags that describe a group's future nodes (labels, taints) so the
 * autoscaler can scale a group up from zero without a node to look at.
 */
export function nodeTemplateTags(labels: Record<string, string>, taints: { key: string; value?: string; effect: TaintEffect }[]): Record<string, string> {
    const tags: Record<string, string> = {};
    for (const [k, v] of Object.entries(labels)) tags[`k8s.io/cluster-autoscaler/node-template/label/${k}`] = v;
    for (const t of taints) tags[`k8s.io/cluster-autoscaler/node-template/taint/${t.key}`] = `${t.value ?? ""}:${TAINT_EFFECT_K8S[t.effect]}`;
    return tags;
}

/**
 * The autoscaler's IAM policy (as published in its AWS guide): read-only
 * discovery on `*`, but scaling and terminating only ASGs tagged as owned by
 * this cluster, and DescribeNodegroup only on this cluster's node groups.
 */
export function clusterAutoscalerPolicy(clusterName: string, partition: string, region: string, accountId: string): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "Discover",
                Effect: "Allow",
                Action: [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                Resource: "*",
            },
            {
                Sid: "DescribeOwnNodegroups",
                Effect: "Allow",
                Action: "eks:DescribeNodegroup",
                Resource: `arn:${partition}:eks:${region}:${accountId}:nodegroup/${clusterName}/*`,
            },
            {
                Sid: "ScaleOwnGroups",
                Effect: "Allow",
                Action: ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                Resource: "*",
                Condition: { StringEquals: { [`aws:ResourceTag/k8s.io/cluster-autoscaler/${clusterName}`]: "owned" } },
            },
        ],
    });
}

/** Escapes a literal for use in a regular expression. */
function escapeRegex(s: string): string {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Priority-expander config: node groups (matched by their ASG name, which EKS
 * derives as `eks-<nodegroup name>-<id>`) grouped by priority; higher wins.
 */
export function expanderPriorities(groups: { nodeGroupNamePrefix: string; priority: number }[]): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const g of [...groups].sort((a, b) => a.priority - b.priority)) {
        (out[String(g.priority)] ??= []).push(`^eks-${escapeRegex(g.nodeGroupNamePrefix)}.*`);
    }
    return out;
}

export interface ClusterAutoscalerValuesInput {
    clusterName: string;
    region: string;
    roleArn: string;
    imageTag: string;
    priorities: Record<string, string[]>;
}

/**
 * Helm values for the cluster autoscaler: auto-discovery by cluster name; the
 * priority expander (spot burst groups outrank the on-demand base, so burst
 * capacity comes from spot; pods that only fit the base still scale the base),
 * least-waste to break ties; a 5-minute provision timeout so a spot shortage
 * falls back to on-demand quickly; emptyDir (Istio sidecars) and kube-system
 * pods do not pin nodes forever.
 */
export function clusterAutoscalerValues(v: ClusterAutoscalerValuesInput): Record<string, unknown> {
    return {
        fullnameOverride: "cluster-autoscaler",
        cloudProvider: "aws",
        awsRegion: v.region,
        autoDiscovery: { clusterName: v.clusterName },
        image: { tag: v.imageTag },
        rbac: {
            create: true,
            serviceAccount: { create: true, name: "cluster-autoscaler", annotations: { "eks.amazonaws.com/role-arn": v.roleArn } },
        },
        extraArgs: {
            expander: "priority,least-waste",
            "balance-similar-node-groups": true,
            "skip-nodes-with-local-storage": false,
            "skip-nodes-with-system-pods": false,
            "max-node-provision-time": "5m0s",
            "scale-down-unneeded-time": "10m0s",
        },
        expanderPriorities: v.priorities,
        // Two replicas with leader election; keep them off spot capacity the autoscaler itself removes.
        replicaCount: 2,
        podDisruptionBudget: { maxUnavailable: 1 },
        priorityClassName: "system-cluster-critical",
        affinity: {
            nodeAffinity: {
                preferredDuringSchedulingIgnoredDuringExecution: [
                    { weight: 100, preference: { matchExpressions: [{ key: "eks.amazonaws.com/capacityType", operator: "In", values: ["ON_DEMAND"] }] } },
                ],
            },
        },
        resources: { requests: { cpu: "100m", memory: "300Mi" }, limits: { memory: "600Mi" } },
    };
}

/** Helm values for metrics-server (feeds every HPA): two replicas behind a PDB. */
export function metricsServerValues(): Record<string, unknown> {
    return {
        replicas: 2,
        podDisruptionBudget: { enabled: true, minAvailable: 1 },
        resources: { requests: { cpu: "100m", memory: "200Mi" }, limits: { memory: "400Mi" } },
    };
}
