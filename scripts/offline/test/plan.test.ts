import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { parse, stringify } from "yaml";
import { maskSecrets } from "../plan";
import { REPO_ROOT } from "../stack-config";
import type { Registration } from "../mocks";

/** Runs the plan CLI exactly as `npm run plan -- <args>` does. */
function plan(...args: string[]) {
    const run = spawnSync(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "scripts/offline/plan.ts"), ...args], {
        cwd: REPO_ROOT,
        encoding: "utf8",
        timeout: 120_000,
    });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("npm run plan", () => {
    const brokenStack = `plan-test-${process.pid}`;
    const brokenFile = path.join(REPO_ROOT, `Pulumi.${brokenStack}.yaml`);
    after(() => rmSync(brokenFile, { force: true }));

    it("prints one JSON document for --json with every resource and the violations field", () => {
        const { status, stdout, stderr } = plan("dev", "--json");
        assert.equal(status, 0, stderr);
        const doc = JSON.parse(stdout);
        assert.deepEqual(Object.keys(doc), ["stack", "resources", "violations"]);
        assert.equal(doc.stack, "dev");
        assert.ok(Array.isArray(doc.violations));
        const root = doc.resources[0];
        assert.deepEqual(root, { urn: "urn:pulumi:dev::noa::pulumi:pulumi:Stack::noa-dev", type: "pulumi:pulumi:Stack", name: "noa-dev", parent: null, inputs: {} });
        for (const r of doc.resources) {
            assert.deepEqual(Object.keys(r), ["urn", "type", "name", "parent", "inputs"]);
            if (r !== root) assert.ok(doc.resources.some((p: any) => p.urn === r.parent), `${r.urn} has a parent that was registered`);
        }
    });

    it("prints totals, counts per type and the component tree for a person", () => {
        const { status, stdout, stderr } = plan("prod");
        assert.equal(status, 0, stderr);
        assert.match(stdout, /^Offline plan for stack "prod": \d+ resources \(\d+ provider resources, \d+ components\)$/m);
        assert.match(stdout, /^Resources by type:$/m);
        assert.match(stdout, /^Component tree:\n  ■ pulumi:pulumi:Stack  noa-prod$/m);
        assert.match(stdout, /^Outputs:\n  environment: prod$/m);
        assert.match(stdout, /^Policies \(pack "noa", 20 policies, policy\/config\/prod\.json\): no violations\.$/m);
    });

    it("exits 2 naming the key and the value when a stack file has a broken value, before any resource", () => {
        const doc = parse(readFileSync(path.join(REPO_ROOT, "Pulumi.prod.yaml"), "utf8"));
        doc.config["noa:services"].gateway.minReplicas = 5;
        doc.config["noa:services"].gateway.maxReplicas = 3;
        doc.config["noa:rabbitmq"].nodes = 2;
        writeFileSync(brokenFile, stringify(doc));
        const { status, stdout, stderr } = plan(brokenStack, "--json");
        assert.equal(status, 2);
        assert.equal(stdout, "", "nothing is planned for a broken config");
        assert.match(stderr, /noa:services\.gateway\.minReplicas \(5\) exceeds maxReplicas \(3\)/);
        assert.match(stderr, /noa:rabbitmq\.nodes \(2\) must be 1 or odd/);
    });

    it("exits 2 for a stack without a stack file and for a missing stack argument", () => {
        const missing = plan("staging");
        assert.equal(missing.status, 2);
        assert.match(missing.stderr, /no stack file Pulumi\.staging\.yaml/);
        const usage = plan();
        assert.equal(usage.status, 2);
        assert.match(usage.stderr, /^usage: npm run plan -- <stack> \[--json\]/);
    });

    it("masks secret inputs in what it prints", () => {
        const registration = {
            inputs: { metadata: { name: "db" }, stringData: { password: "hunter2" }, type: "Opaque" },
            secretPaths: ["stringData"],
        } as unknown as Registration;
        assert.deepEqual(maskSecrets(registration), { metadata: { name: "db" }, stringData: "[secret]", type: "Opaque" });
        assert.equal(registration.inputs.stringData.password, "hunter2", "the recorded registration is not modified");
    });
});
