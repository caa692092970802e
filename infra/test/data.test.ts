/**
 * Program-level assertions for the data stores (wiring step 4): Citus,
 * Redis Cluster and RabbitMQ in the real program evaluated for dev and prod,
 * their sizes from the stack files, the connection Secrets the services
 * read (services/README.md) and the config rules that guard them.
 */
import { runPolicies } from "@noa/policy/offline";
import * as assert from "node:assert/strict";
import { Evaluation, evaluateStack, readStackConfig } from "../../scripts/offline/evaluate";
import type { Registration } from "../../scripts/offline/mocks";
import { CONNECTION_SECRETS } from "../runtime";

const ofType = (ev: Evaluation, type: string) => ev.resources.filter((r) => r.type === type);
function one(ev: Evaluation, type: string, name: string): Registration {
    const found = ev.resources.filter((r) => r.type === type && r.name === name);
    assert.equal(found.length, 1, `exactly one ${type} ${name} (found ${found.length}: ${ofType(ev, type).map((r) => r.name).join(", ")})`);
    return found[0];
}
const STS = "kubernetes:apps/v1:StatefulSet";
const claimSize = (r: Registration) => r.inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage;

describe("data: Citus, Redis and RabbitMQ in the program", () => {
    let dev: Evaluation;
    let prod: Evaluation;
    before(async () => {
        dev = await evaluateStack("dev");
        prod = await evaluateStack("prod");
    });

    it("creates the three clusters under the stack, after the data and services namespaces, on the cluster's provider", () => {
        for (const ev of [dev, prod]) {
            const namespaces = ofType(ev, "kubernetes:core/v1:Namespace").filter((r) => ["noa", "noa-data"].includes(r.inputs.metadata.name)).map((r) => r.urn);
            assert.equal(namespaces.length, 2);
            const provider = ofType(ev, "pulumi:providers:kubernetes")[0];
            for (const [type, name] of [["noa:data:CitusCluster", "noa-citus"], ["noa:data:RedisCluster", "noa-redis"], ["noa:messaging:RabbitMqCluster", "noa-rabbitmq"]]) {
                const c = one(ev, type, name);
                assert.equal(c.parent, ev.resources[0].urn);
                for (const ns of namespaces) assert.ok(c.dependsOn.includes(ns), `${name} waits for ${ns}`);
            }
            const sets = ofType(ev, STS).filter((r) => r.inputs.metadata.namespace === "noa-data");
            assert.deepEqual(sets.map((r) => r.name).sort(), ["noa-citus-coordinator", "noa-citus-worker", "noa-rabbitmq", "noa-redis"]);
            assert.ok(sets.every((r) => r.provider?.startsWith(provider.urn)), "every StatefulSet deploys through the EKS cluster's provider");
        }
    });

    it("prod: coordinator + 4 workers, Redis 3 + 3, RabbitMQ 3, the stack's volumes on gp3-encrypted, every StatefulSet protected", () => {
        const set = (name: string) => one(prod, STS, name);
        assert.deepEqual(
            ["noa-citus-coordinator", "noa-citus-worker", "noa-redis", "noa-rabbitmq"].map((n) => [n, set(n).inputs.spec.replicas, claimSize(set(n)), set(n).protect, set(n).retainOnDelete]),
            [
                ["noa-citus-coordinator", 1, "100Gi", true, true],
                ["noa-citus-worker", 4, "200Gi", true, true],
                ["noa-redis", 6, "10Gi", true, true],
                ["noa-rabbitmq", 3, "30Gi", true, true],
            ],
        );
        for (const name of ["noa-citus-coordinator", "noa-citus-worker", "noa-redis", "noa-rabbitmq"]) {
            const s = set(name);
            assert.equal(s.inputs.spec.volumeClaimTemplates[0].spec.storageClassName, "gp3-encrypted");
            assert.deepEqual(s.inputs.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: "Retain", whenScaled: "Retain" });
            assert.deepEqual(s.inputs.spec.template.spec.nodeSelector, { "noa.io/pool": "base" }, `${name} stays on the on-demand base group`);
        }
        const passwords = ofType(prod, "random:index/randomPassword:RandomPassword").filter((r) => /noa:(data|messaging):/.test(r.urn));
        assert.equal(passwords.length, 6);
        assert.ok(passwords.every((r) => r.protect), "generated credentials live as long as the data they were fixed into");
        assert.equal(one(prod, "kubernetes:apps/v1:Deployment", "noa-citus-pgbouncer").inputs.spec.replicas, 3);
        assert.deepEqual(set("noa-citus-worker").inputs.spec.template.spec.containers[0].resources, { requests: { cpu: "1", memory: "4Gi" }, limits: { cpu: "2", memory: "4Gi" } });
        assert.ok(set("noa-citus-worker").inputs.spec.template.spec.containers[0].args.includes("shared_buffers=1024MB"));
        assert.ok(one(prod, "kubernetes:batch/v1:Job", "noa-redis-bootstrap").inputs.spec.template.spec.containers[0].command[2].includes("--cluster-replicas 1"));
        const rabbitConf: string = one(prod, "kubernetes:core/v1:ConfigMap", "noa-rabbitmq-config").inputs.data["rabbitmq.conf"];
        assert.ok(rabbitConf.includes("cluster_partition_handling = pause_minority\n"));
        // The worker is scaled by KEDA, whose operator reads queue depth over AMQP from its own namespace.
        const amqpFrom = one(prod, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "noa-rabbitmq-ingress").inputs.spec.ingress[0].from;
        assert.deepEqual(amqpFrom.map((f: any) => f.namespaceSelector.matchLabels["kubernetes.io/metadata.name"]), ["noa", "keda"]);
    });

    it("dev: coordinator + 2 workers, Redis 3 masters without replicas, RabbitMQ 1 node, small unprotected volumes", () => {
        const set = (name: string) => one(dev, STS, name);
        assert.deepEqual(
            ["noa-citus-coordinator", "noa-citus-worker", "noa-redis", "noa-rabbitmq"].map((n) => [n, set(n).inputs.spec.replicas, claimSize(set(n)), set(n).protect]),
            [
                ["noa-citus-coordinator", 1, "20Gi", false],
                ["noa-citus-worker", 2, "20Gi", false],
                ["noa-redis", 3, "2Gi", false],
                ["noa-rabbitmq", 1, "5Gi", false],
            ],
        );
        assert.deepEqual(dev.resources.filter((r) => r.protect).map((r) => r.name), []);
        assert.ok(one(dev, "kubernetes:batch/v1:Job", "noa-redis-bootstrap").inputs.spec.template.spec.containers[0].command[2].includes("--cluster-replicas 0"));
    });

    it("writes exactly the connection Secrets the services read, in their namespace, as secrets", () => {
        for (const ev of [dev, prod]) {
            for (const { secret, key } of [CONNECTION_SECRETS.database, CONNECTION_SECRETS.redis, CONNECTION_SECRETS.amqp]) {
                const found = ofType(ev, "kubernetes:core/v1:Secret").filter((r) => r.inputs.metadata.name === secret);
                assert.equal(found.length, 1, secret);
                assert.equal(found[0].inputs.metadata.namespace, "noa");
                assert.deepEqual(Object.keys(found[0].inputs.stringData), [key]);
                assert.deepEqual(found[0].secretPaths, ["stringData"]);
            }
        }
        const value = (name: string, key: string) => ofType(prod, "kubernetes:core/v1:Secret").find((r) => r.inputs.metadata.name === name)!.inputs.stringData[key] as string;
        assert.match(value("noa-citus-app", "DATABASE_URL"), /^postgres:\/\/noa:[A-Za-z0-9]{32}@noa-citus-pgbouncer\.noa-data\.svc\.cluster\.local:5432\/noa$/);
        assert.match(value("noa-rabbitmq-app", "AMQP_URL"), /^amqp:\/\/noa_app:[A-Za-z0-9]{32}@noa-rabbitmq\.noa-data\.svc\.cluster\.local:5672\/noa$/);
        assert.match(value("noa-redis-auth", "REDIS_PASSWORD"), /^[A-Za-z0-9]{40}$/);
        // Every Secret in the data namespace holds its values as secrets too.
        for (const s of ofType(prod, "kubernetes:core/v1:Secret").filter((r) => r.inputs.metadata.namespace === "noa-data")) {
            assert.deepEqual(s.secretPaths, ["stringData"], s.name);
        }
    });

    it("exports the addresses services connect to and the Secret names, never a password", () => {
        const hosts = (n: number) => Array.from({ length: n }, (_, i) => `noa-redis-${i}.noa-redis-headless.noa-data.svc.cluster.local:6379`).join(",");
        assert.deepEqual(prod.outputs.data, {
            citus: { host: "noa-citus-pgbouncer.noa-data.svc.cluster.local", port: 5432, connectionSecret: "noa-citus-app" },
            redis: { seedNodes: hosts(6), passwordSecret: "noa-redis-auth" },
            rabbitmq: { host: "noa-rabbitmq.noa-data.svc.cluster.local", amqpPort: 5672, connectionSecret: "noa-rabbitmq-app" },
        });
        assert.equal((dev.outputs.data as any).redis.seedNodes, hosts(3));
    });

    it("hangs ServiceMonitors for the Citus and Redis exporters and RabbitMQ's plugin on the monitoring stack", () => {
        for (const ev of [dev, prod]) {
            const monitors = ofType(ev, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor").filter((r) => r.inputs.metadata.namespace === "noa-data");
            assert.deepEqual(monitors.map((r) => r.name).sort(), ["noa-citus-metrics", "noa-rabbitmq-metrics", "noa-redis-metrics"]);
            const stack = ofType(ev, "kubernetes:helm.sh/v3:Release").find((r) => r.inputs.chart === "kube-prometheus-stack")!;
            for (const m of monitors) assert.ok(m.dependsOn.includes(stack.urn), `${m.name} waits for the CRDs`);
        }
    });

    it("the data stores pass the whole policy pack in both environments", async () => {
        for (const ev of [dev, prod]) {
            const dataUrns = new Set(ev.resources.filter((r) => /noa:(data|messaging):/.test(r.urn)).map((r) => r.urn));
            const violations = await runPolicies(ev.resources, ev.stack, { stack: ev.stack, project: "noa" });
            assert.deepEqual(violations.filter((v) => v.urn && dataUrns.has(v.urn)), [], ev.stack);
        }
    });

    describe("config guards", () => {
        const mutate = (section: string, change: (v: any) => void) => {
            const { config } = readStackConfig("prod");
            const value = JSON.parse(config[`noa:${section}`]);
            change(value);
            return { ...config, [`noa:${section}`]: JSON.stringify(value) };
        };
        const cases: [string, string, (v: any) => void, RegExp][] = [
            ["fewer than 3 Redis masters", "redis", (v) => { v.masters = 2; }, /noa:redis\.masters \(2\) must be at least 3/],
            ["an even RabbitMQ node count", "rabbitmq", (v) => { v.nodes = 4; }, /noa:rabbitmq\.nodes \(4\) must be 1 or odd/],
            ["zero Citus workers", "citus", (v) => { v.workers = 0; }, /noa:citus\.workers \(0\) must be at least 1/],
            ["a memory limit below its request", "citus", (v) => { v.worker.memoryLimit = "1Gi"; }, /noa:citus\.worker\.memoryLimit \("1Gi"\) is below memoryRequest \("4Gi"\)/],
            ["a volume that is not a quantity", "citus", (v) => { v.worker.storage = "200 GB"; }, /noa:citus\.worker\.storage \("200 GB"\) is not a Kubernetes quantity/],
            ["more Redis pods than base nodes", "redis", (v) => { v.replicasPerMaster = 4; }, /noa:redis \(3 masters × 5 = 15 pods\) exceeds noa:cluster\.nodeGroups\.base\.maxSize \(12\)/],
        ];
        for (const [label, section, change, message] of cases) {
            it(`rejects ${label} before registering anything`, async () => {
                await assert.rejects(evaluateStack("prod", mutate(section, change)), (err: Error) => {
                    assert.equal(err.name, "ConfigError", err.message);
                    assert.match(err.message, message);
                    return true;
                });
            });
        }
    });
});
