/**
 * One resource validation over every container of every pod-running kind,
 * so the pod policies read as their rule and agree on what a container is.
 */
import type { ReportViolation, ResourceValidation, ResourceValidationArgs } from "@pulumi/policy";
import { Container, PodTemplate, containersOf, describe, podTemplateOf } from "./kubernetes";

export interface ContainerContext {
    container: Container;
    init: boolean;
    pod: PodTemplate;
    /** `Deployment noa/gateway container "app"` */
    where: string;
    args: ResourceValidationArgs;
}

export function validateContainers(check: (c: ContainerContext, report: ReportViolation) => void): ResourceValidation {
    return (args, reportViolation) => {
        const pod = podTemplateOf(args.type, args.props);
        if (!pod) return args.notApplicable(`applies to pod-running kinds, not ${args.type}`);
        const owner = describe(pod.kind, args.props, args.name);
        for (const { container, init } of containersOf(pod.spec)) {
            const where = `${owner} ${init ? "init container" : "container"} "${container.name ?? "?"}"`;
            check({ container, init, pod, where, args }, reportViolation);
        }
    };
}
