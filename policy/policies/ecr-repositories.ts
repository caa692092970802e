import * as aws from "@pulumi/aws";
import { ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import { fix, known } from "../lib/policy";

/**
 * An immutable tag always names the same image (so a digest-pinned
 * deployment and its tag agree), and scan-on-push reports known CVEs before
 * anything runs the image.
 */
export const ecrRepositories: ResourceValidationPolicy = {
    name: "ecr-repositories",
    description: "ECR repositories use immutable tags and scan images on push.",
    severity: "medium",
    remediationSteps: "Set imageTagMutability: \"IMMUTABLE\" and imageScanningConfiguration: { scanOnPush: true }.",
    configSchema: { properties: {} },
    validateResource: validateResourceOfType(aws.ecr.Repository, (repo, args, reportViolation) => {
        const who = `ECR repository ${known(() => repo.name) ?? args.name}`;
        if (repo.imageTagMutability !== "IMMUTABLE") {
            reportViolation(fix(`${who} has ${repo.imageTagMutability ?? "MUTABLE (default)"} tags; a pushed tag can be overwritten.`, "set imageTagMutability: \"IMMUTABLE\" and push a new tag per build."));
        }
        if (repo.imageScanningConfiguration?.scanOnPush !== true) {
            reportViolation(fix(`${who} does not scan images on push.`, "set imageScanningConfiguration: { scanOnPush: true }."));
        }
    }),
};
