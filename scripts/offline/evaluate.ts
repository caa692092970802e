/**
 * Evaluates the real program (`infra/`) for a stack under the offline
 * harness, inside a `pulumi:pulumi:Stack` root exactly as the Pulumi CLI runs
 * it, and returns what it registered. Shared by the plan CLI and the
 * whole-program tests.
 */
import * as pulumi from "@pulumi/pulumi";
import { runInPulumiStack } from "@pulumi/pulumi/runtime/stack";
import * as path from "node:path";
import { harness, Registration } from "./mocks";
import { readStackConfig, REPO_ROOT } from "./stack-config";

export interface Evaluation {
    stack: string;
    /** Every resource the program registered, in registration order (the stack root first). */
    resources: Registration[];
    /** The stack outputs with every Output resolved (secrets as "[secret]"). */
    outputs: Record<string, unknown>;
}

/** Resolves Outputs inside a value; secrets become "[secret]". */
async function resolveDeep(value: unknown): Promise<unknown> {
    if (pulumi.Output.isInstance(value)) {
        const out = value as pulumi.Output<unknown>;
        const [resolved, secret] = await Promise.all([
            new Promise<unknown>((resolve) => out.apply((v) => resolve(v))),
            (out as any).isSecret as Promise<boolean>,
        ]);
        return secret ? "[secret]" : resolveDeep(resolved);
    }
    if (pulumi.Resource.isInstance(value)) {
        return new Promise((resolve) => (value as pulumi.Resource).urn.apply((u) => resolve(u)));
    }
    if (Array.isArray(value)) return Promise.all(value.map(resolveDeep));
    if (value && typeof value === "object") {
        const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await resolveDeep(v)] as const));
        return Object.fromEntries(entries);
    }
    return value;
}

/**
 * Runs the program once for `stack` with the config from `Pulumi.<stack>.yaml`
 * (or `rawConfig`, for tests that mutate a stack's config). Throws the
 * program's own error (a `ConfigError` for bad config).
 */
export async function evaluateStack(stack: string, rawConfig?: Record<string, string>): Promise<Evaluation> {
    const { config, secretKeys } = rawConfig ? { config: rawConfig, secretKeys: [] } : readStackConfig(stack);
    harness.install({ stack, config, secretKeys });
    harness.reset();
    // Loaded lazily: the program's modules must see the mocks installed above.
    const program: () => Promise<Record<string, unknown>> = require(path.join(REPO_ROOT, "infra"));
    let outputs: unknown = {};
    await runInPulumiStack(async () => {
        outputs = await program();
        return outputs;
    });
    const resources = [...(await harness.settle())];
    return { stack, resources, outputs: (await resolveDeep(outputs)) as Record<string, unknown> };
}

/** Reads a stack's raw config (for tests that mutate one key and evaluate). */
export { readStackConfig } from "./stack-config";
