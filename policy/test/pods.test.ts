/** Disruption and pods: pod-disruption-budgets, container-resources, -probes, -images, -security, read-only-root-filesystem. */
import * as assert from "node:assert/strict";
import { parseImage } from "../policies/container-images";
import { parseQuantity } from "../lib/kubernetes";
import { DIGEST, T, assertExactly, deployment, edit, goodContainer, hpa, judge, labels, pdb, podSpec, res } from "./fixtures";

const POD_SCOPE = ["container-resources", "container-probes", "container-images", "container-security", "read-only-root-filesystem"];

describe("pod-disruption-budgets", () => {
    const SCOPE = ["pod-disruption-budgets"];
    const stack = () => [deployment("gateway"), hpa("gateway", "gateway"), pdb("gateway", labels("gateway")), deployment("users", { replicas: 1 })];

    it("passes a replicated workload with a budget that allows one eviction, and a single replica without one", async () => {
        assertExactly(await judge(stack(), "prod"), SCOPE, []);
    });

    it("requires a budget for a workload at two or more replicas in prod, not in dev", async () => {
        const s = stack().filter((r) => r.name !== "gateway-pdb");
        assertExactly(await judge(s, "prod"), SCOPE, [["pod-disruption-budgets", /^Deployment noa\/gateway runs 3 replicas at its floor but no PodDisruptionBudget selects its pods/]]);
        assertExactly(await judge(s, "dev"), SCOPE, []);
    });

    it("does not count a budget whose selector misses the pods", async () => {
        const s = edit(stack(), "gateway-pdb", (p) => { p.spec.selector.matchLabels = { "app.kubernetes.io/name": "gateway-v2" }; });
        assertExactly(await judge(s, "prod"), SCOPE, [["pod-disruption-budgets", /no PodDisruptionBudget selects its pods/]]);
    });

    const blocking: Array<[string, Record<string, unknown>, RegExp]> = [
        ["maxUnavailable 0", { maxUnavailable: 0 }, /allows no eviction of Deployment noa\/gateway: maxUnavailable is 0/],
        ["maxUnavailable 0%", { maxUnavailable: "0%" }, /maxUnavailable is "0%"/],
        ["minAvailable equal to the replica floor", { minAvailable: 3 }, /minAvailable 3 with 3 replica\(s\) at the workload's floor/],
        ["minAvailable 100%", { minAvailable: "100%" }, /minAvailable 100% of 3 replicas keeps every pod/],
    ];
    for (const [what, spec, pattern] of blocking) {
        it(`flags a budget with ${what}, in dev as in prod`, async () => {
            for (const env of ["dev", "prod"] as const) {
                const s = edit(stack(), "gateway-pdb", (p) => { delete p.spec.maxUnavailable; Object.assign(p.spec, spec); });
                if (env === "dev") edit(s, "gateway-hpa", (p) => { Object.assign(p.spec, { minReplicas: 3, maxReplicas: 3 }); });
                assertExactly(await judge(s, env), SCOPE, [["pod-disruption-budgets", pattern]]);
            }
        });
    }

    it("accepts minAvailable below the floor", async () => {
        const s = edit(stack(), "gateway-pdb", (p) => { delete p.spec.maxUnavailable; p.spec.minAvailable = 2; });
        assertExactly(await judge(s, "prod"), SCOPE, []);
    });
});

describe("pod policies", () => {
    const job = () => res(T.job, "migrate", { metadata: { name: "migrate", namespace: "noa" }, spec: { template: { metadata: { labels: labels("migrate") }, spec: { ...podSpec([{ ...goodContainer("migrate"), readinessProbe: undefined, livenessProbe: undefined }]), restartPolicy: "Never" } } } });
    const cron = () => res(T.job.replace("Job", "CronJob"), "report", { metadata: { name: "report", namespace: "noa" }, spec: { schedule: "0 * * * *", jobTemplate: { spec: { template: { spec: podSpec([goodContainer("report")]) } } } } });
    const stack = () => [deployment("gateway", { replicas: 3 }), job(), cron()];
    const withContainer = (change: (c: any) => void) => edit(stack(), "gateway", (p) => change(p.spec.template.spec.containers[0]));

    for (const env of ["dev", "prod"] as const) {
        it(`passes compliant Deployments, Jobs (no probes needed) and CronJobs in ${env}`, async () => {
            assertExactly(await judge(stack(), env), POD_SCOPE, []);
        });
    }

    describe("container-resources", () => {
        it("flags missing requests and memory limit, naming the workload and container", async () => {
            const s = withContainer((c) => { c.resources = { limits: { cpu: "1" } }; });
            assertExactly(await judge(s, "prod"), POD_SCOPE, [["container-resources", /^Deployment noa\/gateway container "app" does not set resources\.requests\.cpu, resources\.requests\.memory, resources\.limits\.memory\./]]);
        });

        it("checks init containers too", async () => {
            const s = edit(stack(), "gateway", (p) => { p.spec.template.spec.initContainers = [{ ...goodContainer("wait"), resources: undefined }]; });
            assertExactly(await judge(s, "prod"), POD_SCOPE, [["container-resources", /init container "wait" does not set resources\.requests\.cpu/]]);
        });

        it("caps limits per environment (memory: prod 8Gi, dev 4Gi; CPU: prod 4, dev 2)", async () => {
            const s = withContainer((c) => { c.resources.limits = { cpu: "3", memory: "6Gi" }; });
            assertExactly(await judge(s, "prod"), POD_SCOPE, []);
            assertExactly(await judge(s, "dev"), POD_SCOPE, [
                ["container-resources", /resources\.limits\.cpu 3, above the environment's cap of 2/],
                ["container-resources", /resources\.limits\.memory 6Gi, above the environment's cap of 4Gi/],
            ]);
            const huge = withContainer((c) => { c.resources.limits.memory = "16Gi"; });
            assertExactly(await judge(huge, "prod"), POD_SCOPE, [["container-resources", /limits\.memory 16Gi, above the environment's cap of 8Gi/]]);
        });

        it("flags a request above its limit and a malformed quantity", async () => {
            const s = withContainer((c) => { c.resources.requests.memory = "1Gi"; c.resources.limits.cpu = "lots"; });
            assertExactly(await judge(s, "prod"), POD_SCOPE, [
                ["container-resources", /requests memory 1Gi, more than its limit 512Mi/],
                ["container-resources", /resources\.limits\.cpu "lots", which is not a Kubernetes quantity/],
            ]);
        });
    });

    describe("container-probes", () => {
        it("flags a long-running container without readiness or liveness probes", async () => {
            const s = withContainer((c) => { delete c.readinessProbe; delete c.livenessProbe; });
            assertExactly(await judge(s, "prod"), POD_SCOPE, [["container-probes", /^Deployment noa\/gateway container "app" has no readinessProbe and no livenessProbe\./]]);
            const noLiveness = withContainer((c) => { delete c.livenessProbe; });
            assertExactly(await judge(noLiveness, "dev"), POD_SCOPE, [["container-probes", /has no livenessProbe\./]]);
        });
    });

    describe("container-images", () => {
        const cases: Array<[string, RegExp]> = [
            ["123456789012.dkr.ecr.us-east-1.amazonaws.com/noa-gateway:latest", /whose tag "latest" is not an exact version/],
            ["123456789012.dkr.ecr.us-east-1.amazonaws.com/noa-gateway", /which has no tag \(means latest\)/],
            ["redis:7.4", /whose tag "7\.4" is not an exact version/],
        ];
        for (const [image, pattern] of cases) {
            it(`flags ${image}`, async () => {
                assertExactly(await judge(withContainer((c) => { c.image = image; }), "prod"), POD_SCOPE, [["container-images", pattern]]);
            });
        }

        it("accepts ECR by digest, allow-listed upstreams by exact version or digest", async () => {
            for (const image of [`docker.io/library/redis:7.4.5`, `redis:7.4.5`, `rabbitmq:4.1.4-management`, `citusdata/citus:13.0.3`, `edoburu/pgbouncer:v1.25.1-p0`, `prometheuscommunity/postgres-exporter:v0.18.1`, `oliver006/redis_exporter:v1.91.1`, `redis@${DIGEST}`]) {
                assertExactly(await judge(withContainer((c) => { c.image = image; }), "prod"), POD_SCOPE, []);
            }
        });

        it("flags a repository that is neither ECR nor allow-listed", async () => {
            assertExactly(await judge(withContainer((c) => { c.image = "quay.io/evil/miner:1.0.0"; }), "prod"), POD_SCOPE, [["container-images", /pulls quay\.io\/evil\/miner, which is neither ECR nor on the allow-list/]]);
            assertExactly(await judge(withContainer((c) => { c.image = "bitnami/redis:7.4.5"; }), "dev"), POD_SCOPE, [["container-images", /pulls docker\.io\/bitnami\/redis/]]);
        });

        it("parses image references the way registries do", () => {
            assert.deepEqual(parseImage("redis"), { repository: "docker.io/library/redis", tag: undefined, digest: false });
            assert.deepEqual(parseImage("citusdata/citus:13.0.3"), { repository: "docker.io/citusdata/citus", tag: "13.0.3", digest: false });
            assert.deepEqual(parseImage("localhost:5000/app:1.0.0"), { repository: "localhost:5000/app", tag: "1.0.0", digest: false });
            assert.deepEqual(parseImage(`123456789012.dkr.ecr.us-east-1.amazonaws.com/noa/gateway:1.2.3@${DIGEST}`), { repository: "123456789012.dkr.ecr.us-east-1.amazonaws.com/noa/gateway", tag: "1.2.3", digest: true });
        });
    });

    describe("container-security", () => {
        it("flags a pod that may run as root, or as uid 0", async () => {
            const s = edit(stack(), "gateway", (p) => { delete p.spec.template.spec.securityContext; });
            assertExactly(await judge(s, "prod"), POD_SCOPE, [["container-security", /^Deployment noa\/gateway container "app" may run as root \(runAsNonRoot is unset\)/]]);
            const uid0 = withContainer((c) => { c.securityContext.runAsUser = 0; });
            assertExactly(await judge(uid0, "dev"), POD_SCOPE, [["container-security", /runAsNonRoot is true, runAsUser 0/]]);
        });

        it("lets a container-level runAsNonRoot stand in for the pod's", async () => {
            const s = edit(stack(), "gateway", (p) => { delete p.spec.template.spec.securityContext; p.spec.template.spec.containers[0].securityContext.runAsNonRoot = true; });
            assertExactly(await judge(s, "prod"), POD_SCOPE, []);
        });

        it("flags privilege escalation (unset means allowed) and privileged containers", async () => {
            const s = withContainer((c) => { delete c.securityContext.allowPrivilegeEscalation; c.securityContext.privileged = true; });
            assertExactly(await judge(s, "prod"), POD_SCOPE, [
                ["container-security", /allows privilege escalation \(allowPrivilegeEscalation unset, defaults to true\)/],
                ["container-security", /is privileged: it has every capability of the node/],
            ]);
        });

        it("judges CronJob pod templates too", async () => {
            const s = edit(stack(), "report", (p) => { p.spec.jobTemplate.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true; });
            assertExactly(await judge(s, "prod"), POD_SCOPE, [["container-security", /^CronJob noa\/report container "report" allows privilege escalation/]]);
        });
    });

    describe("read-only-root-filesystem", () => {
        it("reports a writable root filesystem as advisory", async () => {
            const s = withContainer((c) => { delete c.securityContext.readOnlyRootFilesystem; });
            const v = await judge(s, "prod");
            assertExactly(v, POD_SCOPE, [["read-only-root-filesystem", /container "app" has a writable root filesystem/]]);
            assert.equal(v.find((x) => x.policy === "read-only-root-filesystem")!.level, "advisory");
        });
    });
});

describe("Kubernetes quantities", () => {
    const table: Array<[string | number, number]> = [["500m", 0.5], ["1", 1], ["1.5", 1.5], ["512Mi", 512 * 2 ** 20], ["1Gi", 2 ** 30], ["1G", 1e9], ["1e3", 1000], [2, 2]];
    for (const [input, expected] of table) it(`reads ${JSON.stringify(input)} as ${expected}`, () => assert.equal(parseQuantity(input), expected));
    it("returns NaN for a malformed quantity", () => assert.ok(Number.isNaN(parseQuantity("1 Gi"))));
});
