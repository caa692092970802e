// Benchmark: the whole policy pack over a stack's plan (default prod), as
// `npm run plan` runs it — the real program evaluated once under the offline
// harness, then the pack run N times through @pulumi/policy's analyzer
// handlers (Configure, ConfigureStack, Analyze per resource, AnalyzeStack).
// Prints each run, the median and the resource count. Target: prod well under
// 1 s on a 2-core machine.
//
//   npm run bench:policy            # prod, 10 runs
//   npx tsx bench/policy.ts dev 5
import { evaluateStack } from "../scripts/offline/evaluate";
import { runPolicies } from "../policy/offline";

async function main(): Promise<void> {
    const stack = process.argv[2] ?? "prod";
    const runs = Number(process.argv[3] ?? 10);
    const evaluation = await evaluateStack(stack);
    const env = typeof evaluation.outputs.environment === "string" ? evaluation.outputs.environment : stack;
    // One warm-up: module loading and the analyzer's one-time set-up are not what a plan repeats.
    const c0 = process.hrtime.bigint();
    const warm = await runPolicies(evaluation.resources, env);
    const coldMs = Number(process.hrtime.bigint() - c0) / 1e6;
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
        const t0 = process.hrtime.bigint();
        await runPolicies(evaluation.resources, env);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        times.push(ms);
        console.log(`run ${i + 1}: ${ms.toFixed(1)} ms`);
    }
    times.sort((a, b) => a - b);
    console.log(`policy pack over ${stack}: ${evaluation.resources.length} resources, ${warm.length} violation(s); median ${times[Math.floor(times.length / 2)].toFixed(1)} ms, min ${times[0].toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms over ${runs} runs; first (cold) run ${coldMs.toFixed(1)} ms (node ${process.version})`);
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
