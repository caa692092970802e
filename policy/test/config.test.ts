/**
 * The pack's shape and its per-environment config: every policy documented
 * and configurable, both config files valid against every schema, every key
 * a real policy, and prod at least as strict as dev.
 */
import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { EnforcementLevel } from "@pulumi/policy";
import { policyEnvironments, readPolicyConfig } from "../offline";
import { policies } from "../policies";
import { reconcileConfig } from "../runtime/config";

/**
 * How each threshold compares between environments: `floor` (higher is
 * stricter), `require` (true is stricter), `superset` (prod must demand
 * everything dev demands), `subset` (prod may allow only what dev allows), or
 * `sizing` — a capacity bound that grows with the environment rather than
 * with strictness (prod runs more replicas, bigger pods, more nodes), so it
 * is not compared.
 */
const STRICTNESS: Record<string, Record<string, "floor" | "require" | "superset" | "subset" | "sizing">> = {
    "workload-replicas": { minReplicas: "floor", maxReplicas: "sizing", singletonWorkloads: "subset" },
    "hpa-bounds": { minReplicas: "floor", maxReplicas: "sizing", minScaleDownStabilizationSeconds: "floor", cpuUtilizationMin: "sizing", cpuUtilizationMax: "sizing" },
    "keda-scaledobject-bounds": { minReplicas: "floor", maxReplicas: "sizing" },
    "autoscaler-targets": {},
    "pod-disruption-budgets": { requirePdb: "require", minReplicasRequiringPdb: "sizing" },
    "container-resources": { maxCpuLimit: "sizing", maxMemoryLimit: "sizing" },
    "container-probes": {},
    "container-images": { allowEcr: "sizing", allowedRepositories: "subset" },
    "container-security": {},
    "read-only-root-filesystem": {},
    "redis-cluster-shape": { minMasters: "floor", minReplicasPerMaster: "floor" },
    "rabbitmq-cluster-shape": { minNodes: "floor" },
    "citus-cluster-shape": { minWorkers: "floor" },
    "stateful-storage-encryption": { encryptedStorageClasses: "subset" },
    "eks-cluster-hardening": { requiredLogTypes: "superset", forbidOpenPublicEndpoint: "require" },
    "eks-node-groups": { maxNodesPerGroup: "sizing", minOnDemandNodes: "floor", requireImdsV2: "require" },
    "s3-bucket-controls": { requireKms: "require", requireVersioning: "require", requireTlsOnlyPolicy: "require" },
    "ecr-repositories": {},
    "alb-ingress": { requireHttpsRedirect: "require", requireDeletionProtection: "require", ingressClasses: "superset" },
    "istio-strict-mtls": { requireStrict: "require", rootNamespace: "sizing" },
};
const RANK: Record<EnforcementLevel, number> = { disabled: 0, advisory: 1, remediate: 2, mandatory: 2 };

describe("the policy pack", () => {
    it("has 20 uniquely named policies, each with a description, severity, remediation steps and a config schema", () => {
        assert.equal(policies.length, 20);
        assert.equal(new Set(policies.map((p) => p.name)).size, policies.length);
        for (const p of policies) {
            assert.match(p.name, /^[a-z0-9]+(-[a-z0-9]+)*$/, p.name);
            assert.ok(p.description.length > 30, `${p.name} describes itself`);
            assert.ok(p.severity, `${p.name} has a severity`);
            assert.ok((p.remediationSteps ?? "").length > 20, `${p.name} says how to fix a violation`);
            assert.ok(p.configSchema, `${p.name} has a configSchema`);
            for (const [k, s] of Object.entries(p.configSchema!.properties)) {
                assert.ok(typeof s === "object" && s.default !== undefined && s.description, `${p.name}.${k} has a default and a description`);
            }
        }
    });

    it("keeps index.ts to the PolicyPack alone", () => {
        const source = readFileSync(path.join(__dirname, "..", "index.ts"), "utf8").replace(/\/\*\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
        const statements = source.split(";").map((s) => s.trim()).filter(Boolean);
        assert.deepEqual(statements.map((s) => s.split(/\s/)[0]), ["import", "import", "new"]);
    });

    it("has a config per environment: dev and prod", () => {
        assert.deepEqual(policyEnvironments(), ["dev", "prod"]);
    });

    for (const env of ["dev", "prod"]) {
        it(`${env}.json names only real policies, sets every policy's level and every threshold, and validates against every schema`, () => {
            const config = readPolicyConfig(env) as Record<string, any>;
            assert.deepEqual(Object.keys(config).sort(), policies.map((p) => p.name).sort());
            for (const p of policies) {
                assert.ok(["advisory", "mandatory"].includes(config[p.name].enforcementLevel), `${env}: ${p.name} sets its level explicitly`);
                assert.deepEqual(Object.keys(config[p.name]).filter((k) => k !== "enforcementLevel").sort(), Object.keys(p.configSchema!.properties).sort(), `${env}: ${p.name} sets every threshold (no silent defaults)`);
            }
            assert.doesNotThrow(() => reconcileConfig(policies, config, "mandatory", `${env}.json`));
        });
    }

    it("classifies every threshold for the dev/prod comparison", () => {
        for (const p of policies) {
            assert.deepEqual(Object.keys(STRICTNESS[p.name] ?? { missing: 1 }).sort(), Object.keys(p.configSchema!.properties).sort(), `${p.name}: classify its keys in STRICTNESS`);
        }
    });

    it("makes prod at least as strict as dev", () => {
        const dev = readPolicyConfig("dev") as Record<string, any>;
        const prod = readPolicyConfig("prod") as Record<string, any>;
        const problems: string[] = [];
        for (const p of policies) {
            const d = dev[p.name];
            const q = prod[p.name];
            if (RANK[q.enforcementLevel as EnforcementLevel] < RANK[d.enforcementLevel as EnforcementLevel]) problems.push(`${p.name}: prod level ${q.enforcementLevel} < dev ${d.enforcementLevel}`);
            for (const [key, how] of Object.entries(STRICTNESS[p.name])) {
                const a = d[key];
                const b = q[key];
                const keysOf = (x: unknown) => (Array.isArray(x) ? x : Object.keys(x as object));
                const ok = how === "sizing"
                    || (how === "floor" && b >= a)
                    || (how === "require" && (b === true || a === false))
                    || (how === "superset" && keysOf(a).every((x) => keysOf(b).includes(x)))
                    || (how === "subset" && keysOf(b).every((x) => keysOf(a).includes(x)));
                if (!ok) problems.push(`${p.name}.${key}: prod ${JSON.stringify(b)} is looser than dev ${JSON.stringify(a)} (${how})`);
            }
        }
        assert.deepEqual(problems, []);
        // The thresholds the issue names.
        assert.equal(prod["workload-replicas"].minReplicas, 3);
        assert.equal(dev["workload-replicas"].minReplicas, 1);
        assert.ok(prod["hpa-bounds"].minScaleDownStabilizationSeconds >= 300);
        assert.equal(prod["redis-cluster-shape"].minReplicasPerMaster, 1);
        assert.equal(dev["redis-cluster-shape"].minMasters, 3);
        assert.equal(prod["rabbitmq-cluster-shape"].minNodes, 3);
        assert.equal(prod["citus-cluster-shape"].minWorkers, 2);
        assert.equal(prod["istio-strict-mtls"].requireStrict, true);
        assert.equal(prod["read-only-root-filesystem"].enforcementLevel, "advisory");
    });
});
