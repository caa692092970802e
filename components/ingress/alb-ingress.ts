import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { IrsaRole } from "../cluster";
import { AWS_REGION_PATTERN } from "../shared/index.js";

/**
 * The AWS Load Balancer Controller Helm chart (https://aws.github.io/eks-charts)
 * and the controller version it installs. The IAM policy file next to this
 * module is the controller's published `docs/install/iam_policy.json` for
 * that version: upgrade the two together.
 */
export const CONTROLLER_CHART_VERSION = "1.14.1";
export const CONTROLLER_APP_VERSION = "v2.14.1";
export const CONTROLLER_NAMESPACE = "kube-system";
export const CONTROLLER_SERVICE_ACCOUNT = "aws-load-balancer-controller";

/** The controller's published IAM policy (kept in the repo, reviewed on upgrade). */
export function controllerPolicyDocument(): string {
    return readFileSync(path.join(__dirname, "aws-load-balancer-controller-iam-policy.json"), "utf8");
}

/** TLS 1.2+ ALB security policies (the TLS 1.3 family negotiates 1.2 at minimum). */
const TLS12_PLUS_POLICY = /^ELBSecurityPolicy-(TLS13-1-[23]-\d{4}-\d{2}|TLS-1-2-(Ext-)?2017-01|TLS13-1-2-(Res|Ext[12])-\d{4}-\d{2}|FS-1-2-(Res-)?20\d{2}-\d{2})$/;
export const DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";
const ACM_ARN = /^arn:aws[a-z-]*:acm:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:certificate\/[0-9a-f-]{36}$/;
const WAF_ARN = /^arn:aws[a-z-]*:wafv2:[a-z]{2}(-gov)?-[a-z]+-\d:\d{12}:regional\/webacl\/[\w-]+\/[0-9a-f-]{36}$/;
const GROUP_NAME = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

export interface AlbIngressArgs {
    /** EKS cluster name (the controller's `clusterName`). Required. */
    readonly clusterName: pulumi.Input<string>;
    /** AWS region of the cluster (the controller's `region`). Required. */
    readonly region: string;
    /** VPC of the cluster (the controller's `vpcId`; saves it an IMDS lookup). Required. */
    readonly vpcId: pulumi.Input<string>;
    /** ARN of the cluster's IAM OIDC provider, for the controller's IRSA role. Required. */
    readonly oidcProviderArn: pulumi.Input<string>;
    /** The cluster's OIDC issuer URL, for the controller's IRSA role. Required. */
    readonly oidcIssuerUrl: pulumi.Input<string>;
    /** Controller replicas (leader election; 2 survive a node loss). Default: 2. */
    readonly controllerReplicas?: number;
    /** Helm chart version of the controller. Default: `CONTROLLER_CHART_VERSION`. */
    readonly chartVersion?: string;
    /** Namespace of the Istio ingress gateway Service. Default: `istio-ingress`. */
    readonly gatewayNamespace?: pulumi.Input<string>;
    /** Name of the Istio ingress gateway Service. Default: `istio-ingressgateway`. */
    readonly gatewayServiceName?: pulumi.Input<string>;
    /** HTTP port of the gateway Service. Default: 80. */
    readonly gatewayServicePort?: number;
    /** The gateway pods' status port, for ALB health checks. Default: 15021. */
    readonly healthCheckPort?: number;
    /** Readiness path on the status port. Default: `/healthz/ready`. */
    readonly healthCheckPath?: string;
    /**
     * ACM certificate ARN. With one: listeners on 80 and 443, HTTP redirected
     * to HTTPS, `sslPolicy` on 443. Without: HTTP on 80 only (dev). Default: none.
     */
    readonly certificateArn?: string;
    /** TLS policy of the HTTPS listener; must be TLS 1.2+. Default: `ELBSecurityPolicy-TLS13-1-2-2021-06`. */
    readonly sslPolicy?: string;
    /** Client CIDRs allowed through the ALB security group. Required (at least one). */
    readonly inboundCidrs: string[];
    /** ALB idle timeout in seconds (1–4000). Default: 60. */
    readonly idleTimeoutSeconds?: number;
    /** ALB deletion protection (prod). Default: false. */
    readonly deletionProtection?: boolean;
    /**
     * ALB access logs to an S3 bucket this component creates (versioned,
     * SSE-S3 — ALB log delivery fails on SSE-KMS buckets; writable by the
     * region's ELB account only). Default: false.
     */
    readonly accessLogs?: boolean;
    /** Days access logs are kept. Default: 90. */
    readonly accessLogRetentionDays?: number;
    /** `protect`/`retainOnDelete` on the access-log bucket (audit records). Default: false. */
    readonly protect?: boolean;
    /** Let `pulumi destroy` delete a non-empty access-log bucket (refused with `protect`). Default: false. */
    readonly forceDestroyLogs?: boolean;
    /** Regional WAFv2 web ACL ARN to associate with the ALB. Default: none. */
    readonly wafAclArn?: string;
    /** ALB group: Ingresses with the same group share one ALB. Default: `noa`. */
    readonly groupName?: string;
    /** Name of the Ingress object. Default: `noa-alb`. */
    readonly ingressName?: string;
}

export interface NormalizedAlbIngressArgs {
    readonly clusterName: pulumi.Input<string>;
    readonly region: string;
    readonly vpcId: pulumi.Input<string>;
    readonly oidcProviderArn: pulumi.Input<string>;
    readonly oidcIssuerUrl: pulumi.Input<string>;
    readonly controllerReplicas: number;
    readonly chartVersion: string;
    readonly gatewayNamespace: pulumi.Input<string>;
    readonly gatewayServiceName: pulumi.Input<string>;
    readonly gatewayServicePort: number;
    readonly healthCheckPort: number;
    readonly healthCheckPath: string;
    readonly certificateArn: string | undefined;
    readonly sslPolicy: string;
    readonly inboundCidrs: string[];
    readonly idleTimeoutSeconds: number;
    readonly deletionProtection: boolean;
    readonly accessLogs: boolean;
    readonly accessLogRetentionDays: number;
    readonly protect: boolean;
    readonly forceDestroyLogs: boolean;
    readonly wafAclArn: string | undefined;
    readonly groupName: string;
    readonly ingressName: string;
}

function validCidr(c: string): boolean {
    const m = CIDR.exec(c);
    if (!m) return false;
    const octets = m.slice(1, 5).map(Number);
    const prefix = Number(m[5]);
    if (octets.some((o) => o > 255) || prefix > 32) return false;
    const base = ((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3];
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
    return ((base & ~mask) >>> 0) === 0;
}

/** Applies defaults and validates every field; one error lists every problem. */
export function normalizeAlbIngressArgs(name: string, args: AlbIngressArgs): NormalizedAlbIngressArgs {
    const problems: string[] = [];
    const at = (key: string, value: unknown, message: string) => problems.push(`${key} (${JSON.stringify(value)}) ${message}`);
    const port = (key: string, value: number) => {
        if (!Number.isInteger(value) || value < 1 || value > 65535) at(key, value, "is not a port number (1–65535)");
        return value;
    };

    if (!AWS_REGION_PATTERN.test(args.region ?? "")) at("region", args.region, "is not an AWS region name");
    const controllerReplicas = args.controllerReplicas ?? 2;
    if (!Number.isInteger(controllerReplicas) || controllerReplicas < 1) at("controllerReplicas", controllerReplicas, "must be a whole number of at least 1");
    const chartVersion = args.chartVersion ?? CONTROLLER_CHART_VERSION;
    if (!/^\d+\.\d+\.\d+$/.test(chartVersion)) at("chartVersion", chartVersion, "is not an exact chart version (x.y.z)");
    const gatewayServicePort = port("gatewayServicePort", args.gatewayServicePort ?? 80);
    const healthCheckPort = port("healthCheckPort", args.healthCheckPort ?? 15021);
    const healthCheckPath = args.healthCheckPath ?? "/healthz/ready";
    if (!healthCheckPath.startsWith("/")) at("healthCheckPath", healthCheckPath, "must start with /");

    if (args.certificateArn !== undefined && !ACM_ARN.test(args.certificateArn)) {
        at("certificateArn", args.certificateArn, "is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)");
    }
    const sslPolicy = args.sslPolicy ?? DEFAULT_SSL_POLICY;
    if (!TLS12_PLUS_POLICY.test(sslPolicy)) at("sslPolicy", sslPolicy, "is not a TLS 1.2+ ELB security policy (e.g. ELBSecurityPolicy-TLS13-1-2-2021-06)");
    if (args.sslPolicy !== undefined && args.certificateArn === undefined) at("sslPolicy", args.sslPolicy, "has no effect without certificateArn (there is no HTTPS listener)");

    const inboundCidrs = args.inboundCidrs ?? [];
    if (inboundCidrs.length === 0) at("inboundCidrs", inboundCidrs, "must list at least one CIDR");
    inboundCidrs.forEach((c, i) => {
        if (!validCidr(c)) at(`inboundCidrs[${i}]`, c, "is not a valid IPv4 CIDR");
    });
    const idleTimeoutSeconds = args.idleTimeoutSeconds ?? 60;
    if (!Number.isInteger(idleTimeoutSeconds) || idleTimeoutSeconds < 1 || idleTimeoutSeconds > 4000) {
        at("idleTimeoutSeconds", idleTimeoutSeconds, "must be a whole number from 1 to 4000");
    }
    const accessLogRetentionDays = args.accessLogRetentionDays ?? 90;
    if (!Number.isInteger(accessLogRetentionDays) || accessLogRetentionDays < 1) at("accessLogRetentionDays", accessLogRetentionDays, "must be a whole number of at least 1");
    if (args.wafAclArn !== undefined && !WAF_ARN.test(args.wafAclArn)) {
        at("wafAclArn", args.wafAclArn, "is not a regional WAFv2 web ACL ARN (arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>)");
    }
    const groupName = args.groupName ?? "noa";
    if (!GROUP_NAME.test(groupName)) at("groupName", groupName, "is not an ALB group name (lowercase letters, digits, - and ., at most 63)");
    const ingressName = args.ingressName ?? "noa-alb";
    if (!DNS_LABEL.test(ingressName)) at("ingressName", ingressName, "is not a Kubernetes object name (DNS-1123 label)");
    const protect = args.protect ?? false;
    const forceDestroyLogs = args.forceDestroyLogs ?? false;
    if (protect && forceDestroyLogs) at("forceDestroyLogs", forceDestroyLogs, "contradicts protect (true)");

    if (problems.length > 0) throw new Error(`AlbIngress "${name}": ${problems.join("; ")}`);
    return {
        clusterName: args.clusterName,
        region: args.region,
        vpcId: args.vpcId,
        oidcProviderArn: args.oidcProviderArn,
        oidcIssuerUrl: args.oidcIssuerUrl,
        controllerReplicas,
        chartVersion,
        gatewayNamespace: args.gatewayNamespace ?? "istio-ingress",
        gatewayServiceName: args.gatewayServiceName ?? "istio-ingressgateway",
        gatewayServicePort,
        healthCheckPort,
        healthCheckPath,
        certificateArn: args.certificateArn,
        sslPolicy,
        inboundCidrs,
        idleTimeoutSeconds,
        deletionProtection: args.deletionProtection ?? false,
        accessLogs: args.accessLogs ?? false,
        accessLogRetentionDays,
        protect,
        forceDestroyLogs,
        wafAclArn: args.wafAclArn,
        groupName,
        ingressName,
    };
}

/** Where the ALB writes its logs inside the log bucket. */
export const ACCESS_LOG_PREFIX = "alb";

/** The `alb.ingress.kubernetes.io/*` annotations for the gateway Ingress. */
export function albAnnotations(a: NormalizedAlbIngressArgs, accessLogBucket: string | undefined): Record<string, string> {
    const p = "alb.ingress.kubernetes.io";
    const attributes = [
        `idle_timeout.timeout_seconds=${a.idleTimeoutSeconds}`,
        `deletion_protection.enabled=${a.deletionProtection}`,
        // Requests with malformed headers never reach the mesh (AWS Security Hub ELB.4).
        "routing.http.drop_invalid_header_fields.enabled=true",
        ...(accessLogBucket
            ? ["access_logs.s3.enabled=true", `access_logs.s3.bucket=${accessLogBucket}`, `access_logs.s3.prefix=${ACCESS_LOG_PREFIX}`]
            : ["access_logs.s3.enabled=false"]),
    ];
    const out: Record<string, string> = {
        [`${p}/scheme`]: "internet-facing",
        // Pod IPs as targets: no NodePort hop, and health checks reach the gateway pods themselves.
        [`${p}/target-type`]: "ip",
        [`${p}/group.name`]: a.groupName,
        [`${p}/healthcheck-protocol`]: "HTTP",
        [`${p}/healthcheck-port`]: String(a.healthCheckPort),
        [`${p}/healthcheck-path`]: a.healthCheckPath,
        [`${p}/inbound-cidrs`]: a.inboundCidrs.join(","),
        [`${p}/load-balancer-attributes`]: attributes.join(","),
    };
    if (a.certificateArn) {
        out[`${p}/listen-ports`] = JSON.stringify([{ HTTP: 80 }, { HTTPS: 443 }]);
        out[`${p}/certificate-arn`] = a.certificateArn;
        out[`${p}/ssl-redirect`] = "443";
        out[`${p}/ssl-policy`] = a.sslPolicy;
    } else {
        out[`${p}/listen-ports`] = JSON.stringify([{ HTTP: 80 }]);
    }
    if (a.wafAclArn) out[`${p}/wafv2-acl-arn`] = a.wafAclArn;
    return out;
}

/** Helm values for the controller. */
export function controllerValues(a: NormalizedAlbIngressArgs, clusterName: string, vpcId: string, roleArn: string) {
    return {
        clusterName,
        region: a.region,
        vpcId,
        replicaCount: a.controllerReplicas,
        serviceAccount: {
            create: true,
            name: CONTROLLER_SERVICE_ACCOUNT,
            annotations: { "eks.amazonaws.com/role-arn": roleArn },
        },
        // The webhook rewrites every type=LoadBalancer Service in the cluster into
        // an NLB; this platform asks the controller for exactly one ALB via Ingress.
        enableServiceMutatorWebhook: false,
        podDisruptionBudget: { maxUnavailable: 1 },
        resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
    };
}

/** Log bucket policy: TLS only, and only the region's ELB account may write, only under this account's prefix. */
export function accessLogBucketPolicy(bucketArn: string, elbAccountArn: string, accountId: string): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "DenyInsecureTransport",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [bucketArn, `${bucketArn}/*`],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
            {
                Sid: "AllowElbLogDelivery",
                Effect: "Allow",
                Principal: { AWS: elbAccountArn },
                Action: "s3:PutObject",
                Resource: `${bucketArn}/${ACCESS_LOG_PREFIX}/AWSLogs/${accountId}/*`,
            },
        ],
    });
}

/**
 * The public entry: the AWS Load Balancer Controller (Helm, with an IRSA role
 * carrying the controller's published IAM policy) and one internet-facing ALB
 * Ingress in front of the Istio ingress gateway Service, with pod-IP targets
 * health-checked on the gateway's status port. HTTPS with a TLS 1.2+ policy
 * and an HTTP→HTTPS redirect where a certificate is set; idle timeout,
 * deletion protection, access logs, WAF and source CIDRs from args.
 *
 * Pass the Kubernetes provider through `opts.providers`.
 */
export class AlbIngress extends pulumi.ComponentResource {
    public readonly controllerRole: IrsaRole;
    public readonly controller: k8s.helm.v3.Release;
    public readonly ingress: k8s.networking.v1.Ingress;
    /** The access-log bucket (when `accessLogs`). */
    public readonly accessLogBucket: aws.s3.Bucket | undefined;
    /** DNS name of the ALB, from the Ingress status (point the domain's CNAME/alias here). */
    public readonly hostname: pulumi.Output<string>;

    constructor(name: string, args: AlbIngressArgs, opts?: pulumi.ComponentResourceOptions) {
        super("noa:ingress:AlbIngress", name, {}, opts);
        const a = normalizeAlbIngressArgs(name, args);

        const policy = new aws.iam.Policy(
            `${name}-controller-policy`,
            { description: `AWS Load Balancer Controller ${CONTROLLER_APP_VERSION} (published policy)`, policy: controllerPolicyDocument() },
            { parent: this },
        );
        this.controllerRole = new IrsaRole(
            `${name}-controller-irsa`,
            {
                oidcProviderArn: a.oidcProviderArn,
                oidcIssuerUrl: a.oidcIssuerUrl,
                namespace: CONTROLLER_NAMESPACE,
                serviceAccountName: CONTROLLER_SERVICE_ACCOUNT,
                description: "AWS Load Balancer Controller",
                managedPolicyArns: [policy.arn],
            },
            { parent: this },
        );

        this.controller = new k8s.helm.v3.Release(
            `${name}-controller`,
            {
                name: "aws-load-balancer-controller",
                chart: "aws-load-balancer-controller",
                version: a.chartVersion,
                repositoryOpts: { repo: "https://aws.github.io/eks-charts" },
                namespace: CONTROLLER_NAMESPACE,
                values: pulumi
                    .all([a.clusterName, a.vpcId, this.controllerRole.roleArn])
                    .apply(([cluster, vpc, role]) => controllerValues(a, cluster, vpc, role)),
                // Roll back a failed upgrade instead of leaving the webhook half-installed.
                atomic: true,
                maxHistory: 10,
            },
            { parent: this },
        );

        let accessLogBucketName: pulumi.Output<string | undefined> = pulumi.output(undefined);
        const ingressDependsOn: pulumi.Resource[] = [this.controller];
        if (a.accessLogs) {
            const stateful = { parent: this, protect: a.protect, retainOnDelete: a.protect };
            const logs = new aws.s3.Bucket(`${name}-logs`, { forceDestroy: a.forceDestroyLogs }, stateful);
            this.accessLogBucket = logs;
            const publicAccess = new aws.s3.BucketPublicAccessBlock(
                `${name}-logs-public-access`,
                { bucket: logs.bucket, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
                { parent: this },
            );
            new aws.s3.BucketOwnershipControls(`${name}-logs-ownership`, { bucket: logs.bucket, rule: { objectOwnership: "BucketOwnerEnforced" } }, { parent: this });
            new aws.s3.BucketServerSideEncryptionConfiguration(
                `${name}-logs-encryption`,
                // ALB log delivery supports SSE-S3 only (not SSE-KMS).
                { bucket: logs.bucket, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
                { parent: this },
            );
            // Versioned so a log object cannot be silently overwritten or deleted before it expires.
            const versioning = new aws.s3.BucketVersioning(
                `${name}-logs-versioning`,
                { bucket: logs.bucket, versioningConfiguration: { status: "Enabled" } },
                { parent: this },
            );
            new aws.s3.BucketLifecycleConfiguration(
                `${name}-logs-lifecycle`,
                {
                    bucket: logs.bucket,
                    rules: [
                        {
                            id: "expire-access-logs",
                            status: "Enabled",
                            filter: {},
                            expiration: { days: a.accessLogRetentionDays },
                            noncurrentVersionExpiration: { noncurrentDays: 1 },
                        },
                        { id: "abort-incomplete-multipart-uploads", status: "Enabled", filter: {}, abortIncompleteMultipartUpload: { daysAfterInitiation: 1 } },
                    ],
                },
                { parent: this, dependsOn: [versioning] },
            );
            const elbAccount = aws.elb.getServiceAccountOutput({ region: a.region }, { parent: this });
            const caller = aws.getCallerIdentityOutput({}, { parent: this });
            const logPolicy = new aws.s3.BucketPolicy(
                `${name}-logs-policy`,
                {
                    bucket: logs.bucket,
                    policy: pulumi.all([logs.arn, elbAccount.arn, caller.accountId]).apply(([b, elb, acct]) => accessLogBucketPolicy(b, elb, acct)),
                },
                { parent: this, dependsOn: [publicAccess] },
            );
            accessLogBucketName = logs.bucket;
            // The ALB checks that it may write to the bucket when access logs are switched on.
            ingressDependsOn.push(logPolicy);
        }

        this.ingress = new k8s.networking.v1.Ingress(
            `${name}-ingress`,
            {
                metadata: {
                    name: a.ingressName,
                    namespace: a.gatewayNamespace,
                    annotations: accessLogBucketName.apply((bucket) => albAnnotations(a, bucket)),
                    labels: { "app.kubernetes.io/part-of": "noa", "app.kubernetes.io/component": "ingress" },
                },
                spec: {
                    ingressClassName: "alb",
                    rules: [
                        {
                            http: {
                                paths: [
                                    {
                                        path: "/",
                                        pathType: "Prefix",
                                        backend: { service: { name: a.gatewayServiceName, port: { number: a.gatewayServicePort } } },
                                    },
                                ],
                            },
                        },
                    ],
                },
            },
            // The controller's admission webhook must be serving before an Ingress can be created.
            { parent: this, dependsOn: ingressDependsOn },
        );

        this.hostname = this.ingress.status.apply((s) => s?.loadBalancer?.ingress?.[0]?.hostname ?? "");
        this.registerOutputs({ hostname: this.hostname, controllerRoleArn: this.controllerRole.roleArn });
    }
}
