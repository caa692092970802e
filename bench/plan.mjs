#!/usr/bin/env node
// Benchmark: wall time of the offline plan for a stack (default prod), run as
// users run it (`npm run plan -- <stack> --json`), several times; prints each
// run, the median and the resource count. Target: prod under 10 s on a
// 2-core machine.
//
//   npm run bench:plan            # prod, 5 runs
//   node bench/plan.mjs dev 3
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const stack = process.argv[2] ?? "prod";
const runs = Number(process.argv[3] ?? 5);
const times = [];
let resources = 0;
for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const run = spawnSync(process.execPath, ["--import", "tsx", path.join(root, "scripts/offline/plan.ts"), stack, "--json"], { cwd: root, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (run.status !== 0 && run.status !== 1) {
        console.error(run.stderr);
        process.exit(1);
    }
    resources = JSON.parse(run.stdout).resources.length;
    times.push(seconds);
    console.log(`run ${i + 1}: ${seconds.toFixed(2)} s`);
}
times.sort((a, b) => a - b);
console.log(`plan ${stack}: ${resources} resources; median ${times[Math.floor(times.length / 2)].toFixed(2)} s, min ${times[0].toFixed(2)} s, max ${times[times.length - 1].toFixed(2)} s over ${runs} runs (node ${process.version})`);
