import * as assert from "node:assert/strict";
import { ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { childNames, harness, promiseOf } from "@noa/offline";
import type { RedisClusterArgs } from "./redis";

const devArgs: RedisClusterArgs = {
    namespace: "noa-data",
    clientNamespace: "noa",
    storageClassName: "gp3-encrypted",
    masters: 3,
    replicasPerMaster: 0,
    node: { cpuRequest: "100m", cpuLimit: "500m", memoryRequest: "128Mi", memoryLimit: "256Mi", storage: "2Gi" },
    maxSchedulableNodes: 5,
    protect: false,
};
const prodArgs: RedisClusterArgs = {
    ...devArgs,
    replicasPerMaster: 1,
    node: { cpuRequest: "250m", cpuLimit: "1", memoryRequest: "1Gi", memoryLimit: "1Gi", storage: "10Gi" },
    maxSchedulableNodes: 12,
    protect: true,
    nodeSelector: { "noa.io/pool": "base" },
};

describe("redis: pure builders", () => {
    let m: typeof import("./redis.js");
    before(async () => {
        m = await import("./redis.js");
    });

    for (const [limit, expected] of [[256 * 2 ** 20, 192 * 2 ** 20], [2 ** 30, 768 * 2 ** 20], [3 * 10 ** 9, 2145 * 2 ** 20]] as const) {
        it(`redisMaxmemory(${limit}) = ${expected} (75 %, whole MiB)`, () => assert.equal(m.redisMaxmemory(limit), expected));
    }

    it("redisConf: cluster mode, AOF on the volume, hostname endpoints, no secret", () => {
        assert.equal(m.redisConf({ maxmemoryBytes: 201326592, maxmemoryPolicy: "volatile-lru" }), [
            "port 6379",
            "bind * -::*",
            "protected-mode no",
            "dir /data",
            "cluster-enabled yes",
            "cluster-config-file /data/nodes.conf",
            "cluster-node-timeout 5000",
            "cluster-preferred-endpoint-type hostname",
            "cluster-require-full-coverage no",
            "cluster-allow-reads-when-down no",
            "appendonly yes",
            "appendfsync everysec",
            "aof-use-rdb-preamble yes",
            "maxmemory 201326592",
            "maxmemory-policy volatile-lru",
            "tcp-keepalive 60",
            "include /run/redis/pod.conf",
            "",
        ].join("\n"));
    });

    it("the bootstrap script creates with the requested replicas and refuses to half-join", () => {
        const s = m.redisBootstrapScript({ nodes: ["a:6379", "b:6379", "c:6379"], replicasPerMaster: 1 });
        assert.ok(s.includes(`NODES="a:6379 b:6379 c:6379"`));
        assert.ok(s.includes("redis-cli --cluster create $addrs --cluster-replicas 1 --cluster-yes"));
        assert.ok(s.includes("/^cluster_known_nodes:/"));
    });

    it("normalizeRedisArgs: defaults, pod count and maxmemory", () => {
        const n = m.normalizeRedisArgs("r", prodArgs);
        assert.equal(n.pods, 6);
        assert.equal(n.maxmemoryBytes, 768 * 2 ** 20);
        assert.equal(n.maxmemoryPolicy, "volatile-lru");
        assert.equal(n.passwordSecretName, "noa-redis-auth");
        assert.equal(n.image, "redis:7.4.5");
        assert.equal(m.normalizeRedisArgs("r", devArgs).pods, 3);
    });

    const bad: [string, Partial<RedisClusterArgs>, string][] = [
        ["fewer than 3 masters", { masters: 2 }, `masters (2) must be at least 3`],
        ["negative replicas", { replicasPerMaster: -1 }, `replicasPerMaster (-1) must be at least 0`],
        ["pods beyond the node groups", { replicasPerMaster: 1 }, `masters × (1 + replicasPerMaster) (6 pods) exceeds maxSchedulableNodes (5): with one pod per node they cannot all be placed`],
        ["storage not a quantity", { node: { ...devArgs.node, storage: "two gigs" } }, `node.storage ("two gigs") is not a Kubernetes quantity`],
        ["unknown eviction policy", { maxmemoryPolicy: "lru" }, `maxmemoryPolicy ("lru") must be one of noeviction,`],
        ["fractional masters", { masters: 3.5 }, `masters (3.5) must be a whole number`],
    ];
    for (const [label, change, message] of bad) {
        it(`rejects ${label}`, () => {
            assert.throws(() => m.normalizeRedisArgs("bad", { ...devArgs, ...change }), (e: Error) => {
                assert.ok(e.message.startsWith(`RedisCluster "bad" has invalid arguments:`), e.message);
                assert.ok(e.message.includes(message), e.message);
                return true;
            });
        });
    }
});

describe("RedisCluster", () => {
    before(() => harness.install());
    beforeEach(() => harness.reset());

    it("creates exactly its children", async () => {
        const { RedisCluster } = await import("./redis.js");
        const r = new RedisCluster("rdev", devArgs);
        await harness.settle();
        assert.deepEqual(await childNames(r), [
            "kubernetes:apps/v1:StatefulSet::rdev",
            "kubernetes:batch/v1:Job::rdev-bootstrap",
            "kubernetes:core/v1:ConfigMap::rdev-config",
            "kubernetes:core/v1:Secret::rdev-client-auth",
            "kubernetes:core/v1:Secret::rdev-server-auth",
            "kubernetes:core/v1:Service::rdev-headless",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy::rdev-ingress",
            "kubernetes:policy/v1:PodDisruptionBudget::rdev-pdb",
            "random:index/randomPassword:RandomPassword::rdev-password",
        ]);
        assert.equal((await harness.of(r)).type, "noa:data:RedisCluster");
    });

    it("dev: 3 masters, no replicas, one StatefulSet with AOF volumes; seed nodes are the pods' DNS names", async () => {
        const { RedisCluster } = await import("./redis.js");
        const r = new RedisCluster("rd", devArgs);
        await harness.settle();
        const set = harness.one("kubernetes:apps/v1:StatefulSet", "rd");
        assert.equal(set.inputs.spec.replicas, 3);
        assert.equal(set.inputs.spec.serviceName, "rd-headless");
        assert.equal(set.inputs.spec.podManagementPolicy, "Parallel");
        assert.equal(set.protect, false);
        assert.deepEqual(set.inputs.spec.volumeClaimTemplates, [{
            metadata: { name: "data" },
            spec: { accessModes: ["ReadWriteOnce"], storageClassName: "gp3-encrypted", resources: { requests: { storage: "2Gi" } } },
        }]);
        assert.deepEqual(set.inputs.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: "Retain", whenScaled: "Retain" });
        const c = set.inputs.spec.template.spec.containers[0];
        assert.equal(c.image, "redis:7.4.5");
        assert.deepEqual(c.volumeMounts, [
            { name: "data", mountPath: "/data" },
            { name: "config", mountPath: "/etc/redis", readOnly: true },
            { name: "run", mountPath: "/run/redis" },
        ]);
        const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
        assert.equal(env.POD_FQDN, "$(POD_NAME).rd-headless.noa-data.svc.cluster.local");
        assert.deepEqual(env.REDIS_PASSWORD, { secretKeyRef: { name: "rd-server-auth", key: "REDIS_PASSWORD" } });
        const conf = harness.one("kubernetes:core/v1:ConfigMap", "rd-config").inputs.data["redis.conf"];
        assert.ok(conf.includes("maxmemory 201326592\n"));
        assert.ok(conf.includes("cluster-enabled yes\n") && conf.includes("appendonly yes\n"));
        assert.equal(
            await promiseOf(r.seedNodes),
            "rd-0.rd-headless.noa-data.svc.cluster.local:6379,rd-1.rd-headless.noa-data.svc.cluster.local:6379,rd-2.rd-headless.noa-data.svc.cluster.local:6379",
        );
        const bootstrap = harness.one("kubernetes:batch/v1:Job", "rd-bootstrap");
        // A failed (or deliberately stopped) bootstrap runs again on the next up; Pulumi waits out its 1200 s deadline.
        assert.deepEqual(bootstrap.inputs.metadata.annotations, { "pulumi.com/replaceUnready": "true" });
        assert.equal(bootstrap.inputs.spec.activeDeadlineSeconds, 1200);
        assert.deepEqual(bootstrap.customTimeouts, { create: "21m", update: "21m" });
        const job = bootstrap.inputs.spec.template.spec.containers[0];
        assert.ok(job.command[2].includes("--cluster-replicas 0 --cluster-yes"));
        assert.ok(job.command[2].includes(`NODES="rd-0.rd-headless.noa-data.svc.cluster.local:6379 rd-1.rd-headless.noa-data.svc.cluster.local:6379 rd-2.rd-headless.noa-data.svc.cluster.local:6379"`));
        assert.deepEqual(job.env, [{ name: "REDISCLI_AUTH", valueFrom: { secretKeyRef: { name: "rd-server-auth", key: "REDIS_PASSWORD" } } }]);
    });

    it("prod: 3 masters + 3 replicas, one per node, protected, PDB max unavailable 1", async () => {
        const { RedisCluster } = await import("./redis.js");
        const r = new RedisCluster("rp", prodArgs);
        await harness.settle();
        const set = harness.one("kubernetes:apps/v1:StatefulSet", "rp");
        assert.equal(set.inputs.spec.replicas, 6);
        assert.equal(set.protect, true);
        // A volume size change must not replace the StatefulSet (Kubernetes refuses template changes; prod is protected).
        assert.deepEqual(set.ignoreChanges, ["spec.volumeClaimTemplates"]);
        assert.equal(set.retainOnDelete, true);
        assert.deepEqual(harness.find((x) => x.protect).map((x) => x.name).sort(), ["rp", "rp-password"]);
        assert.equal(set.inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "10Gi");
        const sel = { "app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": "rp", "app.kubernetes.io/component": "node" };
        assert.deepEqual(set.inputs.spec.selector.matchLabels, sel);
        // Every Redis pod repels every other per host: no master shares a node with its replica.
        assert.deepEqual(set.inputs.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution, [
            { labelSelector: { matchLabels: sel }, topologyKey: "kubernetes.io/hostname" },
        ]);
        assert.deepEqual(set.inputs.spec.template.spec.nodeSelector, { "noa.io/pool": "base" });
        assert.deepEqual(harness.one("kubernetes:policy/v1:PodDisruptionBudget", "rp-pdb").inputs.spec, { maxUnavailable: 1, selector: { matchLabels: sel } });
        assert.ok(harness.one("kubernetes:batch/v1:Job", "rp-bootstrap").inputs.spec.template.spec.containers[0].command[2].includes("--cluster-replicas 1 --cluster-yes"));
        assert.equal((await promiseOf(r.seedNodes)).split(",").length, 6);
        assert.ok(harness.one("kubernetes:core/v1:ConfigMap", "rp-config").inputs.data["redis.conf"].includes("maxmemory 805306368\n"));
    });

    it("keeps the password in Secrets only: server namespace and the client's noa-redis-auth", async () => {
        const { RedisCluster } = await import("./redis.js");
        const r = new RedisCluster("rs", devArgs);
        await harness.settle();
        const password = harness.one("random:index/randomPassword:RandomPassword", "rs-password").state.result as string;
        const server = harness.one("kubernetes:core/v1:Secret", "rs-server-auth");
        const client = harness.one("kubernetes:core/v1:Secret", "rs-client-auth");
        assert.equal(server.inputs.metadata.namespace, "noa-data");
        assert.deepEqual(client.inputs.metadata, { name: "noa-redis-auth", namespace: "noa", labels: client.inputs.metadata.labels });
        for (const s of [server, client]) {
            assert.deepEqual(s.inputs.stringData, { REDIS_PASSWORD: password });
            assert.deepEqual(s.secretPaths, ["stringData"]);
        }
        for (const res of harness.find((x) => x.type !== "kubernetes:core/v1:Secret" && !x.type.startsWith("random:"))) {
            assert.ok(!JSON.stringify(res.inputs).includes(password), res.name);
        }
        assert.equal(await promiseOf(r.passwordSecretName), "noa-redis-auth");
    });

    it("runs redis_exporter beside every node; a ServiceMonitor only when enabled, after what installs its CRD", async () => {
        const { RedisCluster } = await import("./redis.js");
        const k8s = await import("@pulumi/kubernetes");
        const crds = new k8s.core.v1.ConfigMap("rm-crds", {});
        new RedisCluster("rm", { ...devArgs, serviceMonitor: { enabled: true, dependsOn: [crds] } });
        new RedisCluster("rq", devArgs);
        await harness.settle();
        for (const name of ["rm", "rq"]) {
            const containers = harness.one("kubernetes:apps/v1:StatefulSet", name).inputs.spec.template.spec.containers;
            assert.deepEqual(containers.map((c: any) => c.name), ["redis", "exporter"]);
            const exporter = containers[1];
            assert.equal(exporter.image, "oliver006/redis_exporter:v1.91.1");
            assert.deepEqual(exporter.ports, [{ name: "metrics", containerPort: 9121 }]);
            assert.deepEqual(exporter.env, [
                { name: "REDIS_ADDR", value: "redis://127.0.0.1:6379" },
                { name: "REDIS_PASSWORD", valueFrom: { secretKeyRef: { name: `${name}-server-auth`, key: "REDIS_PASSWORD" } } },
            ]);
            assert.deepEqual(exporter.securityContext, containers[0].securityContext);
            assert.deepEqual(exporter.readinessProbe.httpGet, { path: "/health", port: 9121 });
            assert.ok(exporter.resources.limits.memory, "the exporter has a memory limit");
            assert.deepEqual(harness.one("kubernetes:core/v1:Service", `${name}-headless`).inputs.spec.ports.map((p: any) => [p.name, p.port]), [
                ["redis", 6379], ["cluster-bus", 16379], ["metrics", 9121],
            ]);
        }
        const sm = harness.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "rm-metrics");
        assert.deepEqual(sm.inputs.spec, {
            selector: { matchLabels: { "app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": "rm", "app.kubernetes.io/component": "node" } },
            endpoints: [{ port: "metrics", interval: "30s" }],
        });
        assert.equal(sm.inputs.metadata.namespace, "noa-data");
        assert.ok(sm.dependsOn.includes(harness.one("kubernetes:core/v1:ConfigMap", "rm-crds").urn));
        assert.equal(harness.byType("kubernetes:monitoring.coreos.com/v1:ServiceMonitor").length, 1);
    });

    it("admits the client namespace on 6379, only its own pods and Job on the bus, and monitoring on 9121", async () => {
        const { RedisCluster } = await import("./redis.js");
        new RedisCluster("rn", devArgs);
        await harness.settle();
        const sel = { "app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": "rn", "app.kubernetes.io/component": "node" };
        assert.deepEqual(harness.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "rn-ingress").inputs.spec, {
            podSelector: { matchLabels: sel },
            policyTypes: ["Ingress"],
            ingress: [
                { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "noa" } } }], ports: [{ protocol: "TCP", port: 6379 }] },
                {
                    from: [{ podSelector: { matchLabels: sel } }, { podSelector: { matchLabels: { ...sel, "app.kubernetes.io/component": "bootstrap" } } }],
                    ports: [{ protocol: "TCP", port: 6379 }, { protocol: "TCP", port: 16379 }],
                },
                { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }], ports: [{ protocol: "TCP", port: 9121 }] },
            ],
        });
    });

    it("throws before creating anything with fewer than 3 masters", async () => {
        const { RedisCluster } = await import("./redis.js");
        assert.throws(() => new RedisCluster("rx", { ...devArgs, masters: 1 }), /RedisCluster "rx" has invalid arguments:\n {2}- masters \(1\) must be at least 3/);
        await harness.settle();
        assert.equal(harness.find((x) => x.name.startsWith("rx")).length, 0);
    });
});

/**
 * The real thing: the component's own redis.conf, start script and bootstrap
 * script against local redis-server processes (ports 17311–17314; the
 * config's fixed paths and port are rewritten to a temporary directory).
 */
describe("RedisCluster scripts against real redis-server", function () {
    this.timeout(60_000);
    const PASSWORD = "integration-password-1234567890";
    const ports = [17311, 17312, 17313, 17314];
    const procs: ChildProcess[] = [];
    let dir: string;
    let m: typeof import("./redis.js");

    const sh = (script: string, env: Record<string, string> = {}) =>
        new Promise<{ code: number; out: string }>((resolve) => {
            execFile("sh", ["-c", script], { env: { ...process.env, REDISCLI_AUTH: PASSWORD, ...env } }, (err, stdout, stderr) =>
                resolve({ code: err ? Number((err as any).code ?? 1) : 0, out: `${stdout}${stderr}` }));
        });
    const cli = async (port: number, ...args: string[]) => (await sh(`redis-cli -p ${port} ${args.join(" ")}`)).out.trim();

    async function startNode(port: number): Promise<void> {
        const nodeDir = join(dir, String(port));
        await sh(`mkdir -p ${nodeDir}`);
        const conf = m.redisConf({ maxmemoryBytes: 64 * 2 ** 20, maxmemoryPolicy: "volatile-lru" })
            .replace("port 6379", `port ${port}`)
            .replace("bind * -::*", "bind 127.0.0.1")
            .replace("dir /data", `dir ${nodeDir}`)
            .replace("/data/nodes.conf", `${nodeDir}/nodes.conf`)
            .replace("/run/redis/pod.conf", `${nodeDir}/pod.conf`);
        writeFileSync(join(nodeDir, "redis.conf"), conf);
        const start = m.redisStartScript().replace("/run/redis/pod.conf", `${nodeDir}/pod.conf`).replace("/etc/redis/redis.conf", `${nodeDir}/redis.conf`);
        const proc = spawn("sh", ["-c", start], { env: { ...process.env, REDIS_PASSWORD: PASSWORD, POD_FQDN: "localhost" }, stdio: "ignore" });
        procs.push(proc);
        for (let i = 0; i < 100 && (await cli(port, "ping")) !== "PONG"; i++) await new Promise((r) => setTimeout(r, 100));
    }

    before(async () => {
        m = await import("./redis.js");
        dir = mkdtempSync(join(tmpdir(), "noa-redis-"));
        for (const port of ports.slice(0, 3)) await startNode(port);
    });
    after(async () => {
        for (const port of ports) await sh(`redis-cli -p ${port} shutdown nosave`);
        for (const p of procs) if (p.exitCode === null) p.kill("SIGKILL");
        rmSync(dir, { recursive: true, force: true });
    });

    it("needs the password from the Secret (not the config) and persists with AOF", async () => {
        assert.match((await sh(`redis-cli -p ${ports[0]} ping`, { REDISCLI_AUTH: "" })).out, /NOAUTH/);
        assert.equal(await cli(ports[0], "config", "get", "appendonly"), "appendonly\nyes");
    });

    it("bootstrap creates the cluster once, then is a no-op", async () => {
        const nodes = ports.slice(0, 3).map((p) => `127.0.0.1:${p}`);
        const script = m.redisBootstrapScript({ nodes, replicasPerMaster: 0 });
        const first = await sh(script);
        assert.equal(first.code, 0, first.out);
        assert.match(first.out, /All 16384 slots covered/);
        for (let i = 0; i < 50 && !(await cli(ports[0], "cluster", "info")).includes("cluster_state:ok"); i++) await new Promise((r) => setTimeout(r, 100));
        assert.match(await cli(ports[0], "cluster", "info"), /cluster_known_nodes:3/);
        // Clients are sent to the announced hostname, not an IP.
        assert.match(await cli(ports[1], "cluster", "slots"), /localhost/);
        const second = await sh(script);
        assert.equal(second.code, 0, second.out);
        assert.match(second.out, /cluster already exists; nothing to do/);
    });

    it("readiness: a member of a healthy cluster is ready (a master here)", async () => {
        const ready = await sh(m.redisReadinessScript(ports[0]));
        assert.equal(ready.code, 0, ready.out);
    });

    it("bootstrap fails loudly when a listed node is not in the existing cluster", async () => {
        await startNode(ports[3]);
        // A node in no cluster yet is ready: the bootstrap Job waits for it.
        const alone = await sh(m.redisReadinessScript(ports[3]));
        assert.equal(alone.code, 0, alone.out);
        const run = await sh(m.redisBootstrapScript({ nodes: ports.map((p) => `127.0.0.1:${p}`), replicasPerMaster: 0 }));
        assert.equal(run.code, 1);
        assert.match(run.out, new RegExp(`cluster exists but these nodes are not in it: 127\\.0\\.0\\.1:${ports[3]}`));
        assert.match(await cli(ports[3], "cluster", "info"), /cluster_known_nodes:1/);
    });

    it("readiness: a member of a cluster that is not ok is not ready", async () => {
        // Two fresh nodes that meet form a cluster without slots: cluster_state:fail.
        const pair = [17315, 17316];
        ports.push(...pair);
        for (const port of pair) await startNode(port);
        await cli(pair[0], "cluster", "meet", "127.0.0.1", String(pair[1]));
        for (let i = 0; i < 50 && !(await cli(pair[0], "cluster", "info")).includes("cluster_known_nodes:2"); i++) await new Promise((r) => setTimeout(r, 100));
        assert.match(await cli(pair[0], "cluster", "info"), /cluster_state:fail/);
        const notReady = await sh(m.redisReadinessScript(pair[0]));
        assert.notEqual(notReady.code, 0, notReady.out);
    });

    // Runs after the bootstrap tests: ports[0] is a member of a formed cluster by now.
    it("the exporter sidecar's contract (REDIS_ADDR, REDIS_PASSWORD) yields the series the alert rules read", async function () {
        const exporter = "/usr/bin/prometheus-redis-exporter";
        assert.ok(existsSync(exporter), "prometheus-redis-exporter is installed by scripts/setup.sh");
        // A fixed port, as for the Redis nodes above (17311–17314).
        const port = 17321;
        const scrape = async (password: string) => {
            const proc = spawn(exporter, [], {
                env: { ...process.env, REDIS_ADDR: `redis://127.0.0.1:${ports[0]}`, REDIS_PASSWORD: password, REDIS_EXPORTER_WEB_LISTEN_ADDRESS: `127.0.0.1:${port}` },
                stdio: "ignore",
            });
            try {
                for (let i = 0; i < 100; i++) {
                    try {
                        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
                        if (res.ok) return series(await res.text());
                    } catch {
                        // not listening yet
                    }
                    await new Promise((r) => setTimeout(r, 50));
                }
                throw new Error("the exporter never answered");
            } finally {
                // The next scrape reuses the port: wait until this exporter has let go of it.
                if (proc.exitCode === null && proc.signalCode === null) {
                    const exited = new Promise((r) => proc.once("exit", r));
                    proc.kill("SIGTERM");
                    await exited;
                }
            }
        };
        const ok = await scrape(PASSWORD);
        assert.equal(ok.get("redis_up"), 1);
        assert.equal(ok.get("redis_cluster_state"), 1, "RedisClusterStateFail reads redis_cluster_state (1 = ok)");
        assert.equal(ok.get("redis_memory_max_bytes"), 64 * 2 ** 20, "RedisMemoryHigh divides by the configured maxmemory");
        assert.ok((ok.get("redis_memory_used_bytes") ?? 0) > 0);
        assert.equal((await scrape("wrong-password")).get("redis_up"), 0);
    });
});

/** Unlabelled series of a Prometheus text exposition: name → value. */
function series(text: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const line of text.split("\n")) {
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$/.exec(line);
        if (m) out.set(m[1]!, Number(m[2]));
    }
    return out;
}

