import { checkRange, Reader } from "./validate";

/** `noa:ingress` — the ALB in front of the Istio ingress gateway. */
export interface IngressConfig {
    /** Public host name routed to the gateway. */
    domain: string;
    /** ACM certificate for HTTPS; without one the ALB serves HTTP only (dev). */
    certificateArn: string | undefined;
    /** Client CIDRs allowed through the ALB security group. */
    allowedCidrs: string[];
    /** ALB idle timeout in seconds (default 60). */
    idleTimeoutSeconds: number;
    /** ALB deletion protection (prod). */
    deletionProtection: boolean;
    /** ALB access logs to S3 (prod). */
    accessLogs: boolean;
    /** Days ALB access logs are kept in their bucket (default 90). */
    accessLogRetentionDays: number;
    /** ALB group name: Ingresses in one group share one ALB (default "noa"). */
    groupName: string;
    /** Optional WAFv2 web ACL ARN. */
    wafAclArn: string | undefined;
}

/** `noa:storage` — the application bucket. */
export interface StorageConfig {
    /** Object versioning (prod: on). */
    versioning: boolean;
    /** Days after which noncurrent versions expire. */
    noncurrentVersionExpirationDays: number;
    /** Days after which incomplete multipart uploads are aborted. */
    abortIncompleteUploadDays: number;
    /** Days before objects move to Intelligent-Tiering. */
    intelligentTieringDays: number;
    /** Allow `pulumi destroy` to delete a non-empty bucket (dev only). */
    forceDestroy: boolean;
}

/** `noa:images` — how service images are built and kept. */
export interface ImagesConfig {
    /** Target platform of the image builds. */
    platform: "linux/amd64" | "linux/arm64";
    /** ECR lifecycle: how many images to keep per repository. */
    keepLast: number;
    /** Let `pulumi destroy` delete ECR repositories that still hold images (dev only; default false). */
    forceDelete: boolean;
}

/** `noa:mesh` — Istio. */
export interface MeshConfig {
    /** Istio version (Helm chart version of base/istiod/gateway). */
    istioVersion: string;
    /** Mesh-wide PeerAuthentication mode (prod: STRICT). */
    mtlsMode: "STRICT" | "PERMISSIVE";
    /** Envoy access logs. */
    accessLogging: boolean;
    /** Proxies in front of the ingress gateway (the ALB: 1). */
    numTrustedProxies: number;
    /** The ingress gateway's replica range (its chart's HPA); every public request passes through it. */
    ingressGateway: { minReplicas: number; maxReplicas: number };
}

/** `noa:observability` — monitoring stack switches. */
export interface ObservabilityConfig {
    /** kube-prometheus-stack (Prometheus, Alertmanager, Grafana) and ServiceMonitors. */
    monitoring: boolean;
    /** Prometheus retention in days. */
    retentionDays: number;
    /** Prometheus volume size. */
    prometheusStorage: string;
    /** Ready messages in one job queue that count as a backlog (alert; default 1000). */
    queueBacklogMessages: number;
    /** Minutes the backlog must last before the alert fires (default 10). */
    queueBacklogMinutes: number;
}

const ACM_ARN = /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/;
const WAF_ARN = /^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:regional\/webacl\/.+$/;

export function readIngress(r: Reader): IngressConfig {
    const out: IngressConfig = {
        domain: r.string("domain", { pattern: /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/, describe: "a DNS name" }),
        certificateArn: r.optionalString("certificateArn", { pattern: ACM_ARN, describe: "an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)" }),
        allowedCidrs: r.cidrList("allowedCidrs", { minLength: 1 }),
        idleTimeoutSeconds: r.int("idleTimeoutSeconds", { min: 1, max: 4000, default: 60 }),
        deletionProtection: r.bool("deletionProtection"),
        accessLogs: r.bool("accessLogs"),
        accessLogRetentionDays: r.int("accessLogRetentionDays", { min: 1, max: 3650, default: 90 }),
        groupName: r.string("groupName", { default: "noa", pattern: /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/, describe: "an ALB group name (lowercase letters, digits, - and ., at most 63)" }),
        wafAclArn: r.optionalString("wafAclArn", { pattern: WAF_ARN, describe: "a regional WAFv2 web ACL ARN" }),
    };
    r.rejectUnknown();
    return out;
}

export function readStorage(r: Reader): StorageConfig {
    const out: StorageConfig = {
        versioning: r.bool("versioning"),
        noncurrentVersionExpirationDays: r.int("noncurrentVersionExpirationDays", { min: 1, default: 90 }),
        abortIncompleteUploadDays: r.int("abortIncompleteUploadDays", { min: 1, default: 7 }),
        intelligentTieringDays: r.int("intelligentTieringDays", { min: 0, default: 30 }),
        forceDestroy: r.bool("forceDestroy", { default: false }),
    };
    r.rejectUnknown();
    return out;
}

export function readImages(r: Reader): ImagesConfig {
    const out: ImagesConfig = {
        platform: r.oneOf("platform", ["linux/amd64", "linux/arm64"] as const, { default: "linux/amd64" }),
        keepLast: r.int("keepLast", { min: 1, max: 1000, default: 30 }),
        forceDelete: r.bool("forceDelete", { default: false }),
    };
    r.rejectUnknown();
    return out;
}

export function readMesh(r: Reader): MeshConfig {
    const out: MeshConfig = {
        istioVersion: r.string("istioVersion", { pattern: /^1\.\d+\.\d+$/, describe: "an exact Istio version (1.x.y)" }),
        mtlsMode: r.oneOf("mtlsMode", ["STRICT", "PERMISSIVE"] as const),
        accessLogging: r.bool("accessLogging", { default: true }),
        numTrustedProxies: r.int("numTrustedProxies", { min: 0, max: 5, default: 1 }),
        ingressGateway: readReplicaRange(r.has("ingressGateway") ? r.object("ingressGateway") : undefined, { minReplicas: 2, maxReplicas: 10 }),
    };
    r.rejectUnknown();
    return out;
}

function readReplicaRange(r: Reader | undefined, defaults: { minReplicas: number; maxReplicas: number }): { minReplicas: number; maxReplicas: number } {
    if (r === undefined) return defaults;
    const minReplicas = r.int("minReplicas", { min: 1, max: 100, default: defaults.minReplicas });
    const maxReplicas = r.int("maxReplicas", { min: 1, max: 100, default: defaults.maxReplicas });
    checkRange(r, "minReplicas", minReplicas, "maxReplicas", maxReplicas);
    r.rejectUnknown();
    return { minReplicas, maxReplicas };
}

export function readObservability(r: Reader): ObservabilityConfig {
    const out: ObservabilityConfig = {
        monitoring: r.bool("monitoring"),
        retentionDays: r.int("retentionDays", { min: 1, default: 15 }),
        prometheusStorage: r.quantity("prometheusStorage", { default: "50Gi" }),
        queueBacklogMessages: r.int("queueBacklogMessages", { min: 1, default: 1000 }),
        queueBacklogMinutes: r.int("queueBacklogMinutes", { min: 1, max: 1440, default: 10 }),
    };
    r.rejectUnknown();
    return out;
}
