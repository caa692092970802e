import type { ResourceValidationPolicy } from "@pulumi/policy";
import { validateContainers } from "../lib/pods";
import { fix } from "../lib/policy";

/** Advisory: a writable root filesystem lets an intruder persist tooling; write to emptyDir or volumes instead. */
export const readOnlyRootFilesystem: ResourceValidationPolicy = {
    name: "read-only-root-filesystem",
    description: "Containers run with a read-only root filesystem.",
    // Advisory unless the environment's config raises it: many upstream images still write to their root filesystem.
    enforcementLevel: "advisory",
    severity: "low",
    remediationSteps: "Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir wherever the process writes (e.g. /tmp).",
    configSchema: { properties: {} },
    validateResource: validateContainers(({ container, init, where }, report) => {
        if (init) return;
        if (container.securityContext?.readOnlyRootFilesystem !== true) {
            report(fix(`${where} has a writable root filesystem.`, "set securityContext.readOnlyRootFilesystem: true and mount an emptyDir for scratch paths."));
        }
    }),
};
