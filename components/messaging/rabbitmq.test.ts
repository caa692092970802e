import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { childNames, harness, promiseOf } from "@noa/offline";
import type { RabbitMqClusterArgs } from "./rabbitmq.js";

const devArgs: RabbitMqClusterArgs = {
    namespace: "noa-data",
    clientNamespace: "noa",
    storageClassName: "gp3-encrypted",
    nodes: 1,
    deliveryLimit: 5,
    node: { cpuRequest: "250m", cpuLimit: "1", memoryRequest: "512Mi", memoryLimit: "1Gi", storage: "5Gi" },
    maxSchedulableNodes: 5,
    protect: false,
};
const prodArgs: RabbitMqClusterArgs = {
    ...devArgs,
    nodes: 3,
    node: { cpuRequest: "500m", cpuLimit: "2", memoryRequest: "2Gi", memoryLimit: "2Gi", storage: "30Gi" },
    maxSchedulableNodes: 12,
    protect: true,
    nodeSelector: { "noa.io/pool": "base" },
};
const GiB = 2 ** 30;

describe("rabbitmq: pure builders", () => {
    let m: typeof import("./rabbitmq.js");
    before(async () => {
        m = await import("./rabbitmq.js");
    });

    for (const [limit, watermark, disk] of [[GiB, 614 * 2 ** 20, GiB], [2 * GiB, 1228 * 2 ** 20, 2 * GiB], [512 * 2 ** 20, 307 * 2 ** 20, GiB]] as const) {
        it(`alarms from a ${limit / 2 ** 20} MiB limit: memory ${watermark}, disk ${disk}`, () => {
            assert.equal(m.rabbitMemoryHighWatermark(limit), watermark);
            assert.equal(m.rabbitDiskFreeLimit(limit), disk);
        });
    }

    it("rabbitmqConf: k8s peer discovery, pause_minority, alarms, definitions at boot", () => {
        assert.equal(m.rabbitmqConf({ headlessService: "mq-nodes", namespace: "noa-data", memoryHighWatermarkBytes: 643825664, diskFreeLimitBytes: GiB }), [
            "listeners.tcp.default = 5672",
            "management.tcp.port = 15672",
            "prometheus.tcp.port = 15692",
            "cluster_formation.peer_discovery_backend = rabbit_peer_discovery_k8s",
            "cluster_formation.k8s.host = kubernetes.default.svc.cluster.local",
            "cluster_formation.k8s.address_type = hostname",
            "cluster_formation.k8s.service_name = mq-nodes",
            "cluster_formation.k8s.hostname_suffix = .mq-nodes.noa-data.svc.cluster.local",
            "cluster_partition_handling = pause_minority",
            "vm_memory_high_watermark.absolute = 643825664",
            `disk_free_limit.absolute = ${GiB}`,
            "queue_leader_locator = balanced",
            "load_definitions = /etc/rabbitmq/definitions.json",
            "loopback_users.guest = true",
            "log.console = true",
            "log.console.level = info",
            "log.file = false",
            "",
        ].join("\n"));
    });

    it("enables management, Prometheus and k8s peer discovery", () => {
        assert.equal(m.enabledPlugins(), "[rabbitmq_management,rabbitmq_prometheus,rabbitmq_peer_discovery_k8s].\n");
    });

    it("rabbitPasswordHash is RabbitMQ's salted SHA-256, stable for the same password", () => {
        const hash = m.rabbitPasswordHash("noa_app", "s3cret");
        const raw = Buffer.from(hash, "base64");
        assert.equal(raw.length, 36);
        const salt = raw.subarray(0, 4);
        assert.deepEqual(raw.subarray(4), createHash("sha256").update(Buffer.concat([salt, Buffer.from("s3cret")])).digest());
        assert.equal(m.rabbitPasswordHash("noa_app", "s3cret"), hash);
        assert.notEqual(m.rabbitPasswordHash("noa_app", "other"), hash);
        assert.notEqual(m.rabbitPasswordHash("admin", "s3cret").slice(0, 6), hash.slice(0, 6));
    });

    it("definitions: quorum-default vhost, app user limited to it, job-queue policy with DLX and delivery limit", () => {
        const d = m.rabbitDefinitions({ vhost: "noa", appUser: "noa_app", appPassword: "a", adminUser: "admin", adminPassword: "b", deadLetterExchange: "jobs.dlx", deliveryLimit: 5 }) as any;
        assert.deepEqual(d.vhosts, [{
            name: "noa", description: "noa services", tags: [], default_queue_type: "quorum",
            metadata: { description: "noa services", tags: [], default_queue_type: "quorum" },
        }]);
        assert.deepEqual(d.users.map((u: any) => [u.name, u.tags, u.hashing_algorithm]), [
            ["admin", ["administrator"], "rabbit_password_hashing_sha256"],
            ["noa_app", [], "rabbit_password_hashing_sha256"],
        ]);
        assert.ok(!JSON.stringify(d).includes(`"password"`));
        assert.deepEqual(d.permissions.find((p: any) => p.user === "noa_app"), { user: "noa_app", vhost: "noa", configure: ".*", write: ".*", read: ".*" });
        assert.equal(d.permissions.length, 2);
        assert.deepEqual(d.policies, [{
            vhost: "noa", name: "job-queues", pattern: "^jobs\\.(?!dead$|delay\\.)", "apply-to": "quorum_queues", priority: 0,
            definition: { "dead-letter-exchange": "jobs.dlx", "delivery-limit": 5, "dead-letter-strategy": "at-least-once", overflow: "reject-publish" },
        }]);
    });

    it("the policy pattern takes the five job queues and leaves the dead-letter and delay queues alone", () => {
        // Same PCRE semantics as RabbitMQ's Erlang `re` for this pattern.
        const re = new RegExp(m.JOB_QUEUE_PATTERN);
        for (const q of ["jobs.email", "jobs.webhook", "jobs.report", "jobs.export", "jobs.analytics"]) assert.ok(re.test(q), q);
        for (const q of ["jobs.dead", "jobs.delay.1000", "jobs", "other.jobs.email"]) assert.ok(!re.test(q), q);
    });

    it("normalizeRabbitMqArgs applies defaults and derives the alarms", () => {
        const n = m.normalizeRabbitMqArgs("mq", prodArgs);
        assert.equal(n.vhost, "noa");
        assert.equal(n.appUser, "noa_app");
        assert.equal(n.adminUser, "admin");
        assert.equal(n.deadLetterExchange, "jobs.dlx");
        assert.equal(n.connectionSecretName, "noa-rabbitmq-app");
        assert.equal(n.metricsNamespace, "monitoring");
        assert.equal(n.image, "rabbitmq:4.1.4-management");
        assert.equal(n.memoryHighWatermarkBytes, 1228 * 2 ** 20);
        assert.equal(n.diskFreeLimitBytes, 2 * GiB);
    });

    const bad: [string, Partial<RabbitMqClusterArgs>, string][] = [
        ["two nodes", { nodes: 2 }, `nodes (2) must be 1 or odd: an even-sized cluster split in half has no majority, so quorum queues stop`],
        ["four nodes", { nodes: 4, maxSchedulableNodes: 9 }, `nodes (4) must be 1 or odd`],
        ["zero nodes", { nodes: 0 }, `nodes (0) must be at least 1`],
        ["more nodes than hosts", { nodes: 7 }, `nodes (7 pods) exceeds maxSchedulableNodes (5): with one pod per node they cannot all be placed`],
        ["storage not a quantity", { node: { ...devArgs.node, storage: "5 GB" } }, `node.storage ("5 GB") is not a Kubernetes quantity`],
        ["a volume too small for the disk alarm", { node: { ...devArgs.node, storage: "1Gi" } }, `node.storage ("1Gi") must be at least twice the disk alarm threshold (1073741824 bytes, from node.memoryLimit "1Gi")`],
        ["zero delivery limit", { deliveryLimit: 0 }, `deliveryLimit (0) must be at least 1`],
        ["app user = admin", { appUser: "admin" }, `appUser ("admin") must differ from adminUser`],
    ];
    for (const [label, change, message] of bad) {
        it(`rejects ${label}`, () => {
            assert.throws(() => m.normalizeRabbitMqArgs("bad", { ...devArgs, ...change }), (e: Error) => {
                assert.ok(e.message.startsWith(`RabbitMqCluster "bad" has invalid arguments:`), e.message);
                assert.ok(e.message.includes(message), e.message);
                return true;
            });
        });
    }
});

describe("RabbitMqCluster", () => {
    before(() => harness.install());
    beforeEach(() => harness.reset());

    it("creates exactly its children", async () => {
        const { RabbitMqCluster } = await import("./rabbitmq.js");
        const mq = new RabbitMqCluster("mqdev", devArgs);
        await harness.settle();
        assert.deepEqual(await childNames(mq), [
            "kubernetes:apps/v1:StatefulSet::mqdev",
            "kubernetes:core/v1:ConfigMap::mqdev-config",
            "kubernetes:core/v1:Secret::mqdev-admin",
            "kubernetes:core/v1:Secret::mqdev-connection",
            "kubernetes:core/v1:Secret::mqdev-definitions",
            "kubernetes:core/v1:Secret::mqdev-erlang-cookie",
            "kubernetes:core/v1:Service::mqdev",
            "kubernetes:core/v1:Service::mqdev-nodes",
            "kubernetes:core/v1:ServiceAccount::mqdev",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy::mqdev-ingress",
            "kubernetes:policy/v1:PodDisruptionBudget::mqdev-pdb",
            "kubernetes:rbac.authorization.k8s.io/v1:Role::mqdev-peer-discovery",
            "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding::mqdev-peer-discovery",
            "random:index/randomPassword:RandomPassword::mqdev-admin-password",
            "random:index/randomPassword:RandomPassword::mqdev-app-password",
            "random:index/randomPassword:RandomPassword::mqdev-erlang-cookie",
        ]);
        assert.equal((await harness.of(mq)).type, "noa:messaging:RabbitMqCluster");
    });

    it("dev: one unprotected node on an encrypted volume, no preStop wait", async () => {
        const { RabbitMqCluster } = await import("./rabbitmq.js");
        new RabbitMqCluster("mqd", devArgs);
        await harness.settle();
        const set = harness.one("kubernetes:apps/v1:StatefulSet", "mqd");
        assert.equal(set.inputs.spec.replicas, 1);
        assert.equal(set.protect, false);
        assert.equal(set.inputs.spec.serviceName, "mqd-nodes");
        assert.deepEqual(set.inputs.spec.volumeClaimTemplates, [{
            metadata: { name: "data" },
            spec: { accessModes: ["ReadWriteOnce"], storageClassName: "gp3-encrypted", resources: { requests: { storage: "5Gi" } } },
        }]);
        assert.deepEqual(set.inputs.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: "Retain", whenScaled: "Retain" });
        const c = set.inputs.spec.template.spec.containers[0];
        assert.equal(c.image, "rabbitmq:4.1.4-management");
        assert.equal(c.lifecycle, undefined);
        assert.equal(set.inputs.spec.template.spec.terminationGracePeriodSeconds, 60);
        const conf: string = harness.one("kubernetes:core/v1:ConfigMap", "mqd-config").inputs.data["rabbitmq.conf"];
        assert.ok(conf.includes(`vm_memory_high_watermark.absolute = ${614 * 2 ** 20}\n`));
        assert.ok(conf.includes(`disk_free_limit.absolute = ${GiB}\n`));
    });

    it("prod: 3 protected nodes, one per host, with peer discovery RBAC and a quorum-safe preStop", async () => {
        const { RabbitMqCluster } = await import("./rabbitmq.js");
        new RabbitMqCluster("mqp", prodArgs);
        await harness.settle();
        const set = harness.one("kubernetes:apps/v1:StatefulSet", "mqp");
        assert.equal(set.inputs.spec.replicas, 3);
        assert.equal(set.inputs.spec.podManagementPolicy, "Parallel");
        assert.equal(set.protect, true);
        // A volume size change must not replace the StatefulSet (Kubernetes refuses template changes; prod is protected).
        assert.deepEqual(set.ignoreChanges, ["spec.volumeClaimTemplates"]);
        assert.equal(set.retainOnDelete, true);
        assert.deepEqual(harness.find((x) => x.protect).map((x) => x.name).sort(), ["mqp", "mqp-admin-password", "mqp-app-password", "mqp-erlang-cookie"]);
        assert.equal(set.inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "30Gi");
        const spec = set.inputs.spec.template.spec;
        const sel = { "app.kubernetes.io/name": "rabbitmq", "app.kubernetes.io/instance": "mqp", "app.kubernetes.io/component": "node" };
        assert.deepEqual(spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution, [{ labelSelector: { matchLabels: sel }, topologyKey: "kubernetes.io/hostname" }]);
        assert.deepEqual(spec.nodeSelector, { "noa.io/pool": "base" });
        assert.equal(spec.serviceAccountName, "mqp");
        const c = spec.containers[0];
        assert.deepEqual(c.lifecycle.preStop.exec.command, ["sh", "-c", "rabbitmq-upgrade await_online_quorum_plus_one -t 540"]);
        assert.equal(spec.terminationGracePeriodSeconds, 600);
        const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
        assert.equal(env.RABBITMQ_NODENAME, "rabbit@$(MY_POD_NAME).mqp-nodes.noa-data.svc.cluster.local");
        assert.equal(env.RABBITMQ_USE_LONGNAME, "true");
        assert.deepEqual(spec.initContainers[0].command, ["install", "-m", "0600", "/erlang-cookie-secret/.erlang.cookie", "/var/lib/rabbitmq/.erlang.cookie"]);
        assert.deepEqual(harness.one("kubernetes:rbac.authorization.k8s.io/v1:Role", "mqp-peer-discovery").inputs.rules, [
            { apiGroups: [""], resources: ["endpoints"], resourceNames: ["mqp-nodes"], verbs: ["get"] },
        ]);
        const binding = harness.one("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "mqp-peer-discovery").inputs;
        assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "mqp", namespace: "noa-data" }]);
        assert.equal(binding.roleRef.name, harness.one("kubernetes:rbac.authorization.k8s.io/v1:Role", "mqp-peer-discovery").state.metadata.name);
        assert.deepEqual(harness.one("kubernetes:policy/v1:PodDisruptionBudget", "mqp-pdb").inputs.spec, { maxUnavailable: 1, selector: { matchLabels: sel } });
        const conf: string = harness.one("kubernetes:core/v1:ConfigMap", "mqp-config").inputs.data["rabbitmq.conf"];
        assert.ok(conf.includes("cluster_partition_handling = pause_minority\n"));
        assert.ok(conf.includes(`vm_memory_high_watermark.absolute = ${1228 * 2 ** 20}\n`));
        const headless = harness.one("kubernetes:core/v1:Service", "mqp-nodes").inputs.spec;
        assert.equal(headless.clusterIP, "None");
        assert.equal(headless.publishNotReadyAddresses, true);
        assert.deepEqual(headless.ports.map((p: any) => p.port), [4369, 25672, 5672]);
        assert.deepEqual(harness.one("kubernetes:core/v1:Service", "mqp").inputs.spec.ports.map((p: any) => p.port), [5672, 15672, 15692]);
    });

    it("mounts config and the definitions Secret at /etc/rabbitmq and outputs the AMQP address", async () => {
        const { RabbitMqCluster } = await import("./rabbitmq.js");
        const mq = new RabbitMqCluster("mqc", devArgs);
        await harness.settle();
        const spec = harness.one("kubernetes:apps/v1:StatefulSet", "mqc").inputs.spec.template.spec;
        assert.deepEqual(spec.volumes.map((v: any) => v.name), ["erlang-cookie-secret", "tmp", "config"]);
        assert.deepEqual(spec.volumes[2].projected.sources, [
            { configMap: { name: harness.one("kubernetes:core/v1:ConfigMap", "mqc-config").state.metadata.name } },
            { secret: { name: harness.one("kubernetes:core/v1:Secret", "mqc-definitions").state.metadata.name } },
        ]);
        assert.deepEqual(spec.containers[0].volumeMounts, [
            { name: "data", mountPath: "/var/lib/rabbitmq" },
            { name: "config", mountPath: "/etc/rabbitmq", readOnly: true },
            { name: "tmp", mountPath: "/tmp" },
        ]);
        assert.deepEqual(spec.containers[0].securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
        assert.equal(spec.securityContext.runAsNonRoot, true);
        assert.equal(await promiseOf(mq.host), "mqc.noa-data.svc.cluster.local");
        assert.equal(await promiseOf(mq.amqpPort), 5672);
        assert.equal(await promiseOf(mq.connectionSecretName), "noa-rabbitmq-app");
    });

    it("keeps passwords, cookie and definitions in Secrets; AMQP_URL in the client namespace", async () => {
        const { RabbitMqCluster } = await import("./rabbitmq.js");
        new RabbitMqCluster("mqs", { ...devArgs, deliveryLimit: 7 });
        await harness.settle();
        const app = harness.one("random:index/randomPassword:RandomPassword", "mqs-app-password").state.result as string;
        const admin = harness.one("random:index/randomPassword:RandomPassword", "mqs-admin-password").state.result as string;
        const cookie = harness.one("random:index/randomPassword:RandomPassword", "mqs-erlang-cookie").state.result as string;
        assert.equal(cookie.length, 64);
        const conn = harness.one("kubernetes:core/v1:Secret", "mqs-connection");
        assert.equal(conn.inputs.metadata.name, "noa-rabbitmq-app");
        assert.equal(conn.inputs.metadata.namespace, "noa");
        assert.deepEqual(conn.inputs.stringData, { AMQP_URL: `amqp://noa_app:${app}@mqs.noa-data.svc.cluster.local:5672/noa` });
        const defs = JSON.parse(harness.one("kubernetes:core/v1:Secret", "mqs-definitions").inputs.stringData["definitions.json"]);
        const { rabbitPasswordHash } = await import("./rabbitmq.js");
        assert.equal(defs.users.find((u: any) => u.name === "noa_app").password_hash, rabbitPasswordHash("noa_app", app));
        assert.equal(defs.users.find((u: any) => u.name === "admin").password_hash, rabbitPasswordHash("admin", admin));
        assert.equal(defs.policies[0].definition["delivery-limit"], 7);
        assert.deepEqual(harness.one("kubernetes:core/v1:Secret", "mqs-admin").inputs.stringData, { username: "admin", password: admin });
        assert.deepEqual(harness.one("kubernetes:core/v1:Secret", "mqs-erlang-cookie").inputs.stringData, { ".erlang.cookie": cookie });
        for (const s of harness.byType("kubernetes:core/v1:Secret")) assert.deepEqual(s.secretPaths, ["stringData"], s.name);
        for (const r of harness.find((x) => x.type !== "kubernetes:core/v1:Secret" && !x.type.startsWith("random:"))) {
            const text = JSON.stringify(r.inputs);
            for (const secret of [app, admin, cookie]) assert.ok(!text.includes(secret), r.name);
        }
    });

    it("admits AMQP from the client namespace, metrics from monitoring, clustering only between its own pods", async () => {
        const { RabbitMqCluster } = await import("./rabbitmq.js");
        new RabbitMqCluster("mqn", devArgs);
        await harness.settle();
        const sel = { "app.kubernetes.io/name": "rabbitmq", "app.kubernetes.io/instance": "mqn", "app.kubernetes.io/component": "node" };
        assert.deepEqual(harness.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "mqn-ingress").inputs.spec, {
            podSelector: { matchLabels: sel },
            policyTypes: ["Ingress"],
            ingress: [
                { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "noa" } } }], ports: [{ protocol: "TCP", port: 5672 }] },
                { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }], ports: [{ protocol: "TCP", port: 15692 }] },
                { from: [{ podSelector: { matchLabels: sel } }], ports: [4369, 25672, 5672, 15672].map((port) => ({ protocol: "TCP", port })) },
            ],
        });
    });

    it("also admits AMQP from the queue readers' namespaces (KEDA reads queue depth over AMQP)", async () => {
        const { RabbitMqCluster } = await import("./rabbitmq.js");
        new RabbitMqCluster("mqk", { ...devArgs, queueReaderNamespaces: ["keda"] });
        await harness.settle();
        const ingress = harness.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "mqk-ingress").inputs.spec.ingress;
        assert.deepEqual(ingress[0], {
            from: ["noa", "keda"].map((n) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": n } } })),
            ports: [{ protocol: "TCP", port: 5672 }],
        });
        assert.throws(
            () => new RabbitMqCluster("mqk2", { ...devArgs, queueReaderNamespaces: ["KEDA"] }),
            /queueReaderNamespaces\[0\] \("KEDA"\) is not a DNS label/,
        );
    });

    it("scrapes the Prometheus plugin through a ServiceMonitor only when enabled", async () => {
        const { RabbitMqCluster } = await import("./rabbitmq.js");
        new RabbitMqCluster("mqm", { ...devArgs, serviceMonitor: { enabled: true } });
        new RabbitMqCluster("mqo", devArgs);
        await harness.settle();
        const sm = harness.byType("kubernetes:monitoring.coreos.com/v1:ServiceMonitor");
        assert.deepEqual(sm.map((r) => r.name), ["mqm-metrics"]);
        assert.deepEqual(sm[0].inputs.spec, {
            selector: { matchLabels: { "app.kubernetes.io/name": "rabbitmq", "app.kubernetes.io/instance": "mqm", "app.kubernetes.io/component": "node" } },
            endpoints: [{ port: "prometheus", interval: "30s" }],
        });
        assert.equal(sm[0].inputs.metadata.namespace, "noa-data");
    });

    it("throws before creating anything for an even node count", async () => {
        const { RabbitMqCluster } = await import("./rabbitmq.js");
        assert.throws(() => new RabbitMqCluster("mqx", { ...devArgs, nodes: 2 }), /RabbitMqCluster "mqx" has invalid arguments:\n {2}- nodes \(2\) must be 1 or odd/);
        await harness.settle();
        assert.equal(harness.find((r) => r.name.startsWith("mqx")).length, 0);
    });
});

/**
 * The definitions against the local RabbitMQ (3.10): imported with
 * `rabbitmqctl import_definitions` into their own vhost and users, then the
 * application user logs in with its password (proving the hash) and the
 * policy lands on exactly the job queues.
 */
describe("RabbitMQ definitions against a real broker", function () {
    this.timeout(60_000);
    const vhost = "noa-test-definitions";
    const appUser = "noa_test_defs_app";
    const adminUser = "noa_test_defs_admin";
    const appPassword = "app-password-for-the-definitions-test";
    const run = (args: string[], input?: string) => new Promise<string>((resolve, reject) => {
        const child = execFile("rabbitmqctl", ["-q", ...args], (err, stdout, stderr) => (err ? reject(new Error(`${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout)));
        if (input !== undefined) child.stdin!.end(input);
    });
    const cleanup = async () => {
        await run(["delete_vhost", vhost]).catch(() => undefined);
        for (const u of [appUser, adminUser]) await run(["delete_user", u]).catch(() => undefined);
    };

    before(async () => {
        const m = await import("./rabbitmq.js");
        await cleanup();
        const defs = m.rabbitDefinitions({ vhost, appUser, appPassword, adminUser, adminPassword: "admin-password-for-the-test", deadLetterExchange: "jobs.dlx", deliveryLimit: 5 }) as any;
        // RabbitMQ 3.10 here predates `apply-to: quorum_queues` (3.12); the production image is 4.1.
        defs.policies[0]["apply-to"] = "queues";
        // From stdin (no path): the CLI may run as the broker's user, which cannot read our temporary files.
        await run(["import_definitions", "--format", "json"], JSON.stringify(defs));
    });
    after(async () => {
        await cleanup();
    });

    it("the application user logs in to its vhost with its password, and only with it", async () => {
        const amqp = await import("amqplib");
        const url = `amqp://${appUser}:${encodeURIComponent(appPassword)}@127.0.0.1:5672/${vhost}`;
        // The import is asynchronous: wait until the user can log in.
        let conn: Awaited<ReturnType<typeof amqp.connect>> | undefined;
        for (let i = 0; i < 40 && !conn; i++) {
            conn = await amqp.connect(url).catch(async () => {
                await new Promise((r) => setTimeout(r, 250));
                return undefined;
            });
        }
        assert.ok(conn, "the imported user never could log in");
        const ch = await conn.createChannel();
        for (const q of ["jobs.email", "jobs.dead", "jobs.delay.1000"]) await ch.assertQueue(q, { durable: true, arguments: { "x-queue-type": "quorum" } });
        // No type asked for: the vhost's default makes it quorum.
        await ch.assertQueue("untyped", { durable: true });
        await conn.close();
        await assert.rejects(amqp.connect(`amqp://${appUser}:wrong@127.0.0.1:5672/${vhost}`), /ACCESS_REFUSED|403/);
        await assert.rejects(amqp.connect(`amqp://${appUser}:${encodeURIComponent(appPassword)}@127.0.0.1:5672/%2F`), /NOT_ALLOWED|Expected ConnectionOpenOk; got <ConnectionClose/);
    });

    it("quorum is the vhost's queue type; the job-queue policy applies to jobs.email but not to jobs.dead or the delay queues", async () => {
        let rows = "";
        for (let i = 0; i < 20; i++) {
            rows = await run(["list_queues", "-p", vhost, "name", "type", "policy", "--no-table-headers"]);
            if (/jobs\.email\s+quorum\s+job-queues/.test(rows)) break;
            await new Promise((r) => setTimeout(r, 250));
        }
        const queues = Object.fromEntries(rows.trim().split("\n").map((l) => l.trim().split(/\s+/)).map(([n, t, p]) => [n, `${t} ${p ?? ""}`.trim()]));
        assert.deepEqual(queues, {
            "jobs.email": "quorum job-queues",
            "jobs.dead": "quorum",
            "jobs.delay.1000": "quorum",
            untyped: "quorum",
        });
    });
});
