/**
 * The pack, offline: `runPolicies(resources, env)` judges a plan's resources
 * (e.g. `@noa/offline` registrations from `evaluateStack`) with
 * `policy/config/<env>.json`, through the same analyzer code the Pulumi CLI
 * drives. Used by `npm run plan` and the end-to-end tests.
 */
import type { PolicyPackConfig } from "@pulumi/policy";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { PACK_NAME, policies } from "./policies";
import type { PlannedResource } from "./runtime/requests";
import { RunOptions, Violation, runPolicyList } from "./runtime/run";

export type { PlannedResource } from "./runtime/requests";
export type { Violation } from "./runtime/run";
export { PolicyConfigError } from "./runtime/config";

export const CONFIG_DIR = path.join(__dirname, "config");

/** The environments that have a policy config (`policy/config/<env>.json`). */
export function policyEnvironments(): string[] {
    return readdirSync(CONFIG_DIR).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)).sort();
}

/** Reads `policy/config/<env>.json`. */
export function readPolicyConfig(env: string): PolicyPackConfig {
    const file = path.join(CONFIG_DIR, `${env}.json`);
    if (!/^[A-Za-z0-9_-]+$/.test(env) || !existsSync(file)) {
        throw new Error(`no policy config for environment ${JSON.stringify(env)} (have: ${policyEnvironments().join(", ")}; add policy/config/${env}.json)`);
    }
    return JSON.parse(readFileSync(file, "utf8"));
}

/**
 * Runs the whole pack over `resources` with the environment's policy config.
 * `overrides` replaces the config (tests) or adds stack details.
 */
export function runPolicies(resources: PlannedResource[], env: string, overrides: Partial<RunOptions> = {}): Promise<Violation[]> {
    return runPolicyList(PACK_NAME, policies, resources, {
        config: overrides.config ?? readPolicyConfig(env),
        configSource: overrides.configSource ?? `policy/config/${env}.json`,
        ...overrides,
    });
}

/** What `runPolicies` runs for an environment: the pack's name, its number of policies and the config file. */
export function packSummary(env: string): { name: string; policies: number; config: string } {
    return { name: PACK_NAME, policies: policies.length, config: `policy/config/${env}.json` };
}
