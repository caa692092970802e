import * as aws from "@pulumi/aws";
import * as k8s from "@pulumi/kubernetes";
import type { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy } from "@pulumi/policy";
import type * as pulumi from "@pulumi/pulumi";
import { describe } from "../lib/kubernetes";
import { boolean, fix, isUnknown, known, strings } from "../lib/policy";

export interface AlbConfig {
    requireHttpsRedirect: boolean;
    requireDeletionProtection: boolean;
    ingressClasses: string[];
}

const A = "alb.ingress.kubernetes.io/";

/** The load-balancer attributes annotation as a map (`deletion_protection.enabled=true,idle_timeout.timeout_seconds=60`). */
function attributes(value: string | undefined): Map<string, string> {
    return new Map((value ?? "").split(",").map((kv) => kv.trim()).filter(Boolean).map((kv) => {
        const i = kv.indexOf("=");
        return [kv.slice(0, i).trim(), kv.slice(i + 1).trim()] as [string, string];
    }));
}

/**
 * The ALB (provisioned by the AWS Load Balancer Controller from an Ingress,
 * or declared directly) sends plain HTTP to HTTPS and cannot be deleted by
 * accident — losing it changes the DNS name every client resolves.
 */
export const albIngress: ResourceValidationPolicy = {
    name: "alb-ingress",
    description: "ALBs (from an ALB Ingress, or aws.lb resources) redirect HTTP to HTTPS and (where configured) have deletion protection on.",
    severity: "high",
    remediationSteps: "On the ALB Ingress: listen-ports [{\"HTTP\":80},{\"HTTPS\":443}], ssl-redirect '443', certificate-arn, and load-balancer-attributes deletion_protection.enabled=true.",
    configSchema: {
        properties: {
            requireHttpsRedirect: boolean("Whether HTTP must redirect to HTTPS (needs a certificate).", true),
            requireDeletionProtection: boolean("Whether deletion protection must be on.", true),
            ingressClasses: strings("IngressClass names whose controller is the AWS Load Balancer Controller (ingress.k8s.aws/alb); Ingresses of these classes are ALBs.", ["alb"]),
        },
    },
    // One validation, typed through asType: the analyzer deserializes a resource once per validation function.
    validateResource: (args, reportViolation) => {
        const ingress = args.asType(k8s.networking.v1.Ingress);
        if (ingress) return checkIngress(ingress, args, reportViolation);
        // aws.alb.* are the same resources under their older module (type tokens of their own).
        const listener = args.asType(aws.lb.Listener) ?? args.asType(aws.alb.Listener);
        if (listener) return checkListener(listener, args, reportViolation);
        const lb = args.asType(aws.lb.LoadBalancer) ?? args.asType(aws.alb.LoadBalancer);
        if (lb) return checkLoadBalancer(lb, args, reportViolation);
        return args.notApplicable(`applies to Ingresses and aws.lb load balancers and listeners, not ${args.type}`);
    },
};

function checkIngress(ingress: pulumi.Unwrap<k8s.networking.v1.IngressArgs>, args: ResourceValidationArgs, reportViolation: ReportViolation): void {
    const annotations: Record<string, string> = (ingress.metadata?.annotations as Record<string, string>) ?? {};
    // Annotations built from outputs (an access-log bucket's name) are unknown in preview: judge what is known,
    // the rest when the Ingress is registered during the update.
    const annotation = (key: string) => known(() => annotations[key]);
    const deferred = (key: string) => isUnknown(() => annotations[key]);
    const cfg = args.getConfig<AlbConfig>();
    const className = ingress.spec?.ingressClassName ?? annotation("kubernetes.io/ingress.class");
    if (className === undefined || !cfg.ingressClasses.includes(className)) return args.notApplicable("not an ALB Ingress");
    const who = describe("Ingress", ingress, args.name);
    if (cfg.requireHttpsRedirect && !deferred(`${A}listen-ports`) && !deferred(`${A}ssl-redirect`)) {
        let ports: Array<Record<string, number>> = [];
        try {
            ports = JSON.parse(annotation(`${A}listen-ports`) ?? "[]");
        } catch {
            reportViolation(fix(`${who} has a ${A}listen-ports annotation that is not JSON.`, "write it like '[{\"HTTP\":80},{\"HTTPS\":443}]'."));
        }
        const https = ports.some((p) => "HTTPS" in p);
        if (!https || !annotation(`${A}ssl-redirect`)) {
            reportViolation(fix(`${who} does not redirect HTTP to HTTPS (${https ? "no ssl-redirect annotation" : "no HTTPS listener"}).`, `listen on [{"HTTP":80},{"HTTPS":443}], set ${A}certificate-arn and ${A}ssl-redirect: "443".`));
        }
    }
    const lbAttributes = `${A}load-balancer-attributes`;
    if (cfg.requireDeletionProtection && !deferred(lbAttributes) && attributes(annotation(lbAttributes)).get("deletion_protection.enabled") !== "true") {
        reportViolation(fix(`${who} provisions an ALB without deletion protection.`, `add deletion_protection.enabled=true to ${A}load-balancer-attributes.`));
    }
}

function checkListener(listener: pulumi.Unwrap<aws.lb.ListenerArgs>, args: ResourceValidationArgs, reportViolation: ReportViolation): void {
    if (listener.protocol !== "HTTP") return args.notApplicable("not a plain-HTTP listener");
    const cfg = args.getConfig<AlbConfig>();
    const redirects = (listener.defaultActions ?? []).some((a) => a.type === "redirect" && a.redirect?.protocol === "HTTPS");
    if (cfg.requireHttpsRedirect && !redirects) {
        reportViolation(fix(`Listener ${args.name} on port ${listener.port ?? "?"} serves plain HTTP instead of redirecting to HTTPS.`, "make its default action { type: \"redirect\", redirect: { protocol: \"HTTPS\", port: \"443\", statusCode: \"HTTP_301\" } }."));
    }
}

function checkLoadBalancer(lb: pulumi.Unwrap<aws.lb.LoadBalancerArgs>, args: ResourceValidationArgs, reportViolation: ReportViolation): void {
    const cfg = args.getConfig<AlbConfig>();
    if (cfg.requireDeletionProtection && lb.enableDeletionProtection !== true) {
        reportViolation(fix(`Load balancer ${known(() => lb.name) ?? args.name} has deletion protection off.`, "set enableDeletionProtection: true."));
    }
}
