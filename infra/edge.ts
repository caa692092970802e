/**
 * The edge of the platform: the application bucket and the service images
 * (wiring step 2), and the ALB in front of the Istio ingress gateway (step 5).
 * Composition only — the components own every resource decision.
 */
import { AlbIngress, type AlbIngressArgs } from "@noa/components/ingress";
import { ServiceImage } from "@noa/components/images";
import { AppBucket, type AppBucketArgs } from "@noa/components/storage";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import type { NoaConfig } from "./config";

/** Every folder in `services/` that is built into an image. */
export const IMAGE_SERVICES = ["gateway", "users", "workflows", "storage", "worker", "migrate"] as const;
export type ImageService = (typeof IMAGE_SERVICES)[number];

/** The Docker build context: the repository root (services/README.md). */
const REPO_ROOT = path.resolve(__dirname, "..");

/**
 * Paths relative to the working directory, which is the repository root
 * during `pulumi up`: the docker provider stores them in state, so they must
 * not depend on where the checkout lives.
 */
function buildPaths(service: ImageService): { context: string; dockerfile: string } {
    const context = path.relative(process.cwd(), REPO_ROOT) || ".";
    return { context, dockerfile: path.join(context, "services", service, "Dockerfile") };
}

/** What the edge needs from the cluster (the EksCluster component's outputs). */
export interface EdgeCluster {
    /** EKS cluster name. */
    readonly clusterName: pulumi.Input<string>;
    /** IAM OIDC provider ARN (IRSA). */
    readonly oidcProviderArn: pulumi.Input<string>;
    /** OIDC issuer URL (IRSA). */
    readonly oidcIssuerUrl: pulumi.Input<string>;
    /** The Kubernetes provider for the cluster. */
    readonly provider: k8s.Provider;
}

export interface StorageAndImages {
    readonly bucket: AppBucket;
    readonly images: Record<ImageService, ServiceImage>;
    /** Service → `<repo>@sha256:…`, for the deployments. */
    readonly imageDigests: Record<ImageService, pulumi.Output<string>>;
}

/** Step 2: the application bucket (with the storage service's IRSA role) and one image per service. */
export function deployStorageAndImages(config: NoaConfig, deps: { cluster: Pick<EdgeCluster, "oidcProviderArn" | "oidcIssuerUrl"> }, ctx: { stack: string }): StorageAndImages {
    return { bucket: deployStorage(config, deps, ctx), ...deployImages(config, ctx) };
}

/** The application bucket and the `noa/storage` service account's IRSA role. */
export function deployStorage(config: NoaConfig, deps: { cluster: Pick<EdgeCluster, "oidcProviderArn" | "oidcIssuerUrl"> }, ctx: { stack: string }): AppBucket {
    return new AppBucket(`noa-${ctx.stack}-objects`, appBucketArgs(config, deps, ctx));
}

/** The AppBucket component's args (also checked by the preflight, before any resource). */
export function appBucketArgs(config: NoaConfig, deps: { cluster: Pick<EdgeCluster, "oidcProviderArn" | "oidcIssuerUrl"> }, ctx: { stack: string }): AppBucketArgs {
    return {
        protect: config.protectStateful,
        versioning: config.storage.versioning,
        noncurrentVersionExpirationDays: config.storage.noncurrentVersionExpirationDays,
        abortIncompleteUploadDays: config.storage.abortIncompleteUploadDays,
        intelligentTieringDays: config.storage.intelligentTieringDays,
        forceDestroy: config.storage.forceDestroy,
        oidcProviderArn: deps.cluster.oidcProviderArn,
        oidcIssuerUrl: deps.cluster.oidcIssuerUrl,
        serviceAccountNamespace: "noa",
        serviceAccountName: "storage",
        tags: { "noa:stack": ctx.stack, "noa:component": "storage" },
    };
}

/** One ECR repository and image per service folder; the digests roll the deployments. */
export function deployImages(config: NoaConfig, ctx: { stack: string }): Pick<StorageAndImages, "images" | "imageDigests"> {
    const images = {} as Record<ImageService, ServiceImage>;
    const imageDigests = {} as Record<ImageService, pulumi.Output<string>>;
    for (const service of IMAGE_SERVICES) {
        images[service] = new ServiceImage(`noa-${ctx.stack}-${service}`, {
            ...buildPaths(service),
            platform: config.images.platform,
            keepLast: config.images.keepLast,
            forceDelete: config.images.forceDelete,
            repositoryName: `noa/${ctx.stack.toLowerCase()}/${service}`,
            tags: { "noa:stack": ctx.stack, "noa:service": service },
        });
        imageDigests[service] = images[service].repoDigest;
    }
    return { images, imageDigests };
}

/** The ingress gateway to put the ALB in front of (the IstioMesh component's outputs). */
export interface EdgeGateway {
    readonly namespace: pulumi.Input<string>;
    readonly serviceName: pulumi.Input<string>;
    readonly statusPort: number;
}

/** The contract defaults (shared names): used until the mesh supplies its own outputs. */
export const DEFAULT_GATEWAY: EdgeGateway = { namespace: "istio-ingress", serviceName: "istio-ingressgateway", statusPort: 15021 };

/** Step 5: the AWS Load Balancer Controller and the ALB Ingress for the mesh's ingress gateway. */
export function deployIngress(
    config: NoaConfig,
    deps: { cluster: EdgeCluster; vpc: { vpcId: pulumi.Input<string> }; gateway?: EdgeGateway },
    ctx: { stack: string },
): AlbIngress {
    return new AlbIngress(`noa-${ctx.stack}-alb`, albIngressArgs(config, deps), { providers: { kubernetes: deps.cluster.provider } });
}

/** The AlbIngress component's args (also checked by the preflight, before any resource). */
export function albIngressArgs(
    config: NoaConfig,
    deps: { cluster: Omit<EdgeCluster, "provider">; vpc: { vpcId: pulumi.Input<string> }; gateway?: EdgeGateway },
): AlbIngressArgs {
    const gateway = deps.gateway ?? DEFAULT_GATEWAY;
    return {
            clusterName: deps.cluster.clusterName,
            region: config.region,
            vpcId: deps.vpc.vpcId,
            oidcProviderArn: deps.cluster.oidcProviderArn,
            oidcIssuerUrl: deps.cluster.oidcIssuerUrl,
            gatewayNamespace: gateway.namespace,
            gatewayServiceName: gateway.serviceName,
            gatewayServicePort: 80,
            healthCheckPort: gateway.statusPort,
            certificateArn: config.ingress.certificateArn,
            inboundCidrs: config.ingress.allowedCidrs,
            idleTimeoutSeconds: config.ingress.idleTimeoutSeconds,
            deletionProtection: config.ingress.deletionProtection,
            accessLogs: config.ingress.accessLogs,
            accessLogRetentionDays: config.ingress.accessLogRetentionDays,
            protect: config.protectStateful,
            // Dev tears down with its logs, like its bucket; a protected stack never does.
            forceDestroyLogs: !config.protectStateful && config.storage.forceDestroy,
            wafAclArn: config.ingress.wafAclArn,
            groupName: config.ingress.groupName,
    };
}
