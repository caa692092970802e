import * as assert from "node:assert/strict";
import { ConfigError, loadConfig, NoaConfig } from "../config";
import { readStackConfig } from "../../scripts/offline/stack-config";

/** The raw config of a stack file with one section's JSON replaced by `mutate(section)`. */
function mutated(stack: string, key: string, mutate: (value: any) => any): Record<string, string> {
    const { config } = readStackConfig(stack);
    const raw = config[key];
    // Sections are JSON; scalar keys (noa:environment) are plain strings.
    const current = raw === undefined ? undefined : raw.startsWith("{") || raw.startsWith("[") ? JSON.parse(raw) : raw;
    const next = mutate(current === undefined ? undefined : structuredClone(current));
    const out = { ...config };
    if (next === undefined) delete out[key];
    else out[key] = typeof next === "string" ? next : JSON.stringify(next);
    return out;
}

function problemsOf(raw: Record<string, string>): string[] {
    try {
        loadConfig(raw);
    } catch (err) {
        assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
        return err.problems;
    }
    assert.fail("expected loadConfig to throw");
}

describe("loadConfig", () => {
    describe("the committed stacks", () => {
        let dev: NoaConfig;
        let prod: NoaConfig;
        before(() => {
            dev = loadConfig(readStackConfig("dev").config);
            prod = loadConfig(readStackConfig("prod").config);
        });

        it("reads dev as small and cheap", () => {
            assert.equal(dev.environment, "dev");
            assert.equal(dev.protectStateful, false);
            assert.deepEqual([dev.network.azCount, dev.network.natGateways], [2, "single"]);
            assert.deepEqual([dev.redis.masters, dev.redis.replicasPerMaster, dev.rabbitmq.nodes, dev.citus.workers], [3, 0, 1, 2]);
            assert.equal(dev.mesh.mtlsMode, "PERMISSIVE");
            assert.equal(dev.ingress.certificateArn, undefined);
        });

        it("reads prod with the seeds' numbers", () => {
            assert.equal(prod.environment, "prod");
            assert.equal(prod.protectStateful, true);
            assert.deepEqual([prod.network.azCount, prod.network.natGateways, prod.network.flowLogs.enabled], [3, "perAz", true]);
            for (const name of ["gateway", "users", "workflows"] as const) {
                const s = prod.services[name];
                assert.deepEqual([s.minReplicas, s.maxReplicas, s.targetCpuUtilization, s.targetMemoryUtilization, s.autoscaler], [3, 20, 70, 80, "hpa"]);
            }
            assert.equal(prod.services.worker.autoscaler, "keda");
            assert.deepEqual(prod.autoscaling, {
                scaleUp: { stabilizationWindowSeconds: 0, percent: 100, pods: 2, periodSeconds: 30 },
                scaleDown: { stabilizationWindowSeconds: 300, percent: 50, periodSeconds: 60 },
            });
            assert.deepEqual([prod.redis.masters, prod.redis.replicasPerMaster, prod.rabbitmq.nodes, prod.citus.workers], [3, 1, 3, 4]);
            assert.deepEqual(prod.cluster.logTypes, ["api", "audit", "authenticator", "controllerManager", "scheduler"]);
            assert.equal(prod.mesh.mtlsMode, "STRICT");
            assert.match(prod.ingress.certificateArn ?? "", /^arn:aws:acm:/);
        });

        it("applies defaults with ?? so a configured 0 stays 0", () => {
            const raw = mutated("dev", "noa:autoscaling", (a) => ({ ...a, scaleUp: { ...a.scaleUp, stabilizationWindowSeconds: 0 } }));
            assert.equal(loadConfig(raw).autoscaling.scaleUp.stabilizationWindowSeconds, 0);
            const noTiering = mutated("dev", "noa:storage", (s) => ({ ...s, intelligentTieringDays: 0 }));
            assert.equal(loadConfig(noTiering).storage.intelligentTieringDays, 0);
            // An optional target stays absent (no pods metric, no prometheus-adapter) until it is set.
            assert.equal(loadConfig(readStackConfig("prod").config).services.gateway.targetRequestsPerSecond, undefined);
            const rps = mutated("prod", "noa:services", (s) => ({ ...s, gateway: { ...s.gateway, targetRequestsPerSecond: 500 } }));
            assert.equal(loadConfig(rps).services.gateway.targetRequestsPerSecond, 500);
            const defaulted = mutated("dev", "noa:images", () => ({}));
            assert.deepEqual(loadConfig(defaulted).images, { platform: "linux/amd64", keepLast: 30, forceDelete: false });
        });
    });

    describe("broken configs fail with the key path and value", () => {
        const cases: { name: string; stack: string; key: string; mutate: (v: any) => any; expect: (string | RegExp)[] }[] = [
            {
                name: "min replicas above max",
                stack: "prod", key: "noa:services",
                mutate: (s) => ({ ...s, gateway: { ...s.gateway, minReplicas: 5, maxReplicas: 3 } }),
                expect: ["noa:services.gateway.minReplicas (5) exceeds maxReplicas (3)"],
            },
            {
                name: "an invalid VPC CIDR",
                stack: "dev", key: "noa:network",
                mutate: (n) => ({ ...n, cidr: "10.10.0.300/16" }),
                expect: ['noa:network.cidr ("10.10.0.300/16") is not a valid IPv4 CIDR (a.b.c.d/n with no host bits set)'],
            },
            {
                name: "more AZs than the subnets fit",
                stack: "prod", key: "noa:network",
                mutate: (n) => ({ ...n, cidr: "10.20.0.0/20", azCount: 3, privateSubnetPrefixLength: 21 }),
                expect: ["noa:network.azCount (3) does not fit: 3 public /24 and 3 private /21 subnets need 6912 addresses but 10.20.0.0/20 has 4096"],
            },
            {
                name: "node group min above max",
                stack: "dev", key: "noa:cluster",
                mutate: (c) => ({ ...c, nodeGroups: { ...c.nodeGroups, base: { ...c.nodeGroups.base, minSize: 6, desiredSize: 6, maxSize: 5 } } }),
                expect: ["noa:cluster.nodeGroups.base.minSize (6) exceeds maxSize (5)"],
            },
            {
                name: "a zonal node group whose sizes do not split over the AZs",
                stack: "dev", key: "noa:cluster",
                mutate: (c) => ({ ...c, nodeGroups: { ...c.nodeGroups, base: { ...c.nodeGroups.base, zonal: true } } }),
                expect: [
                    "noa:cluster.nodeGroups.base.minSize (3) must divide evenly over noa:network.azCount (2) for a zonal group",
                    "noa:cluster.nodeGroups.base.maxSize (5) must divide evenly over noa:network.azCount (2) for a zonal group",
                ],
            },
            {
                name: "a zonal flag that is not a boolean",
                stack: "prod", key: "noa:cluster",
                mutate: (c) => ({ ...c, nodeGroups: { ...c.nodeGroups, base: { ...c.nodeGroups.base, zonal: "yes" } } }),
                expect: [/noa:cluster\.nodeGroups\.base\.zonal \("yes"\) must be/],
            },
            {
                name: "a memory limit below its request",
                stack: "prod", key: "noa:services",
                mutate: (s) => ({ ...s, users: { ...s.users, memoryRequest: "1Gi", memoryLimit: "512Mi" } }),
                expect: ['noa:services.users.memoryLimit ("512Mi") is below memoryRequest ("1Gi")'],
            },
            {
                name: "a volume size that is not a Kubernetes quantity",
                stack: "prod", key: "noa:redis",
                mutate: (r) => ({ ...r, node: { ...r.node, storage: "10 GB" } }),
                expect: ['noa:redis.node.storage ("10 GB") is not a Kubernetes quantity (e.g. 250m, 512Mi, 20Gi)'],
            },
            {
                name: "fewer than three Redis masters",
                stack: "dev", key: "noa:redis",
                mutate: (r) => ({ ...r, masters: 2 }),
                expect: ["noa:redis.masters (2) must be at least 3"],
            },
            {
                name: "an even RabbitMQ cluster",
                stack: "prod", key: "noa:rabbitmq",
                mutate: (r) => ({ ...r, nodes: 4 }),
                expect: ["noa:rabbitmq.nodes (4) must be 1 or odd: an even-sized cluster cannot keep a quorum when split in half"],
            },
            {
                name: "zero Citus workers",
                stack: "dev", key: "noa:citus",
                mutate: (c) => ({ ...c, workers: 0 }),
                expect: ["noa:citus.workers (0) must be at least 1"],
            },
            {
                name: "a certificate ARN that is not an ACM ARN",
                stack: "prod", key: "noa:ingress",
                mutate: (i) => ({ ...i, certificateArn: "arn:aws:iam::123456789012:server-certificate/x" }),
                expect: [/^noa:ingress\.certificateArn \("arn:aws:iam::123456789012:server-certificate\/x"\) is not an ACM certificate ARN/],
            },
            {
                name: "a typo in a key",
                stack: "dev", key: "noa:services",
                mutate: (s) => ({ ...s, gateway: { ...s.gateway, maxReplica: 4 } }),
                expect: ["noa:services.gateway.maxReplica is not a known setting"],
            },
            {
                name: "an unknown top-level key",
                stack: "dev", key: "noa:servics",
                mutate: () => ({ gateway: {} }),
                expect: [/^noa:servics is not a known setting/],
            },
            {
                name: "a missing section",
                stack: "prod", key: "noa:rabbitmq",
                mutate: () => undefined,
                expect: ["noa:rabbitmq is required", "noa:rabbitmq.nodes (missing) is required"],
            },
            {
                name: "a service missing from the stack",
                stack: "prod", key: "noa:services",
                mutate: (s) => { const { storage: _removed, ...rest } = s; return rest; },
                expect: ["noa:services.storage is required (every service needs its replica range and resources)"],
            },
            {
                name: "a canary weight outside 0–100",
                stack: "prod", key: "noa:services",
                mutate: (s) => ({ ...s, gateway: { ...s.gateway, canaryWeight: 120 } }),
                expect: ["noa:services.gateway.canaryWeight (120) must be at most 100"],
            },
            {
                name: "more Redis pods than the base node group can hold",
                stack: "dev", key: "noa:redis",
                mutate: (r) => ({ ...r, masters: 3, replicasPerMaster: 1 }),
                expect: [/^noa:redis \(3 masters × 2 = 6 pods\) exceeds noa:cluster\.nodeGroups\.base\.maxSize \(5\)/],
            },
            {
                name: "an environment without a policy config",
                stack: "dev", key: "noa:environment",
                mutate: () => "staging",
                expect: ['noa:environment ("staging") must be one of dev, prod'],
            },
            {
                name: "a requests-per-second target of zero",
                stack: "prod", key: "noa:services",
                mutate: (s) => ({ ...s, gateway: { ...s.gateway, targetRequestsPerSecond: 0 } }),
                expect: ["noa:services.gateway.targetRequestsPerSecond (0) must be at least 1"],
            },
            {
                name: "a requests-per-second target on a KEDA-scaled service",
                stack: "prod", key: "noa:services",
                mutate: (s) => ({ ...s, worker: { ...s.worker, targetRequestsPerSecond: 50 } }),
                expect: ["noa:services.worker.targetRequestsPerSecond (50) applies to HPAs only; this service is scaled by KEDA (autoscaler: keda)"],
            },
            {
                name: "a wrong type",
                stack: "dev", key: "noa:network",
                mutate: (n) => ({ ...n, azCount: "two" }),
                expect: ['noa:network.azCount ("two") must be a whole number'],
            },
        ];

        for (const c of cases) {
            it(c.name, () => {
                const problems = problemsOf(mutated(c.stack, c.key, c.mutate));
                for (const e of c.expect) {
                    assert.ok(
                        problems.some((p) => (typeof e === "string" ? p === e : e.test(p))),
                        `expected a problem matching ${e}\n  got:\n  - ${problems.join("\n  - ")}`,
                    );
                }
            });
        }

        it("reports every problem in one error, not just the first", () => {
            let raw = mutated("prod", "noa:services", (s) => ({ ...s, gateway: { ...s.gateway, minReplicas: 5, maxReplicas: 3 } }));
            raw = { ...raw, "noa:redis": JSON.stringify({ ...JSON.parse(raw["noa:redis"]), masters: 2 }) };
            raw = { ...raw, "noa:rabbitmq": JSON.stringify({ ...JSON.parse(raw["noa:rabbitmq"]), nodes: 2 }) };
            try {
                loadConfig(raw);
                assert.fail("expected a ConfigError");
            } catch (err) {
                assert.ok(err instanceof ConfigError);
                assert.equal(err.problems.length, 3, err.message);
                assert.match(err.message, /^invalid stack config \(3 problems\):\n  - noa:services\.gateway\.minReplicas \(5\) exceeds maxReplicas \(3\)/);
                assert.match(err.message, /noa:redis\.masters \(2\) must be at least 3/);
                assert.match(err.message, /noa:rabbitmq\.nodes \(2\) must be 1 or odd/);
            }
        });

        it("requires aws:region", () => {
            const { config } = readStackConfig("dev");
            const { ["aws:region"]: _region, ...rest } = config;
            assert.ok(problemsOf(rest).includes("aws:region is required"));
        });
    });
});
