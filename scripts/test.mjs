#!/usr/bin/env node
// `npm test`: every package's mocha suite, one package at a time (Pulumi's
// mocks are process-global, and the service suites share the local servers),
// then one summary line: "N passed, N failed".
//
//   npm test                   all packages
//   npm test -- components     only the packages whose folder matches
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const filters = process.argv.slice(2);

const PACKAGES = [
    "scripts/offline",
    "infra",
    "components",
    "policy",
    ...readdirSync(path.join(root, "services"))
        .filter((d) => existsSync(path.join(root, "services", d, "package.json")))
        .sort((a, b) => (a === "kit" ? -1 : b === "kit" ? 1 : a.localeCompare(b)))
        .map((d) => `services/${d}`),
];

function hasTests(dir) {
    const walk = (d) =>
        readdirSync(d).some((entry) => {
            if (entry === "node_modules" || entry === "dist" || entry.startsWith(".")) return false;
            const full = path.join(d, entry);
            return statSync(full).isDirectory() ? walk(full) : entry.endsWith(".test.ts");
        });
    return walk(dir);
}

const mocha = path.join(root, "node_modules", "mocha", "bin", "mocha.js");
const reporter = path.join(root, "scripts", "mocha-stats-reporter.cjs");
const statsDir = mkdtempSync(path.join(tmpdir(), "noa-test-"));
// A package whose mocha does not exit (a server, socket, timer or child
// process left open by a test) is stopped and counted as a failure, so a hang
// shows up as a red line instead of a CI run that never ends.
const PACKAGE_TIMEOUT_S = Number(process.env.NOA_TEST_PACKAGE_TIMEOUT_S ?? 600);
const totals = { passes: 0, failures: 0, pending: 0 };
const failed = [];
const started = Date.now();

for (const pkg of PACKAGES) {
    if (filters.length && !filters.some((f) => pkg.includes(f))) continue;
    const cwd = path.join(root, pkg);
    if (!hasTests(cwd)) {
        console.log(`\n── ${pkg}: no tests`);
        continue;
    }
    console.log(`\n── ${pkg}`);
    const statsFile = path.join(statsDir, `${pkg.replace(/\//g, "_")}.json`);
    const t0 = Date.now();
    const run = spawnSync(process.execPath, [mocha, "--reporter", reporter], {
        cwd,
        stdio: "inherit",
        env: { ...process.env, NOA_TEST_STATS: statsFile },
        timeout: PACKAGE_TIMEOUT_S * 1000,
        killSignal: "SIGKILL",
    });
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    if (run.error?.code === "ETIMEDOUT") {
        // mocha's bin runs the suite in a child process: it has to go too.
        spawnSync("pkill", ["-KILL", "-f", `${path.join(root, "node_modules", "mocha")}.*--reporter=${reporter}`]);
        console.log(`   ${pkg}: stopped after ${PACKAGE_TIMEOUT_S} s; mocha did not exit (a test left a server, socket, timer or child process open)`);
        totals.failures += 1;
        failed.push(`${pkg}: mocha did not exit within ${PACKAGE_TIMEOUT_S} s`);
        if (existsSync(statsFile)) {
            const stats = JSON.parse(readFileSync(statsFile, "utf8"));
            totals.passes += stats.passes;
            totals.failures += stats.failures;
            for (const f of stats.failed) failed.push(`${pkg}: ${f.title} — ${f.message}`);
        }
        continue;
    }
    if (!existsSync(statsFile)) {
        // Mocha died before reporting (a syntax error, a crash in a hook): count the package as one failure.
        console.log(`   ${pkg}: mocha exited with ${run.status ?? run.signal} before reporting (${seconds}s)`);
        totals.failures += 1;
        failed.push(`${pkg}: mocha exited with ${run.status ?? run.signal} before reporting`);
        continue;
    }
    const stats = JSON.parse(readFileSync(statsFile, "utf8"));
    totals.passes += stats.passes;
    totals.failures += stats.failures;
    totals.pending += stats.pending;
    for (const f of stats.failed) failed.push(`${pkg}: ${f.title} — ${f.message}`);
    console.log(`   ${pkg}: ${stats.passes} passed, ${stats.failures} failed${stats.pending ? `, ${stats.pending} skipped` : ""} (${seconds}s)`);
}

const minutes = ((Date.now() - started) / 60000).toFixed(1);
if (failed.length) {
    console.log(`\nFailures:\n${failed.map((f) => `  - ${f}`).join("\n")}`);
}
console.log(`\nnode ${process.version}, ${minutes} min`);
console.log(`${totals.passes} passed, ${totals.failures} failed${totals.pending ? `, ${totals.pending} skipped` : ""}`);
process.exit(totals.failures > 0 || totals.passes === 0 ? 1 : 0);
