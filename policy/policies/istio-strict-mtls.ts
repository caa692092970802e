import type { StackValidationPolicy } from "@pulumi/policy";
import { declaredObjects, PEER_AUTHENTICATION_TYPES } from "../lib/kubernetes";
import { boolean, fix } from "../lib/policy";

export interface MtlsConfig {
    requireStrict: boolean;
    rootNamespace: string;
}

/**
 * Mesh-wide STRICT mTLS: a PeerAuthentication in Istio's root namespace
 * without a selector, mode STRICT — and nothing that loosens it for a
 * namespace, workload or port.
 */
export const istioStrictMtls: StackValidationPolicy = {
    name: "istio-strict-mtls",
    description: "Where required, the mesh enforces STRICT mutual TLS: a mesh-wide PeerAuthentication in the root namespace with mode STRICT, and no PeerAuthentication that downgrades it.",
    severity: "high",
    remediationSteps: "Declare PeerAuthentication \"default\" in istio-system with spec.mtls.mode STRICT and remove PERMISSIVE/DISABLE overrides.",
    configSchema: {
        properties: {
            requireStrict: boolean("Whether mesh-wide STRICT mTLS is required.", true),
            rootNamespace: { type: "string", minLength: 1, default: "istio-system", description: "Istio's root namespace (meshConfig.rootNamespace)." },
        },
    },
    validateStack: (args, reportViolation) => {
        // What the program declared, not the live objects (lib/kubernetes.ts).
        const resources = declaredObjects(args.resources);
        const cfg = args.getConfig<MtlsConfig>();
        if (!cfg.requireStrict) return args.notApplicable("STRICT mTLS is not required in this environment");
        const pas = resources.filter((r) => PEER_AUTHENTICATION_TYPES.has(r.type));
        const selectorOf = (r: (typeof pas)[number]) => r.props.spec?.selector?.matchLabels;
        const meshWide = pas.filter((r) => r.props.metadata?.namespace === cfg.rootNamespace && (!selectorOf(r) || Object.keys(selectorOf(r)).length === 0));
        if (!meshWide.some((r) => r.props.spec?.mtls?.mode === "STRICT")) {
            reportViolation(fix(
                meshWide.length === 0
                    ? `No mesh-wide PeerAuthentication in ${cfg.rootNamespace}; sidecars accept plaintext (PERMISSIVE is Istio's default).`
                    : `The mesh-wide PeerAuthentication in ${cfg.rootNamespace} has mode ${meshWide.map((r) => r.props.spec?.mtls?.mode ?? "unset").join(", ")}, not STRICT.`,
                `declare PeerAuthentication "default" in ${cfg.rootNamespace} with spec.mtls.mode STRICT.`,
            ), meshWide[0]?.urn);
        }
        for (const r of pas) {
            const who = `PeerAuthentication ${r.props.metadata?.namespace ?? "default"}/${r.props.metadata?.name ?? r.name}`;
            const mode = r.props.spec?.mtls?.mode;
            if (mode === "PERMISSIVE" || mode === "DISABLE") {
                reportViolation(fix(`${who} sets mode ${mode}, downgrading the mesh's STRICT mTLS.`, "remove it, or set mode STRICT (UNSET inherits)."), r.urn);
            }
            for (const [port, m] of Object.entries<any>(r.props.spec?.portLevelMtls ?? {})) {
                if (m?.mode === "PERMISSIVE" || m?.mode === "DISABLE") {
                    reportViolation(fix(`${who} sets port ${port} to ${m.mode}, downgrading STRICT mTLS.`, "remove the port-level exception."), r.urn);
                }
            }
        }
    },
};
