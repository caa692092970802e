/**
 * Policy pack config the way the Pulumi CLI prepares it before it calls the
 * analyzer's `Configure`: every policy starts from its schema's defaults and
 * its own (or the pack's) enforcement level, `all` sets every level, the
 * file's values overlay per policy, and the result is validated against each
 * policy's `configSchema` (pkg/resource/analyzer `ReconcilePolicyPackConfig`).
 *
 * One deliberate difference: a key no schema declares, or a policy name the
 * pack does not have, is an error here (the CLI ignores both) — in a config
 * file those are typos that silently disable a threshold.
 */
import type { EnforcementLevel, Policies, PolicyPackConfig } from "@pulumi/policy";
import Ajv from "ajv";

export interface ReconciledPolicyConfig {
    enforcementLevel: EnforcementLevel;
    properties: Record<string, unknown>;
}

export type ReconciledConfig = Record<string, ReconciledPolicyConfig>;

export class PolicyConfigError extends Error {
    constructor(readonly problems: string[], source: string) {
        super(`policy config ${source} is invalid:\n  - ${problems.join("\n  - ")}`);
        this.name = "PolicyConfigError";
    }
}

const LEVELS: readonly EnforcementLevel[] = ["advisory", "mandatory", "remediate", "disabled"];
const ajv = new Ajv({ allErrors: true, strict: true });
/** Compiled once per policy object: a plan reconciles on every run. */
const validators = new WeakMap<object, ReturnType<typeof ajv.compile>>();

/** The JSON schema a policy's config must satisfy (its `configSchema`, closed to unknown keys). */
export function configJsonSchema(policy: Policies[number]): object {
    return {
        type: "object",
        properties: policy.configSchema?.properties ?? {},
        required: policy.configSchema?.required ?? [],
        additionalProperties: false,
    };
}

export function reconcileConfig(
    policies: Policies,
    given: PolicyPackConfig = {},
    packLevel: EnforcementLevel = "mandatory",
    source = "(inline)",
): ReconciledConfig {
    const problems: string[] = [];
    const result: ReconciledConfig = {};
    const byName = new Map(policies.map((p) => [p.name, p]));
    for (const p of policies) {
        const properties: Record<string, unknown> = {};
        for (const [k, schema] of Object.entries(p.configSchema?.properties ?? {})) {
            if (typeof schema === "object" && schema.default !== undefined) properties[k] = structuredClone(schema.default);
        }
        result[p.name] = { enforcementLevel: p.enforcementLevel ?? packLevel, properties };
    }
    const checkLevel = (where: string, level: unknown): level is EnforcementLevel => {
        if (LEVELS.includes(level as EnforcementLevel)) return true;
        problems.push(`${where}.enforcementLevel (${JSON.stringify(level)}) must be one of ${LEVELS.join(", ")}`);
        return false;
    };
    const all = given.all;
    if (all !== undefined) {
        const level = typeof all === "string" ? all : all.enforcementLevel;
        if (checkLevel("all", level)) for (const c of Object.values(result)) c.enforcementLevel = level;
    }
    for (const [name, value] of Object.entries(given)) {
        if (name === "all") continue;
        if (!byName.has(name)) {
            problems.push(`${name} is not a policy of this pack (policies: ${[...byName.keys()].join(", ")})`);
            continue;
        }
        if (typeof value === "string") {
            if (checkLevel(name, value)) result[name].enforcementLevel = value;
            continue;
        }
        const { enforcementLevel, ...properties } = value;
        if (enforcementLevel !== undefined && checkLevel(name, enforcementLevel)) result[name].enforcementLevel = enforcementLevel;
        Object.assign(result[name].properties, properties);
    }
    for (const p of policies) {
        let validate = validators.get(p);
        if (!validate) validators.set(p, (validate = ajv.compile(configJsonSchema(p))));
        if (!validate(result[p.name].properties)) {
            for (const e of validate.errors ?? []) {
                const at = `${p.name}${e.instancePath.replace(/\//g, ".")}`;
                const extra = e.keyword === "additionalProperties" ? ` (${JSON.stringify((e.params as any).additionalProperty)})` : "";
                problems.push(`${at} ${e.message}${extra}`);
            }
        }
    }
    if (problems.length > 0) throw new PolicyConfigError(problems, source);
    return result;
}
