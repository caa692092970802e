/**
 * The offline plan: `npm run plan -- <stack> [--json]`.
 *
 * Evaluates the real program for <stack> under the offline harness (config
 * from Pulumi.<stack>.yaml), prints what would be created — totals, counts per
 * resource type and the component tree — and runs the policy pack over it with
 * that environment's policy config. A fast, credential-free pre-flight; it
 * adds to `pulumi preview`, it never replaces it.
 *
 * Exit codes: 0 success, 1 a mandatory policy violation, 2 a config or
 * program error (its message on stderr).
 */
import { evaluateStack, Evaluation } from "./evaluate";
import { Registration } from "./mocks";
import { StackFileError } from "./stack-config";
import { packSummary, PolicyConfigError, runPolicies } from "@noa/policy/offline";

/** One policy finding, as the plan reports it. */
export interface Violation {
    policy: string;
    level: "mandatory" | "advisory" | "remediate" | "disabled";
    urn: string | undefined;
    message: string;
}

export interface PlanResult extends Evaluation {
    violations: Violation[];
    /** The pack that judged the plan (printed so "no violations" is visibly backed by a run). */
    pack: { name: string; policies: number; config: string };
}

const USAGE = "usage: npm run plan -- <stack> [--json]   (stacks: Pulumi.<stack>.yaml, e.g. dev, prod)";

/**
 * Runs the policy pack over an evaluation with its environment's policy
 * config (`policy/config/<noa:environment>.json`, the program's
 * `environment` output; the stack name when there is none).
 */
function environmentOf(evaluation: Evaluation): string {
    return typeof evaluation.outputs.environment === "string" ? evaluation.outputs.environment : evaluation.stack;
}

async function checkPolicies(evaluation: Evaluation): Promise<Violation[]> {
    const env = environmentOf(evaluation);
    return runPolicies(evaluation.resources, env, { stack: evaluation.stack, project: "noa" });
}

export async function plan(stack: string): Promise<PlanResult> {
    const evaluation = await evaluateStack(stack);
    const violations = await checkPolicies(evaluation);
    return { ...evaluation, violations, pack: packSummary(environmentOf(evaluation)) };
}

/** Inputs with every secret path replaced by "[secret]" (plans end up in CI logs). */
export function maskSecrets(r: Registration): Record<string, unknown> {
    const inputs = structuredClone(r.inputs);
    for (const p of r.secretPaths) {
        const parts = p.split(".");
        let node: any = inputs;
        for (let i = 0; i < parts.length - 1 && node; i++) node = node[parts[i]];
        if (node && parts[parts.length - 1] in node) node[parts[parts.length - 1]] = "[secret]";
    }
    return inputs;
}

/** The human-readable plan. */
export function renderPlan(result: PlanResult): string {
    const lines: string[] = [];
    const managed = result.resources.filter((r) => r.type !== "pulumi:pulumi:Stack");
    const custom = managed.filter((r) => r.custom);
    lines.push(`Offline plan for stack "${result.stack}": ${managed.length} resources (${custom.length} provider resources, ${managed.length - custom.length} components)`);
    lines.push("");
    lines.push("Resources by type:");
    const counts = new Map<string, number>();
    for (const r of managed) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
    const width = Math.max(...[...counts.values()].map((c) => String(c).length), 1);
    for (const [type, count] of [...counts.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
        lines.push(`  ${String(count).padStart(width)}  ${type}`);
    }
    lines.push("");
    lines.push("Component tree:");
    const children = new Map<string | undefined, Registration[]>();
    for (const r of result.resources) {
        const list = children.get(r.parent) ?? [];
        list.push(r);
        children.set(r.parent, list);
    }
    const walk = (urn: string | undefined, depth: number) => {
        for (const r of children.get(urn) ?? []) {
            const flags = [r.protect ? "protected" : "", r.retainOnDelete ? "retained on delete" : ""].filter(Boolean);
            lines.push(`${"  ".repeat(depth + 1)}${r.custom ? "+" : "■"} ${r.type}  ${r.name}${flags.length ? `  [${flags.join(", ")}]` : ""}`);
            walk(r.urn, depth + 1);
        }
    };
    walk(undefined, 0);
    lines.push("");
    if (Object.keys(result.outputs).length > 0) {
        lines.push("Outputs:");
        for (const [k, v] of Object.entries(result.outputs)) lines.push(`  ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);
        lines.push("");
    }
    const pack = `pack "${result.pack.name}", ${result.pack.policies} policies, ${result.pack.config}`;
    if (result.violations.length === 0) {
        lines.push(`Policies (${pack}): no violations.`);
    } else {
        lines.push(`Policies (${pack}): ${result.violations.length} violation(s):`);
        const byPolicy = new Map<string, Violation[]>();
        for (const v of result.violations) byPolicy.set(v.policy, [...(byPolicy.get(v.policy) ?? []), v]);
        for (const [policy, vs] of byPolicy) {
            lines.push(`  ${policy} (${vs[0].level}):`);
            for (const v of vs) lines.push(`    - ${v.urn ?? "(stack)"}: ${v.message}`);
        }
    }
    return lines.join("\n");
}

/** The `--json` document. */
export function planJson(result: PlanResult): string {
    return JSON.stringify({
        stack: result.stack,
        resources: result.resources.map((r) => ({ urn: r.urn, type: r.type, name: r.name, parent: r.parent ?? null, inputs: maskSecrets(r) })),
        violations: result.violations,
    });
}

async function main(argv: string[]): Promise<number> {
    const args = argv.filter((a) => a !== "--json");
    const json = argv.includes("--json");
    if (args.length !== 1 || args[0].startsWith("-")) {
        process.stderr.write(`${USAGE}\n`);
        return 2;
    }
    let result: PlanResult;
    try {
        result = await plan(args[0]);
    } catch (err) {
        const message = err instanceof StackFileError || err instanceof PolicyConfigError || (err as Error)?.name === "ConfigError" ? (err as Error).message : (err as Error)?.stack ?? String(err);
        process.stderr.write(`plan failed for stack "${args[0]}": ${message}\n`);
        return 2;
    }
    // Wait for the flush: process.exit() right after a large write to a pipe truncates it.
    await new Promise<void>((resolve) => process.stdout.write(`${json ? planJson(result) : renderPlan(result)}\n`, () => resolve()));
    return result.violations.some((v) => v.level === "mandatory") ? 1 : 0;
}

if (require.main === module) {
    // An error thrown inside an apply surfaces as an unhandled rejection: it is a program error.
    process.on("unhandledRejection", (err) => {
        process.stderr.write(`plan failed: ${(err as Error)?.stack ?? String(err)}\n`);
        process.exit(2);
    });
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (err) => {
            process.stderr.write(`plan failed: ${(err as Error)?.stack ?? String(err)}\n`);
            process.exit(2);
        },
    );
}
