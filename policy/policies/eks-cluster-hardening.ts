import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { boolean, fix, isUnknown, known, strings } from "../lib/policy";

export interface EksClusterConfig {
    requiredLogTypes: string[];
    forbidOpenPublicEndpoint: boolean;
}

const OPEN = new Set(["0.0.0.0/0", "::/0"]);

/**
 * Kubernetes Secrets envelope-encrypted with KMS, the control-plane audit
 * trail in CloudWatch, and an API endpoint the internet cannot reach.
 */
export const eksClusterHardening: ResourceValidationPolicy = {
    name: "eks-cluster-hardening",
    description: "EKS clusters encrypt Secrets with KMS, ship the required control-plane log types, and (where configured) do not expose the public API endpoint to the whole internet.",
    severity: "critical",
    remediationSteps: "Set encryptionConfig { resources: [\"secrets\"], provider.keyArn }, enabledClusterLogTypes including the required types, and vpcConfig.publicAccessCidrs to your admin ranges (or endpointPublicAccess: false).",
    configSchema: {
        properties: {
            requiredLogTypes: strings("Control-plane log types that must be enabled.", ["api", "audit", "authenticator", "controllerManager", "scheduler"]),
            forbidOpenPublicEndpoint: boolean("Whether a public endpoint open to 0.0.0.0/0 is a violation.", true),
        },
    },
    validateResource: validateResourceOfType(aws.eks.Cluster, (cluster, args, reportViolation) => {
        const cfg = args.getConfig<EksClusterConfig>();
        const who = `EKS cluster ${known(() => cluster.name) ?? args.name}`;
        const encrypted = cluster.encryptionConfig?.resources ?? [];
        // A key created in the same deployment has an unknown ARN in preview: an unknown ARN is still a key.
        const hasKey = isUnknown(() => cluster.encryptionConfig?.provider?.keyArn) || Boolean(known(() => cluster.encryptionConfig?.provider?.keyArn));
        if (!encrypted.includes("secrets") || !hasKey) {
            reportViolation(fix(`${who} does not envelope-encrypt Kubernetes Secrets with KMS.`, "set encryptionConfig: { resources: [\"secrets\"], provider: { keyArn: <a KMS key> } }."));
        }
        const enabled = new Set(cluster.enabledClusterLogTypes ?? []);
        const missing = cfg.requiredLogTypes.filter((t) => !enabled.has(t));
        if (missing.length > 0) {
            reportViolation(fix(`${who} does not ship control-plane logs ${missing.join(", ")}.`, `add them to enabledClusterLogTypes (required here: ${cfg.requiredLogTypes.join(", ")}).`));
        }
        const vpc = cluster.vpcConfig;
        // EKS defaults: public endpoint on, open to 0.0.0.0/0.
        const publicAccess = vpc?.endpointPublicAccess ?? true;
        const cidrs = vpc?.publicAccessCidrs ?? ["0.0.0.0/0"];
        if (cfg.forbidOpenPublicEndpoint && publicAccess && cidrs.some((c) => OPEN.has(c))) {
            reportViolation(fix(`${who} exposes its public API endpoint to the whole internet (publicAccessCidrs ${JSON.stringify(cidrs)}).`, "restrict vpcConfig.publicAccessCidrs to the admin/CI ranges, or set endpointPublicAccess: false and reach it privately."));
        }
    }),
};
