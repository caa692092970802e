import type { ResourceValidationPolicy } from "@pulumi/policy";
import { parseQuantity } from "../lib/kubernetes";
import { validateContainers } from "../lib/pods";
import { fix, quantity } from "../lib/policy";

export interface ContainerResourcesConfig {
    maxCpuLimit: string;
    maxMemoryLimit: string;
}

/**
 * Requests let the scheduler and the HPA's utilisation maths work; a memory
 * limit keeps one leaking pod from taking down its node; the caps keep any
 * container schedulable on the environment's nodes.
 */
export const containerResources: ResourceValidationPolicy = {
    name: "container-resources",
    description: "Every container sets CPU and memory requests and a memory limit, requests do not exceed limits, and limits stay under the environment's caps.",
    severity: "high",
    remediationSteps: "Set resources.requests.cpu, resources.requests.memory and resources.limits.memory on every container (and init container), within the environment's caps.",
    configSchema: {
        properties: {
            maxCpuLimit: quantity("Largest CPU limit a container may set (Kubernetes quantity).", "4"),
            maxMemoryLimit: quantity("Largest memory limit a container may set (Kubernetes quantity).", "8Gi"),
        },
    },
    validateResource: validateContainers(({ container, where, args }, report) => {
        const cfg = args.getConfig<ContainerResourcesConfig>();
        const requests = container.resources?.requests ?? {};
        const limits = container.resources?.limits ?? {};
        const missing = [
            requests.cpu === undefined ? "requests.cpu" : "",
            requests.memory === undefined ? "requests.memory" : "",
            limits.memory === undefined ? "limits.memory" : "",
        ].filter(Boolean);
        if (missing.length > 0) report(fix(`${where} does not set resources.${missing.join(", resources.")}.`, "set CPU and memory requests (what it needs) and a memory limit (where it gets OOM-killed instead of starving its node)."));
        for (const [resource, cap] of [["cpu", cfg.maxCpuLimit], ["memory", cfg.maxMemoryLimit]] as const) {
            const request = requests[resource];
            const limit = limits[resource];
            for (const [field, value] of [["requests", request], ["limits", limit]] as const) {
                if (value !== undefined && Number.isNaN(parseQuantity(value))) report(fix(`${where} has resources.${field}.${resource} ${JSON.stringify(value)}, which is not a Kubernetes quantity.`, `write it like "500m", "1" or "512Mi".`));
            }
            if (limit !== undefined && parseQuantity(limit) > parseQuantity(cap)) report(fix(`${where} has resources.limits.${resource} ${limit}, above the environment's cap of ${cap}.`, `lower it to at most ${cap} and scale out instead.`));
            if (request !== undefined && limit !== undefined && parseQuantity(request) > parseQuantity(limit)) report(fix(`${where} requests ${resource} ${request}, more than its limit ${limit}; the API server rejects it.`, "make the request at most the limit."));
        }
    }),
};
