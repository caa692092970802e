/**
 * Runs a list of policies over planned resources through the package's own
 * analyzer handlers (see `analyzer.ts`), the way `pulumi preview` does:
 * Configure, ConfigureStack, Analyze for each resource, AnalyzeStack once.
 */
import type { EnforcementLevel, Policies, PolicyPackConfig } from "@pulumi/policy";
import { InProcessAnalyzer, PROTO_TO_LEVEL, call } from "./analyzer";
import { reconcileConfig } from "./config";
import { PlannedResource, analyzeRequest, analyzeStackRequest } from "./requests";

/** One diagnostic, in the plan's shape. */
export interface Violation {
    policy: string;
    level: EnforcementLevel;
    /** The resource the violation is about; undefined for a stack-wide finding. */
    urn: string | undefined;
    message: string;
}

export interface RunOptions {
    /** The policy config file's content (`policy/config/<env>.json`). */
    config: PolicyPackConfig;
    /** Where the config came from, for error messages. */
    configSource?: string;
    stack?: string;
    project?: string;
    /** Stack tags (`args.stackTags`). */
    stackTags?: Record<string, string>;
}

const analyzers = new Map<Policies, InProcessAnalyzer>();
/** The package keeps one configuration per process: runs take turns. */
let queue: Promise<unknown> = Promise.resolve();

function diagnosticsOf(response: any, fallbackUrn: string | undefined): Violation[] {
    return response.getDiagnosticsList().map((d: any) => {
        // The package prefixes each message with the policy's description; the plan shows the policy name instead.
        const description: string = d.getDescription();
        const raw: string = d.getMessage();
        const message = raw.startsWith(`${description}\n`) ? raw.slice(description.length + 1) : raw;
        return { policy: d.getPolicyname(), level: PROTO_TO_LEVEL[d.getEnforcementlevel()], urn: d.getUrn() || fallbackUrn, message };
    });
}

export function runPolicyList(packName: string, policies: Policies, resources: PlannedResource[], options: RunOptions): Promise<Violation[]> {
    const run = async () => {
        let analyzer = analyzers.get(policies);
        if (!analyzer) analyzers.set(policies, (analyzer = new InProcessAnalyzer(packName, policies)));
        await analyzer.configure(reconcileConfig(policies, options.config, "mandatory", options.configSource));
        await analyzer.configureStack(options.stack ?? "offline", options.project ?? "noa", options.stackTags ?? {});
        const byUrn = new Map(resources.map((r) => [r.urn, r]));
        const violations: Violation[] = [];
        for (const r of resources) {
            violations.push(...diagnosticsOf(await call(analyzer.analyze, analyzeRequest(r, byUrn)), r.urn));
        }
        violations.push(...diagnosticsOf(await call(analyzer.analyzeStack, analyzeStackRequest(resources, byUrn)), undefined));
        return violations;
    };
    const result = queue.then(run, run);
    queue = result.catch(() => undefined);
    return result;
}
