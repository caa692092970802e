/**
 * End to end: the real program (infra/), evaluated under the offline
 * harness for dev and prod, passes the whole pack; deliberately broken
 * stacks fail it, each with the policy that should catch it.
 *
 * Two ways to break a stack:
 * - through the stack config, where the config allows the mistake (it
 *   validates types and ranges, not environment policy): one key of
 *   Pulumi.prod.yaml mutated, the program evaluated with it;
 * - through resources, where config and components both reject the mistake
 *   up front (Redis with 2 masters, an HPA with max below min, a public
 *   bucket): the prod program is evaluated, then the resources a program
 *   that bypassed that validation would register are registered through the
 *   SDK under the same mocks, replacing the compliant originals.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { evaluateStack, readStackConfig } from "@noa/offline/evaluate";
import { harness, type Registration } from "@noa/offline";
import { runPolicies } from "../offline";
import type { Violation } from "../runtime/run";

const REPO_ROOT = path.resolve(__dirname, "../..");

const mandatory = (v: Violation[]) => v.filter((x) => x.level === "mandatory");
const summary = (v: Violation[]) => v.map((x) => `${x.policy} ${x.urn ?? "(stack)"}: ${x.message}`);

/** Evaluates prod with one config key's JSON changed. */
async function prodWith(key: string, change: (value: any) => void): Promise<Registration[]> {
    const { config } = readStackConfig("prod");
    const value = JSON.parse(config[key]);
    change(value);
    return (await evaluateStack("prod", { ...config, [key]: JSON.stringify(value) })).resources;
}

describe("the real program under the policy pack", function () {
    this.timeout(120_000);

    for (const stack of ["dev", "prod"] as const) {
        it(`passes ${stack} with zero mandatory violations`, async () => {
            const { resources } = await evaluateStack(stack);
            const v = await runPolicies(resources, stack);
            assert.deepEqual(summary(mandatory(v)), []);
            const types = new Set(resources.map((r) => r.type));
            // The pack had something to judge: the guarded kinds are in the plan.
            for (const t of ["aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:ec2/launchTemplate:LaunchTemplate", "kubernetes:security.istio.io/v1:PeerAuthentication", "aws:s3/bucket:Bucket", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "kubernetes:networking.k8s.io/v1:Ingress", "kubernetes:storage.k8s.io/v1:StorageClass", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:Deployment", "kubernetes:policy/v1:PodDisruptionBudget", "kubernetes:batch/v1:Job", "aws:ecr/repository:Repository", "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:keda.sh/v1alpha1:ScaledObject"]) {
                assert.ok(types.has(t), `${stack} declares ${t}`);
            }
        });
    }

    it("on a stack's first preview (no cluster yet, so no outputs for its Kubernetes objects) reports the Kubernetes stack policies as unable to run, not as violated", async () => {
        const { resources } = await evaluateStack("prod");
        const preview = resources.map((r) => (r.type.startsWith("kubernetes:") ? { ...r, state: {} } : r));
        const v = await runPolicies(preview, "prod");
        assert.deepEqual(summary(mandatory(v)), []);
        const cannotRun = v.filter((x) => x.level === "advisory" && /can't run policy '[a-z-]+' .* during preview: \d+ Kubernetes object\(s\) have no outputs yet/.test(x.message));
        assert.deepEqual(
            cannotRun.map((x) => x.policy).sort(),
            ["autoscaler-targets", "istio-strict-mtls", "pod-disruption-budgets", "rabbitmq-cluster-shape", "redis-cluster-shape", "stateful-storage-encryption", "workload-replicas"],
        );
    });

    describe("broken through the stack config", () => {
        const cases: Array<{ what: string; key: string; change: (v: any) => void; policy: string; message: RegExp; alsoViolated?: string[] }> = [
            { what: "prod with one gateway replica", key: "noa:services", change: (s) => { s.gateway.minReplicas = 1; }, policy: "hpa-bounds", message: /^HorizontalPodAutoscaler noa\/gateway has minReplicas 1, below the environment's minimum of 3/ },
            { what: "a worker KEDA may scale to one in prod", key: "noa:services", change: (s) => { s.worker.minReplicas = 1; }, policy: "keda-scaledobject-bounds", message: /^ScaledObject noa\/worker has minReplicaCount 1, below the environment's minimum of 3/ },
            { what: "a 60 s scale-down window in prod", key: "noa:autoscaling", change: (a) => { a.scaleDown.stabilizationWindowSeconds = 60; }, policy: "hpa-bounds", message: /^HorizontalPodAutoscaler noa\/gateway scales down after 60 s of stabilization, below the environment's 300 s/ },
            { what: "PERMISSIVE mesh mTLS in prod", key: "noa:mesh", change: (m) => { m.mtlsMode = "PERMISSIVE"; }, policy: "istio-strict-mtls", message: /mesh-wide PeerAuthentication in istio-system has mode PERMISSIVE, not STRICT/ },
            { what: "an EKS endpoint open to the internet in prod", key: "noa:cluster", change: (c) => { c.publicAccessCidrs = ["0.0.0.0/0"]; }, policy: "eks-cluster-hardening", message: /exposes its public API endpoint to the whole internet/ },
            { what: "prod without the scheduler and controller-manager logs", key: "noa:cluster", change: (c) => { c.logTypes = ["api", "audit", "authenticator"]; }, policy: "eks-cluster-hardening", message: /does not ship control-plane logs controllerManager, scheduler/ },
            { what: "an unversioned bucket in prod", key: "noa:storage", change: (st) => { st.versioning = false; }, policy: "s3-bucket-controls", message: /^S3 bucket noa-prod-objects-bucket-\w+ does not have versioning enabled/ },
            { what: "an ALB without deletion protection in prod", key: "noa:ingress", change: (i) => { i.deletionProtection = false; }, policy: "alb-ingress", message: /^Ingress istio-ingress\/noa-alb provisions an ALB without deletion protection/ },
            { what: "Redis without replicas in prod", key: "noa:redis", change: (r) => { r.replicasPerMaster = 0; }, policy: "redis-cluster-shape", message: /^Redis Cluster StatefulSet noa-data\/noa-redis has 0 replica\(s\) per master, below the environment's 1/ },
            // One node is also below the replica minimum every prod workload is held to.
            { what: "a one-node RabbitMQ in prod", key: "noa:rabbitmq", change: (r) => { r.nodes = 1; }, policy: "rabbitmq-cluster-shape", message: /^RabbitMQ StatefulSet noa-data\/noa-rabbitmq runs 1 node\(s\), below the environment's minimum of 3/, alsoViolated: ["workload-replicas"] },
            { what: "one Citus worker in prod", key: "noa:citus", change: (c) => { c.workers = 1; }, policy: "citus-cluster-shape", message: /^Citus worker StatefulSet noa-data\/noa-citus-worker runs 1 worker\(s\), below the environment's minimum of 2/, alsoViolated: ["workload-replicas"] },
            { what: "prod with two on-demand nodes", key: "noa:cluster", change: (c) => { Object.assign(c.nodeGroups.base, { minSize: 2, desiredSize: 2, zonal: false }); }, policy: "eks-node-groups", message: /on-demand node groups guarantee 2 node\(s\), below the environment's 3/ },
        ];
        for (const c of cases) {
            it(`fails ${c.what} with ${c.policy}`, async () => {
                const v = mandatory(await runPolicies(await prodWith(c.key, c.change), "prod"));
                assert.ok(v.some((x) => x.policy === c.policy && c.message.test(x.message)), `expected ${c.policy} ${c.message}; got ${JSON.stringify(summary(v), null, 2)}`);
                assert.deepEqual([...new Set(v.map((x) => x.policy))].sort(), [c.policy, ...(c.alsoViolated ?? [])].sort(), "only the policies the mistake belongs to");
            });
        }
    });

    describe("broken through resources (config and components reject these up front)", () => {
        /**
         * Evaluates prod, then registers `replacements` through the SDK under
         * the same mocks in place of the registrations named in `drop`: the
         * plan a program that bypassed validation would produce.
         */
        async function prodReplacing(drop: (r: Registration) => boolean, replacements: (prod: Registration[]) => void | Promise<void>): Promise<Registration[]> {
            const { resources } = await evaluateStack("prod");
            const before = harness.registrations.length;
            await replacements(resources);
            const added = (await harness.settle()).slice(before);
            assert.ok(added.length > 0, "the replacements registered");
            return [...resources.filter((r) => !drop(r)), ...added];
        }
        const one = (resources: Registration[], type: string, pattern: RegExp) => {
            const found = resources.filter((r) => r.type === type && pattern.test(r.name));
            assert.equal(found.length, 1, `one ${type} matching ${pattern}: ${found.map((r) => r.name).join(", ")}`);
            return found[0];
        };
        const assertOnly = (v: Violation[], policy: string, patterns: RegExp[]) => {
            const m = mandatory(v);
            assert.deepEqual([...new Set(m.map((x) => x.policy))], [policy], JSON.stringify(summary(m), null, 2));
            for (const p of patterns) assert.ok(m.some((x) => p.test(x.message)), `${policy} ${p}: ${JSON.stringify(summary(m), null, 2)}`);
        };

        it("fails Redis with 2 masters (4 pods, --cluster-replicas 1) with redis-cluster-shape", async () => {
            const k8s = await import("@pulumi/kubernetes");
            const isRedis = (r: Registration) => (r.type === "kubernetes:apps/v1:StatefulSet" && r.name === "noa-redis") || (r.type === "kubernetes:batch/v1:Job" && r.name === "noa-redis-bootstrap");
            const resources = await prodReplacing(isRedis, (prod) => {
                const sts = structuredClone(one(prod, "kubernetes:apps/v1:StatefulSet", /^noa-redis$/).inputs) as { spec: any };
                const job = structuredClone(one(prod, "kubernetes:batch/v1:Job", /^noa-redis-bootstrap$/).inputs) as { spec: any };
                assert.equal(sts.spec.replicas, 6, "prod runs 3 masters with a replica each");
                sts.spec.replicas = 4;
                // The same bootstrap, over the first four pods only.
                const container = job.spec.template.spec.containers[0];
                const script: string = container.command[2];
                assert.match(script, /--cluster-replicas 1 /);
                container.command[2] = script.replace(/^NODES="([^"]*)"$/m, (_m: string, nodes: string) => `NODES="${nodes.split(" ").slice(0, 4).join(" ")}"`);
                new k8s.apps.v1.StatefulSet("noa-redis", sts);
                new k8s.batch.v1.Job("noa-redis-bootstrap", job);
            });
            assertOnly(await runPolicies(resources, "prod"), "redis-cluster-shape", [
                /^Redis Cluster StatefulSet noa-data\/noa-redis forms 2 master\(s\) \(4 pods, --cluster-replicas 1\), below the minimum of 3/,
            ]);
        });

        it("fails an HPA with maxReplicas below minReplicas with hpa-bounds", async () => {
            const k8s = await import("@pulumi/kubernetes");
            const isGatewayHpa = (r: Registration) => r.type === "kubernetes:autoscaling/v2:HorizontalPodAutoscaler" && /-gateway-hpa$/.test(r.name);
            const resources = await prodReplacing(isGatewayHpa, (prod) => {
                const original = prod.find(isGatewayHpa)!;
                const hpa = structuredClone(original.inputs) as { spec: any };
                assert.equal(hpa.spec.minReplicas, 3);
                hpa.spec.maxReplicas = 2;
                new k8s.autoscaling.v2.HorizontalPodAutoscaler(original.name, hpa);
            });
            assertOnly(await runPolicies(resources, "prod"), "hpa-bounds", [/^HorizontalPodAutoscaler noa\/gateway has minReplicas 3 above maxReplicas 2; the API server rejects it/]);
        });

        it("fails a public bucket (public access block loosened, a policy allowing everyone) with s3-bucket-controls", async () => {
            const aws = await import("@pulumi/aws");
            const isObjects = (r: Registration) => /^noa-prod-objects-(public-access|policy)$/.test(r.name);
            const resources = await prodReplacing(isObjects, (prod) => {
                const pab = one(prod, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", /^noa-prod-objects-public-access$/);
                const policy = one(prod, "aws:s3/bucketPolicy:BucketPolicy", /^noa-prod-objects-policy$/);
                const doc = JSON.parse(policy.inputs.policy);
                doc.Statement.push({ Sid: "PublicRead", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `arn:aws:s3:::${pab.inputs.bucket}/*` });
                new aws.s3.BucketPublicAccessBlock("noa-prod-objects-public-access", { bucket: pab.inputs.bucket, blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: false, restrictPublicBuckets: false });
                new aws.s3.BucketPolicy("noa-prod-objects-policy", { bucket: policy.inputs.bucket, policy: JSON.stringify(doc) });
            });
            assertOnly(await runPolicies(resources, "prod"), "s3-bucket-controls", [
                /^S3 bucket noa-prod-objects-bucket-\w+ has a public access block with blockPublicPolicy, restrictPublicBuckets off/,
                /^S3 bucket noa-prod-objects-bucket-\w+ has a policy allowing "s3:GetObject" to everyone/,
            ]);
        });
    });

    describe("npm run plan", () => {
        const stack = `policy-e2e-${process.pid}`;
        const file = path.join(REPO_ROOT, `Pulumi.${stack}.yaml`);
        after(() => rmSync(file, { force: true }));

        it("exits 1 on a mandatory violation and lists it in --json, grouped by policy in text", () => {
            const { config } = readStackConfig("prod");
            const doc: Record<string, unknown> = {};
            for (const [k, v] of Object.entries(config)) {
                try { doc[k] = JSON.parse(v); } catch { doc[k] = v; }
            }
            (doc["noa:mesh"] as any).mtlsMode = "PERMISSIVE";
            writeFileSync(file, stringify({ config: doc }));
            const run = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "scripts/offline/plan.ts"), stack, ...args], { cwd: REPO_ROOT, encoding: "utf8" });
            const json = run("--json");
            assert.equal(json.status, 1, json.stderr);
            const violations = JSON.parse(json.stdout).violations as Violation[];
            assert.ok(violations.length > 0);
            // A stack-wide finding has no urn (JSON drops the undefined key).
            for (const v of violations) assert.deepEqual(Object.keys(v), v.urn === undefined ? ["policy", "level", "message"] : ["policy", "level", "urn", "message"]);
            assert.ok(violations.some((v) => v.policy === "istio-strict-mtls" && v.level === "mandatory"));
            const text = run();
            assert.equal(text.status, 1);
            assert.match(text.stdout, /^Policies \(pack "noa", 20 policies, policy\/config\/prod\.json\): \d+ violation\(s\):\n  istio-strict-mtls \(mandatory\):\n    - urn:pulumi:policy-e2e-\d+::noa::.*PeerAuthentication::.*: The mesh-wide PeerAuthentication in istio-system has mode PERMISSIVE/m);
        });
    });
});
