import type { ResourceValidationPolicy } from "@pulumi/policy";
import { validateContainers } from "../lib/pods";
import { fix } from "../lib/policy";

/**
 * The restricted Pod Security Standard's core: no root, no privilege
 * escalation, no privileged containers — checked before the admission
 * controller would reject (or, in a baseline namespace, silently accept) it.
 */
export const containerSecurity: ResourceValidationPolicy = {
    name: "container-security",
    description: "Every container runs as non-root, cannot escalate privileges and is not privileged.",
    severity: "critical",
    remediationSteps: "Set securityContext.runAsNonRoot: true (pod or container), allowPrivilegeEscalation: false and never privileged: true.",
    configSchema: { properties: {} },
    validateResource: validateContainers(({ container, pod, where }, report) => {
        const sc = container.securityContext ?? {};
        const podSc = pod.spec.securityContext ?? {};
        const nonRoot = sc.runAsNonRoot ?? podSc.runAsNonRoot;
        const user = sc.runAsUser ?? podSc.runAsUser;
        if (nonRoot !== true || user === 0) {
            report(fix(`${where} may run as root (runAsNonRoot is ${nonRoot === undefined ? "unset" : nonRoot}${user === 0 ? ", runAsUser 0" : ""}).`, "set securityContext.runAsNonRoot: true and a non-zero runAsUser on the pod or the container."));
        }
        if (sc.allowPrivilegeEscalation !== false) {
            report(fix(`${where} allows privilege escalation (allowPrivilegeEscalation ${sc.allowPrivilegeEscalation === undefined ? "unset, defaults to true" : "true"}).`, "set securityContext.allowPrivilegeEscalation: false."));
        }
        if (sc.privileged === true) {
            report(fix(`${where} is privileged: it has every capability of the node.`, "remove securityContext.privileged; grant a specific capability if one is truly needed."));
        }
    }),
};
