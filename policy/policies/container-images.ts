import type { ResourceValidationPolicy } from "@pulumi/policy";
import { validateContainers } from "../lib/pods";
import { boolean, fix, strings } from "../lib/policy";

export interface ContainerImagesConfig {
    allowEcr: boolean;
    allowedRepositories: string[];
}

const ECR = /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?\//;
const DIGEST = /@sha256:[0-9a-f]{64}$/;
/** An exact release: major.minor.patch, optionally with a variant (`7.4.1-alpine`, `v1.27.3`). */
const EXACT_TAG = /^v?\d+\.\d+\.\d+([-+._][A-Za-z0-9._-]+)?$/;

/** Splits an image reference into its fully qualified repository (`docker.io/library/redis`) and tag. */
export function parseImage(image: string): { repository: string; tag: string | undefined; digest: boolean } {
    const digest = DIGEST.test(image);
    const withoutDigest = image.replace(/@sha256:[0-9a-f]+$/, "");
    const slash = withoutDigest.lastIndexOf("/");
    const colon = withoutDigest.lastIndexOf(":");
    const tag = colon > slash ? withoutDigest.slice(colon + 1) : undefined;
    let repository = colon > slash ? withoutDigest.slice(0, colon) : withoutDigest;
    const first = repository.split("/")[0];
    const hasRegistry = repository.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
    if (!hasRegistry) repository = `docker.io/${repository.includes("/") ? "" : "library/"}${repository}`;
    return { repository, tag, digest };
}

/**
 * Images are immutable references from registries we trust: a digest or an
 * exact version (never `latest` or a floating `7.2`), from ECR or an
 * allow-listed upstream repository.
 */
export const containerImages: ResourceValidationPolicy = {
    name: "container-images",
    description: "Every container image is pinned by digest or exact version (never latest or a floating tag) and comes from ECR or an allow-listed repository.",
    severity: "high",
    remediationSteps: "Reference images by digest (repo@sha256:…) or an exact major.minor.patch tag, from this account's ECR or a repository on the allow-list.",
    configSchema: {
        properties: {
            allowEcr: boolean("Whether images from any ECR registry (<account>.dkr.ecr.<region>.amazonaws.com) are allowed.", true),
            allowedRepositories: strings("Upstream repositories allowed besides ECR, fully qualified (docker.io/library/redis); an entry ending in / allows everything below it.", []),
        },
    },
    validateResource: validateContainers(({ container, where, args }, report) => {
        const cfg = args.getConfig<ContainerImagesConfig>();
        const image = container.image;
        if (!image) {
            report(fix(`${where} has no image.`, "set an image pinned by digest or exact version."));
            return;
        }
        const { repository, tag, digest } = parseImage(image);
        if (!digest && (tag === undefined || !EXACT_TAG.test(tag))) {
            report(fix(`${where} uses image ${image}, ${tag === undefined ? "which has no tag (means latest)" : `whose tag "${tag}" is not an exact version`}; the same manifest could run different code tomorrow.`, "pin it by digest (@sha256:…) or an exact major.minor.patch tag."));
        }
        const fromEcr = cfg.allowEcr && ECR.test(image);
        const allowed = fromEcr || cfg.allowedRepositories.some((a) => (a.endsWith("/") ? repository.startsWith(a) : repository === a));
        if (!allowed) {
            report(fix(`${where} pulls ${repository}, which is neither ECR nor on the allow-list (${cfg.allowedRepositories.join(", ") || "empty"}).`, "mirror the image into ECR, or add the repository to container-images.allowedRepositories in the policy config after review."));
        }
    }),
};
