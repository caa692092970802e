import * as aws from "@pulumi/aws";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { statSync } from "node:fs";
import * as path from "node:path";
import { sourceTag } from "./source-hash";

export const IMAGE_PLATFORMS = ["linux/amd64", "linux/arm64"] as const;
export type ImagePlatform = (typeof IMAGE_PLATFORMS)[number];

export interface ServiceImageArgs {
    /**
     * The Docker build context, relative to the working directory (the Pulumi
     * project directory during `pulumi up`) or absolute. Must exist. Required.
     */
    readonly context: string;
    /**
     * The Dockerfile, relative to the working directory like `context` (the
     * docker provider's convention) or absolute. Must exist. Default:
     * `<context>/Dockerfile`.
     */
    readonly dockerfile?: string;
    /** Target platform of the build. Default: `linux/amd64`. */
    readonly platform?: ImagePlatform;
    /** `--build-arg` values. Default: none. */
    readonly buildArgs?: Record<string, string>;
    /** Multi-stage build target. Default: the Dockerfile's last stage. */
    readonly target?: string;
    /** ECR repository name (lowercase, `/`-separated path allowed). Default: the component name. */
    readonly repositoryName?: string;
    /**
     * How many images the ECR lifecycle policy keeps; older ones expire.
     * Keep it above the number of releases you may roll back to. Default: 30.
     */
    readonly keepLast?: number;
    /**
     * Image tag. Default: `src-<hash>`, a content hash of the filtered build
     * context, the Dockerfile and the build settings. The repository's tags are
     * IMMUTABLE, so a tag must never be reused for different content: set this
     * only to a value with that guarantee (e.g. the commit SHA of a clean CI
     * checkout), never to a fixed name such as `latest`.
     */
    readonly tag?: string;
    /**
     * Customer-managed KMS key for the repository. Default: none — KMS
     * encryption with the AWS-managed `aws/ecr` key (encryption at rest with
     * CloudTrail-visible key use, no key to manage). Changing it replaces the
     * repository.
     */
    readonly kmsKeyArn?: pulumi.Input<string>;
    /**
     * Let `pulumi destroy` delete the repository while it still holds images
     * (dev). Default: false.
     */
    readonly forceDelete?: boolean;
    /** Tags on the repository. Default: none. */
    readonly tags?: Record<string, string>;
}

/** `ServiceImageArgs` with defaults applied and paths checked. */
export interface NormalizedServiceImageArgs {
    readonly context: string;
    readonly dockerfile: string;
    readonly platform: ImagePlatform;
    readonly buildArgs: Record<string, string>;
    readonly target: string | undefined;
    readonly repositoryName: string;
    readonly keepLast: number;
    readonly tag: string | undefined;
    readonly kmsKeyArn: pulumi.Input<string> | undefined;
    readonly forceDelete: boolean;
    readonly tags: Record<string, string>;
}

const REPOSITORY_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;
const DOCKER_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const BUILD_ARG = /^[A-Za-z_][A-Za-z0-9_]*$/;

function kind(p: string): "dir" | "file" | "missing" | "other" {
    try {
        const s = statSync(p);
        return s.isDirectory() ? "dir" : s.isFile() ? "file" : "other";
    } catch {
        return "missing";
    }
}

/**
 * Applies defaults and validates everything — including that the context
 * folder and the Dockerfile exist — before any resource is registered.
 * Throws one error listing every problem with its key and value.
 */
export function normalizeServiceImageArgs(name: string, args: ServiceImageArgs): NormalizedServiceImageArgs {
    const problems: string[] = [];
    const at = (key: string, value: unknown, message: string) => problems.push(`${key} (${JSON.stringify(value)}) ${message}`);

    const context = args.context;
    const contextKind = typeof context === "string" && context.length > 0 ? kind(context) : "missing";
    if (contextKind === "missing") at("context", context, `does not exist (resolved to ${path.resolve(String(context ?? ""))})`);
    else if (contextKind !== "dir") at("context", context, "is not a folder");

    const dockerfile = args.dockerfile ?? path.join(context ?? "", "Dockerfile");
    const dockerfileKind = kind(dockerfile);
    if (dockerfileKind === "missing") at("dockerfile", dockerfile, `does not exist (resolved to ${path.resolve(dockerfile)})`);
    else if (dockerfileKind !== "file") at("dockerfile", dockerfile, "is not a file");

    const platform = args.platform ?? "linux/amd64";
    if (!(IMAGE_PLATFORMS as readonly string[]).includes(platform)) at("platform", platform, `must be one of ${IMAGE_PLATFORMS.join(", ")}`);

    const repositoryName = args.repositoryName ?? name;
    if (repositoryName.length < 2 || repositoryName.length > 256 || !REPOSITORY_NAME.test(repositoryName)) {
        at("repositoryName", repositoryName, "is not an ECR repository name (lowercase letters, digits, ._- and / separators, 2–256 characters)");
    }
    const keepLast = args.keepLast ?? 30;
    if (!Number.isInteger(keepLast) || keepLast < 1 || keepLast > 1000) at("keepLast", keepLast, "must be a whole number from 1 to 1000");
    if (args.tag !== undefined && !DOCKER_TAG.test(args.tag)) at("tag", args.tag, "is not a Docker tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
    if (args.tag !== undefined && args.tag === "latest") at("tag", args.tag, "is a moving name; the repository's tags are immutable, so it could be pushed only once");
    const buildArgs = args.buildArgs ?? {};
    for (const key of Object.keys(buildArgs)) {
        if (!BUILD_ARG.test(key)) at(`buildArgs.${key}`, buildArgs[key], "has a key that is not a valid build argument name");
    }

    if (problems.length > 0) throw new Error(`ServiceImage "${name}": ${problems.join("; ")}`);
    return {
        context,
        dockerfile,
        platform,
        buildArgs,
        target: args.target,
        repositoryName,
        keepLast,
        tag: args.tag,
        kmsKeyArn: args.kmsKeyArn,
        forceDelete: args.forceDelete ?? false,
        tags: args.tags ?? {},
    };
}

/** The ECR lifecycle policy: keep the newest `keepLast` images, expire the rest. */
export function lifecyclePolicy(keepLast: number): string {
    return JSON.stringify({
        rules: [
            {
                rulePriority: 1,
                description: `Keep the last ${keepLast} images`,
                selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: keepLast },
                action: { type: "expire" },
            },
        ],
    });
}

/**
 * One service's image: an ECR repository (immutable tags, scan on push, KMS
 * encryption, lifecycle policy) and a `docker.Image` built from the
 * service's Dockerfile and pushed with an ECR token. Deployments consume
 * `repoDigest` (`<repo>@sha256:…`), so a rebuild changes the pod spec and
 * rolls the pods, while an unchanged build leaves them alone.
 */
export class ServiceImage extends pulumi.ComponentResource {
    /** The ECR repository. */
    public readonly repository: aws.ecr.Repository;
    /** The built and pushed image. */
    public readonly image: docker.Image;
    /** `<account>.dkr.ecr.<region>.amazonaws.com/<name>`. */
    public readonly repositoryUrl: pulumi.Output<string>;
    /** The pushed image by digest (`<repositoryUrl>@sha256:…`): what deployments reference. */
    public readonly repoDigest: pulumi.Output<string>;
    /** The tag pushed (see `ServiceImageArgs.tag`). */
    public readonly tag: string;

    constructor(name: string, args: ServiceImageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("noa:images:ServiceImage", name, {}, opts);
        const a = normalizeServiceImageArgs(name, args);
        this.tag = a.tag ?? sourceTag(a.context, a.dockerfile, { platform: a.platform, buildArgs: a.buildArgs, target: a.target });

        this.repository = new aws.ecr.Repository(
            `${name}-repo`,
            {
                name: a.repositoryName,
                imageTagMutability: "IMMUTABLE",
                imageScanningConfiguration: { scanOnPush: true },
                encryptionConfigurations: [a.kmsKeyArn ? { encryptionType: "KMS", kmsKey: a.kmsKeyArn } : { encryptionType: "KMS" }],
                forceDelete: a.forceDelete,
                tags: a.tags,
            },
            { parent: this },
        );

        new aws.ecr.LifecyclePolicy(
            `${name}-lifecycle`,
            { repository: this.repository.name, policy: lifecyclePolicy(a.keepLast) },
            { parent: this },
        );

        // The token is fetched through this component so the invoke uses the
        // same AWS provider (account and region) as the repository.
        const token = aws.ecr.getAuthorizationTokenOutput({ registryId: this.repository.registryId }, { parent: this });

        this.image = new docker.Image(
            `${name}-image`,
            {
                imageName: pulumi.interpolate`${this.repository.repositoryUrl}:${this.tag}`,
                build: {
                    context: a.context,
                    dockerfile: a.dockerfile,
                    platform: a.platform,
                    args: a.buildArgs,
                    ...(a.target ? { target: a.target } : {}),
                },
                registry: {
                    server: this.repository.repositoryUrl,
                    username: token.userName,
                    password: pulumi.secret(token.password),
                },
            },
            { parent: this },
        );

        this.repositoryUrl = this.repository.repositoryUrl;
        this.repoDigest = this.image.repoDigest;
        this.registerOutputs({ repositoryUrl: this.repositoryUrl, repoDigest: this.repoDigest, tag: this.tag });
    }
}
