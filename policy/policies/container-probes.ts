import type { ResourceValidationPolicy } from "@pulumi/policy";
import { LONG_RUNNING_KINDS } from "../lib/kubernetes";
import { validateContainers } from "../lib/pods";
import { fix } from "../lib/policy";

/**
 * A long-running container without a readiness probe takes traffic before it
 * can serve (and during shutdown); without a liveness probe a wedged process
 * is never restarted.
 */
export const containerProbes: ResourceValidationPolicy = {
    name: "container-probes",
    description: "Every container of a Deployment, StatefulSet, DaemonSet or ReplicaSet declares a readiness probe and a liveness probe.",
    severity: "medium",
    remediationSteps: "Add readinessProbe (the service's /health/ready) and livenessProbe (/health) to each container.",
    configSchema: { properties: {} },
    validateResource: validateContainers(({ container, init, pod, where }, report) => {
        if (init || !LONG_RUNNING_KINDS.has(pod.kind)) return;
        const missing = [container.readinessProbe ? "" : "readinessProbe", container.livenessProbe ? "" : "livenessProbe"].filter(Boolean);
        if (missing.length > 0) report(fix(`${where} has no ${missing.join(" and no ")}.`, "add a readinessProbe that fails while dependencies are unavailable and a livenessProbe that fails only when the process is wedged."));
    }),
};
