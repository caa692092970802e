import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { childNames, harness, promiseOf } from "@noa/offline";
import type { CitusClusterArgs } from "./citus";

const GiB = 2 ** 30;
const MiB = 2 ** 20;

const devArgs: CitusClusterArgs = {
    namespace: "noa-data",
    clientNamespace: "noa",
    storageClassName: "gp3-encrypted",
    workers: 2,
    pgbouncerReplicas: 2,
    coordinator: { cpuRequest: "250m", cpuLimit: "1", memoryRequest: "512Mi", memoryLimit: "1Gi", storage: "20Gi" },
    worker: { cpuRequest: "250m", cpuLimit: "1", memoryRequest: "512Mi", memoryLimit: "1Gi", storage: "20Gi" },
    maxSchedulableNodes: 5,
    protect: false,
};
const prodArgs: CitusClusterArgs = {
    ...devArgs,
    workers: 4,
    pgbouncerReplicas: 3,
    coordinator: { cpuRequest: "1", cpuLimit: "2", memoryRequest: "4Gi", memoryLimit: "4Gi", storage: "100Gi" },
    worker: { cpuRequest: "1", cpuLimit: "2", memoryRequest: "4Gi", memoryLimit: "4Gi", storage: "200Gi" },
    maxSchedulableNodes: 12,
    protect: true,
    nodeSelector: { "noa.io/pool": "base" },
};

describe("citus: pure builders", () => {
    let m: typeof import("./citus.js");
    before(async () => {
        m = await import("./citus.js");
    });

    const settingsCases: [string, number, Record<string, string>][] = [
        ["1Gi (dev)", 1 * GiB, { max_connections: "102", shared_buffers: "256MB", effective_cache_size: "768MB", maintenance_work_mem: "64MB", work_mem: "4MB" }],
        ["4Gi (prod)", 4 * GiB, { max_connections: "409", shared_buffers: "1024MB", effective_cache_size: "3072MB", maintenance_work_mem: "256MB", work_mem: "4MB" }],
        ["16Gi", 16 * GiB, { max_connections: "500", shared_buffers: "4096MB", effective_cache_size: "12288MB", maintenance_work_mem: "1024MB", work_mem: "12MB" }],
        ["64Gi caps maintenance_work_mem", 64 * GiB, { max_connections: "500", shared_buffers: "16384MB", effective_cache_size: "49152MB", maintenance_work_mem: "2048MB", work_mem: "49MB" }],
        ["512Mi floors max_connections", 512 * MiB, { max_connections: "100", shared_buffers: "128MB", effective_cache_size: "384MB", maintenance_work_mem: "32MB", work_mem: "4MB" }],
    ];
    for (const [label, bytes, expected] of settingsCases) {
        it(`postgresSettings sizes from memory: ${label}`, () => {
            const s = m.postgresSettings(bytes);
            for (const [k, v] of Object.entries(expected)) assert.equal(s[k], v, k);
            assert.equal(s.shared_preload_libraries, "citus");
            assert.equal(s.wal_level, "logical");
            assert.equal(s.password_encryption, "scram-sha-256");
        });
    }

    it("postgresSettings lets workers take at least the coordinator's connections", () => {
        assert.equal(m.postgresSettings(1 * GiB, { minConnections: 409 }).max_connections, "409");
        assert.equal(m.postgresSettings(16 * GiB, { minConnections: 409 }).max_connections, "500");
    });

    it("postgresCommand passes every setting with -c", () => {
        assert.deepEqual(m.postgresCommand({ shared_buffers: "256MB", shared_preload_libraries: "citus" }), [
            "postgres", "-c", "shared_buffers=256MB", "-c", "shared_preload_libraries=citus",
        ]);
    });

    it("pgbouncerIni pools transactions to the coordinator's database", () => {
        const ini = m.pgbouncerIni({ coordinatorHost: "c-0.c.ns.svc.cluster.local", database: "noa", poolSize: 41 });
        assert.match(ini, /^\[databases\]\nnoa = host=c-0\.c\.ns\.svc\.cluster\.local port=5432 dbname=noa\n/);
        for (const line of ["pool_mode = transaction", "default_pool_size = 41", "auth_type = scram-sha-256", "auth_file = /etc/pgbouncer/userlist.txt", "listen_port = 5432"]) {
            assert.ok(ini.split("\n").includes(line), line);
        }
        assert.doesNotMatch(ini, /password/i);
    });

    it("the registration script is idempotent: upserts the coordinator, adds only missing workers, rebalances only after adding and never twice", () => {
        const script = m.citusRegistrationScript({ coordinatorHost: "c-0", workerHosts: ["w-0", "w-1"], database: "noa", appUser: "noa" });
        const lines = script.split("\n");
        assert.equal(lines[0], "set -eu");
        assert.ok(lines.includes("for host in c-0 w-0 w-1; do"));
        assert.ok(lines.includes("SELECT citus_set_coordinator_host('c-0', 5432);"));
        assert.ok(lines.includes(`ALTER ROLE noa WITH LOGIN PASSWORD :'app_password';`));
        assert.ok(lines.some((l) => l.includes("IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'noa') THEN CREATE ROLE noa LOGIN")));
        for (const w of ["w-0", "w-1"]) {
            const i = lines.indexOf(`SELECT NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodename = '${w}' AND nodeport = 5432) AS missing \\gset`);
            assert.ok(i > 0, w);
            assert.deepEqual(lines.slice(i + 1, i + 5), ["\\if :missing", `SELECT citus_add_node('${w}', 5432);`, "\\set added true", "\\endif"]);
        }
        const tail = lines.slice(lines.indexOf("\\set added false"));
        assert.deepEqual(tail.slice(-5), ["\\if :rebalance", "SELECT citus_rebalance_start();", "\\endif", "SQL", ""]);
        assert.ok(lines.includes("SELECT (:added OR EXISTS ("));
        assert.ok(lines.some((l) => l.includes("NOT EXISTS (SELECT 1 FROM pg_dist_background_job WHERE state IN ('scheduled', 'running', 'cancelling', 'failing')) AS rebalance \\gset")));
        // The password comes from the environment, never the script.
        assert.ok(script.includes(`psql -v ON_ERROR_STOP=1 -v app_password="$APP_PASSWORD" <<'SQL'`));
    });

    it("normalizeCitusArgs applies defaults and derives the pool size from the coordinator's connections", () => {
        const n = m.normalizeCitusArgs("c", { ...devArgs, pgbouncerReplicas: undefined });
        assert.equal(n.pgbouncerReplicas, 2);
        assert.equal(n.database, "noa");
        assert.equal(n.appUser, "noa");
        assert.equal(n.connectionSecretName, "noa-citus-app");
        assert.equal(n.image, "citusdata/citus:13.0.3");
        assert.equal(n.pgbouncerImage, "edoburu/pgbouncer:v1.25.1-p0");
        assert.deepEqual(n.nodeSelector, {});
        assert.equal(n.pgbouncerPoolSize, 41); // (102 - 20) / 2
        assert.equal(m.normalizeCitusArgs("c", prodArgs).pgbouncerPoolSize, 50); // capped
    });

    const bad: [string, Partial<CitusClusterArgs>, string][] = [
        ["zero workers", { workers: 0 }, `workers (0) must be at least 1`],
        ["one PgBouncer", { pgbouncerReplicas: 1 }, `pgbouncerReplicas (1) must be at least 2`],
        ["storage not a quantity", { worker: { ...devArgs.worker, storage: "20GB!" } }, `worker.storage ("20GB!") is not a Kubernetes quantity (e.g. 250m, 512Mi, 20Gi)`],
        ["more workers than nodes", { workers: 6 }, `workers (6 pods) exceeds maxSchedulableNodes (5): with one pod per node they cannot all be placed`],
        ["limit below request", { coordinator: { ...devArgs.coordinator, memoryLimit: "256Mi" } }, `coordinator.memoryLimit ("256Mi") is below memoryRequest ("512Mi")`],
        ["bad namespace", { namespace: "Noa_Data" }, `namespace ("Noa_Data") is not a DNS label`],
        ["too many PgBouncers for the coordinator", { pgbouncerReplicas: 20 }, `pgbouncerReplicas (20) leaves 4 coordinator connections per PgBouncer`],
    ];
    for (const [label, change, message] of bad) {
        it(`rejects ${label}`, () => {
            assert.throws(() => m.normalizeCitusArgs("bad", { ...devArgs, ...change }), (e: Error) => {
                assert.ok(e.message.startsWith(`CitusCluster "bad" has invalid arguments:`), e.message);
                assert.ok(e.message.includes(message), e.message);
                return true;
            });
        });
    }

    it("collects every problem in one error", () => {
        assert.throws(() => m.normalizeCitusArgs("bad", { ...devArgs, workers: 0, storageClassName: "", worker: { ...devArgs.worker, storage: "lots" } }), (e: Error) => {
            assert.equal(e.message.split("\n  - ").length - 1, 3, e.message);
            return true;
        });
    });
});

describe("CitusCluster", () => {
    before(() => harness.install());
    beforeEach(() => harness.reset());

    it("creates exactly its children", async () => {
        const { CitusCluster } = await import("./citus.js");
        const c = new CitusCluster("cdev", devArgs);
        await harness.settle();
        assert.deepEqual(await childNames(c), [
            "kubernetes:apps/v1:Deployment::cdev-pgbouncer",
            "kubernetes:apps/v1:StatefulSet::cdev-coordinator",
            "kubernetes:apps/v1:StatefulSet::cdev-worker",
            "kubernetes:batch/v1:Job::cdev-registration",
            "kubernetes:core/v1:ConfigMap::cdev-pgbouncer-config",
            "kubernetes:core/v1:Secret::cdev-connection",
            "kubernetes:core/v1:Secret::cdev-credentials",
            "kubernetes:core/v1:Secret::cdev-pgbouncer-users",
            "kubernetes:core/v1:Secret::cdev-pgpass",
            "kubernetes:core/v1:Service::cdev-coordinator",
            "kubernetes:core/v1:Service::cdev-pgbouncer",
            "kubernetes:core/v1:Service::cdev-worker",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy::cdev-pgbouncer-ingress",
            "kubernetes:networking.k8s.io/v1:NetworkPolicy::cdev-postgres-ingress",
            "kubernetes:policy/v1:PodDisruptionBudget::cdev-pgbouncer-pdb",
            "kubernetes:policy/v1:PodDisruptionBudget::cdev-worker-pdb",
            "random:index/randomPassword:RandomPassword::cdev-app-password",
            "random:index/randomPassword:RandomPassword::cdev-superuser-password",
        ]);
        assert.equal((await harness.of(c)).type, "noa:data:CitusCluster");
    });

    it("dev: coordinator + 2 workers on encrypted volumes, settings from memory, claims retained, not protected", async () => {
        const { CitusCluster } = await import("./citus.js");
        new CitusCluster("cd", devArgs);
        await harness.settle();
        const coord = harness.one("kubernetes:apps/v1:StatefulSet", "cd-coordinator");
        const workers = harness.one("kubernetes:apps/v1:StatefulSet", "cd-worker");
        assert.equal(coord.inputs.metadata.namespace, "noa-data");
        assert.equal(coord.inputs.spec.replicas, 1);
        assert.equal(workers.inputs.spec.replicas, 2);
        assert.equal(coord.inputs.spec.serviceName, "cd-coordinator");
        assert.equal(workers.inputs.spec.serviceName, "cd-worker");
        for (const [set, size] of [[coord, "20Gi"], [workers, "20Gi"]] as const) {
            assert.deepEqual(set.inputs.spec.volumeClaimTemplates, [{
                metadata: { name: "data" },
                spec: { accessModes: ["ReadWriteOnce"], storageClassName: "gp3-encrypted", resources: { requests: { storage: size } } },
            }]);
            assert.deepEqual(set.inputs.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: "Retain", whenScaled: "Retain" });
            assert.equal(set.protect, false);
            assert.equal(set.retainOnDelete, false);
            const container = set.inputs.spec.template.spec.containers[0];
            assert.equal(container.image, "citusdata/citus:13.0.3");
            assert.deepEqual(container.resources, { requests: { cpu: "250m", memory: "512Mi" }, limits: { cpu: "1", memory: "1Gi" } });
            assert.deepEqual(container.volumeMounts.map((v: any) => v.mountPath), ["/var/lib/postgresql/data", "/var/run/postgresql-auth", "/dev/shm", "/var/run/postgresql", "/tmp"]);
            assert.deepEqual(container.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
            assert.deepEqual(set.inputs.spec.template.spec.securityContext, { runAsUser: 999, runAsGroup: 999, runAsNonRoot: true, fsGroup: 999, fsGroupChangePolicy: "OnRootMismatch", seccompProfile: { type: "RuntimeDefault" } });
            assert.ok(set.inputs.spec.template.spec.initContainers[0].resources.limits.memory);
            const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
            assert.equal(env.POSTGRES_DB, "noa");
            assert.equal(env.PGPASSFILE, "/var/run/postgresql-auth/.pgpass");
            assert.deepEqual(env.POSTGRES_PASSWORD, { secretKeyRef: { name: "cd-credentials", key: "superuser-password" } });
        }
        assert.deepEqual(coord.inputs.spec.template.spec.containers[0].args, [
            "postgres", "-c", "listen_addresses=*", "-c", "shared_preload_libraries=citus", "-c", "max_connections=102",
            "-c", "shared_buffers=256MB", "-c", "effective_cache_size=768MB", "-c", "maintenance_work_mem=64MB", "-c", "work_mem=4MB",
            "-c", "wal_level=logical", "-c", "max_wal_senders=10", "-c", "max_replication_slots=10", "-c", "password_encryption=scram-sha-256",
        ]);
        // Workers: one per host (required), spread over zones (preferred).
        const sel = { "app.kubernetes.io/name": "citus", "app.kubernetes.io/instance": "cd", "app.kubernetes.io/component": "worker" };
        assert.deepEqual(workers.inputs.spec.template.spec.affinity.podAntiAffinity, {
            requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: sel }, topologyKey: "kubernetes.io/hostname" }],
            preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { labelSelector: { matchLabels: sel }, topologyKey: "topology.kubernetes.io/zone" } }],
        });
        assert.deepEqual(harness.one("kubernetes:policy/v1:PodDisruptionBudget", "cd-worker-pdb").inputs.spec, { maxUnavailable: 1, selector: { matchLabels: sel } });
        assert.equal(harness.one("kubernetes:core/v1:Service", "cd-worker").inputs.spec.clusterIP, "None");
        assert.equal(harness.one("kubernetes:core/v1:Service", "cd-coordinator").inputs.spec.clusterIP, "None");
    });

    it("prod: 4 workers, larger volumes, protected StatefulSets on the base pool", async () => {
        const { CitusCluster } = await import("./citus.js");
        new CitusCluster("cp", prodArgs);
        await harness.settle();
        const coord = harness.one("kubernetes:apps/v1:StatefulSet", "cp-coordinator");
        const workers = harness.one("kubernetes:apps/v1:StatefulSet", "cp-worker");
        assert.equal(workers.inputs.spec.replicas, 4);
        assert.equal(coord.inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "100Gi");
        assert.equal(workers.inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage, "200Gi");
        for (const set of [coord, workers]) {
            assert.equal(set.protect, true);
            // A volume size change must not replace the StatefulSet (Kubernetes refuses template changes; prod is protected).
            assert.deepEqual(set.ignoreChanges, ["spec.volumeClaimTemplates"]);
            assert.equal(set.retainOnDelete, true);
            assert.deepEqual(set.inputs.spec.template.spec.nodeSelector, { "noa.io/pool": "base" });
        }
        assert.ok(workers.inputs.spec.template.spec.containers[0].args.includes("shared_buffers=1024MB"));
        assert.equal(harness.one("kubernetes:apps/v1:Deployment", "cp-pgbouncer").inputs.spec.replicas, 3);
        // The data and the passwords fixed into it are protected; Secrets and Jobs are recreated freely.
        assert.deepEqual(harness.find((r) => r.protect).map((r) => r.name).sort(), ["cp-app-password", "cp-coordinator", "cp-superuser-password", "cp-worker"]);
    });

    it("registers workers with an idempotent Job after the StatefulSets exist", async () => {
        const { CitusCluster } = await import("./citus.js");
        const c = new CitusCluster("cj", devArgs);
        await harness.settle();
        const job = harness.one("kubernetes:batch/v1:Job", "cj-registration");
        const container = job.inputs.spec.template.spec.containers[0];
        assert.deepEqual(container.command.slice(0, 2), ["sh", "-c"]);
        const script: string = container.command[2];
        assert.ok(script.includes("SELECT citus_set_coordinator_host('cj-coordinator-0.cj-coordinator.noa-data.svc.cluster.local', 5432);"));
        assert.ok(script.includes("SELECT citus_add_node('cj-worker-0.cj-worker.noa-data.svc.cluster.local', 5432);"));
        assert.ok(script.includes("SELECT citus_add_node('cj-worker-1.cj-worker.noa-data.svc.cluster.local', 5432);"));
        assert.ok(!script.includes("cj-worker-2"));
        const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
        assert.equal(env.PGHOST, "cj-coordinator-0.cj-coordinator.noa-data.svc.cluster.local");
        assert.equal(env.PGDATABASE, "noa");
        assert.deepEqual(env.APP_PASSWORD, { secretKeyRef: { name: "cj-credentials", key: "app-password" } });
        const urns = await Promise.all(["cj-coordinator", "cj-worker"].map((n) => harness.one("kubernetes:apps/v1:StatefulSet", n).urn));
        for (const urn of urns) assert.ok(job.dependsOn.includes(urn), urn);
        // A failed registration is run again on the next up, and Pulumi waits out the Job's own deadline (1800 s).
        assert.deepEqual(job.inputs.metadata.annotations, { "pulumi.com/replaceUnready": "true" });
        assert.equal(job.inputs.spec.activeDeadlineSeconds, 1800);
        assert.deepEqual(job.customTimeouts, { create: "31m", update: "31m" });
        assert.deepEqual(await promiseOf(c.workerHosts), ["cj-worker-0.cj-worker.noa-data.svc.cluster.local", "cj-worker-1.cj-worker.noa-data.svc.cluster.local"]);
    });

    it("puts PgBouncer (transaction pooling, own PDB) in front of the coordinator and outputs its address", async () => {
        const { CitusCluster } = await import("./citus.js");
        const c = new CitusCluster("cb", devArgs);
        await harness.settle();
        const dep = harness.one("kubernetes:apps/v1:Deployment", "cb-pgbouncer");
        assert.equal(dep.inputs.spec.replicas, 2);
        assert.equal(dep.inputs.spec.template.spec.containers[0].image, "edoburu/pgbouncer:v1.25.1-p0");
        const cm = harness.one("kubernetes:core/v1:ConfigMap", "cb-pgbouncer-config");
        assert.ok(cm.inputs.data["pgbouncer.ini"].includes("noa = host=cb-coordinator-0.cb-coordinator.noa-data.svc.cluster.local port=5432 dbname=noa"));
        assert.ok(cm.inputs.data["pgbouncer.ini"].includes("pool_mode = transaction"));
        const sources = dep.inputs.spec.template.spec.volumes[0].projected.sources;
        assert.equal(sources[0].configMap.name, cm.state.metadata.name);
        assert.equal(sources[1].secret.name, harness.one("kubernetes:core/v1:Secret", "cb-pgbouncer-users").state.metadata.name);
        const pdb = harness.one("kubernetes:policy/v1:PodDisruptionBudget", "cb-pgbouncer-pdb");
        assert.deepEqual(pdb.inputs.spec.selector.matchLabels, dep.inputs.spec.selector.matchLabels);
        assert.equal(pdb.inputs.spec.maxUnavailable, 1);
        assert.equal(await promiseOf(c.host), "cb-pgbouncer.noa-data.svc.cluster.local");
        assert.equal(await promiseOf(c.port), 5432);
        assert.equal(await promiseOf(c.connectionSecretName), "noa-citus-app");
        assert.equal(harness.one("kubernetes:core/v1:Service", "cb-pgbouncer").inputs.spec.selector["app.kubernetes.io/component"], "pgbouncer");
    });

    it("writes the DATABASE_URL Secret into the client namespace, and every password Secret is secret", async () => {
        const { CitusCluster } = await import("./citus.js");
        new CitusCluster("cs", devArgs);
        await harness.settle();
        const app = harness.one("random:index/randomPassword:RandomPassword", "cs-app-password").state.result as string;
        const superuser = harness.one("random:index/randomPassword:RandomPassword", "cs-superuser-password").state.result as string;
        assert.equal(app.length, 32);
        const conn = harness.one("kubernetes:core/v1:Secret", "cs-connection");
        assert.deepEqual(conn.inputs.metadata.name, "noa-citus-app");
        assert.equal(conn.inputs.metadata.namespace, "noa");
        assert.deepEqual(conn.inputs.stringData, { DATABASE_URL: `postgres://noa:${app}@cs-pgbouncer.noa-data.svc.cluster.local:5432/noa` });
        assert.deepEqual(conn.secretPaths, ["stringData"]);
        const creds = harness.one("kubernetes:core/v1:Secret", "cs-credentials");
        assert.equal(creds.inputs.metadata.namespace, "noa-data");
        assert.deepEqual(creds.inputs.stringData, { "superuser-password": superuser, "app-password": app });
        assert.deepEqual(creds.secretPaths, ["stringData"]);
        assert.deepEqual(harness.one("kubernetes:core/v1:Secret", "cs-pgpass").inputs.stringData, {
            pgpass: `*:5432:*:postgres:${superuser}\n*:5432:*:noa:${app}\n`,
        });
        assert.deepEqual(harness.one("kubernetes:core/v1:Secret", "cs-pgbouncer-users").inputs.stringData, { "userlist.txt": `"noa" "${app}"\n` });
        for (const s of harness.byType("kubernetes:core/v1:Secret")) assert.deepEqual(s.secretPaths, ["stringData"], s.name);
        // No password in any ConfigMap or command line.
        for (const r of harness.find((r) => r.type !== "kubernetes:core/v1:Secret" && !r.type.startsWith("random:"))) {
            const text = JSON.stringify(r.inputs);
            assert.ok(!text.includes(app) && !text.includes(superuser), r.name);
        }
    });

    it("admits only the client namespace to PgBouncer and only the cluster's own pods to PostgreSQL", async () => {
        const { CitusCluster } = await import("./citus.js");
        new CitusCluster("cn", devArgs);
        await harness.settle();
        assert.deepEqual(harness.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "cn-pgbouncer-ingress").inputs.spec, {
            podSelector: { matchLabels: { "app.kubernetes.io/name": "citus", "app.kubernetes.io/instance": "cn", "app.kubernetes.io/component": "pgbouncer" } },
            policyTypes: ["Ingress"],
            ingress: [{ from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "noa" } } }], ports: [{ protocol: "TCP", port: 5432 }] }],
        });
        const pg = harness.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "cn-postgres-ingress").inputs.spec;
        assert.deepEqual(pg.podSelector.matchExpressions, [{ key: "app.kubernetes.io/component", operator: "In", values: ["coordinator", "worker"] }]);
        assert.deepEqual(pg.ingress, [{
            from: [{
                podSelector: {
                    matchLabels: { "app.kubernetes.io/name": "citus", "app.kubernetes.io/instance": "cn" },
                    matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: ["coordinator", "worker", "pgbouncer", "registration"] }],
                },
            }],
            ports: [{ protocol: "TCP", port: 5432 }],
        }, {
            from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
            ports: [{ protocol: "TCP", port: 9187 }],
        }]);
        // The Job's pods carry the label the policy admits.
        assert.equal(harness.one("kubernetes:batch/v1:Job", "cn-registration").inputs.spec.template.metadata.labels["app.kubernetes.io/component"], "registration");
    });

    it("runs postgres_exporter beside every node; a ServiceMonitor only when enabled, after what installs its CRD", async () => {
        const { CitusCluster } = await import("./citus.js");
        // Stands in for the Helm release that installs the monitoring CRDs.
        const crd = new (await import("@pulumi/kubernetes")).core.v1.ConfigMap("cm-crds", { data: {} });
        new CitusCluster("cm", { ...devArgs, serviceMonitor: { enabled: true, dependsOn: [crd] } });
        await harness.settle();
        for (const set of ["cm-coordinator", "cm-worker"]) {
            const exporter = harness.one("kubernetes:apps/v1:StatefulSet", set).inputs.spec.template.spec.containers[1];
            assert.equal(exporter.name, "exporter");
            assert.equal(exporter.image, "prometheuscommunity/postgres-exporter:v0.18.1");
            assert.deepEqual(exporter.env.map((e: any) => [e.name, e.value ?? e.valueFrom]), [
                ["DATA_SOURCE_URI", "127.0.0.1:5432/noa?sslmode=disable"],
                ["DATA_SOURCE_USER", "postgres"],
                ["DATA_SOURCE_PASS", { secretKeyRef: { name: "cm-credentials", key: "superuser-password" } }],
            ]);
            assert.deepEqual(harness.one("kubernetes:core/v1:Service", set).inputs.spec.ports.map((p: any) => [p.name, p.port]), [["postgres", 5432], ["metrics", 9187]]);
        }
        const sm = harness.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "cm-metrics");
        assert.deepEqual(sm.inputs.spec, {
            selector: {
                matchLabels: { "app.kubernetes.io/name": "citus", "app.kubernetes.io/instance": "cm" },
                matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: ["coordinator", "worker"] }],
            },
            endpoints: [{ port: "metrics", interval: "30s" }],
        });
        assert.ok(sm.dependsOn.includes(harness.one("kubernetes:core/v1:ConfigMap", "cm-crds").urn));
        assert.equal(harness.byType("kubernetes:monitoring.coreos.com/v1:ServiceMonitor").length, 1);
    });

    it("throws before creating anything on bad args", async () => {
        const { CitusCluster } = await import("./citus.js");
        assert.throws(() => new CitusCluster("cx", { ...devArgs, workers: 0 }), /CitusCluster "cx" has invalid arguments:\n {2}- workers \(0\) must be at least 1/);
        await harness.settle();
        assert.equal(harness.find((r) => r.name.startsWith("cx")).length, 0);
    });
});

/**
 * The registration script for real: sh + pg_isready + psql against the local
 * PostgreSQL 15, in its own database and role. Citus cannot be installed
 * here, so its catalog (pg_dist_node, pg_dist_placement,
 * pg_dist_background_job) and the three UDFs are stand-ins that record their
 * calls; everything else — psql variables, \\gset/\\if, role and grant SQL,
 * the idempotency decisions — runs as in the Job.
 */
describe("citus registration script against real PostgreSQL (Citus functions stubbed)", function () {
    this.timeout(60_000);
    const db = "noa_test_citus_registration";
    const role = "noa_test_citus_app";
    let m: typeof import("./citus.js");

    const run = (cmd: string, args: string[], env: Record<string, string> = {}) =>
        new Promise<{ code: number; out: string }>((resolve) => {
            execFile(cmd, args, { env: { ...process.env, PGHOST: "127.0.0.1", PGPORT: "5432", PGUSER: "postgres", ...env } }, (err, stdout, stderr) =>
                resolve({ code: err ? Number((err as any).code ?? 1) : 0, out: `${stdout}${stderr}` }));
        });
    const sql = async (query: string, database = db) => {
        const r = await run("psql", ["-v", "ON_ERROR_STOP=1", "-tAq", "-d", database, "-c", query]);
        assert.equal(r.code, 0, r.out);
        return r.out.trim();
    };
    const register = (workers: string[], password = "first-password") =>
        run("sh", ["-c", m.citusRegistrationScript({ coordinatorHost: "127.0.0.1", workerHosts: workers, database: db, appUser: role })], { PGDATABASE: db, APP_PASSWORD: password });
    const calls = () => sql("SELECT coalesce(string_agg(fn || coalesce(':' || arg, ''), ' ' ORDER BY id), '') FROM calls");

    before(async () => {
        m = await import("./citus.js");
        await sql(`DROP DATABASE IF EXISTS ${db}`, "postgres");
        await sql(`DROP ROLE IF EXISTS ${role}`, "postgres");
        await sql(`CREATE DATABASE ${db}`, "postgres");
        await sql(`
            CREATE TABLE calls (id serial, fn text, arg text);
            CREATE TABLE pg_dist_node (nodeid serial, groupid int, nodename text, nodeport int, noderole text DEFAULT 'primary', isactive bool DEFAULT true, shouldhaveshards bool DEFAULT true);
            CREATE TABLE pg_dist_placement (placementid serial, groupid int);
            CREATE TABLE pg_dist_background_job (job_id serial, state text);
            CREATE FUNCTION citus_set_coordinator_host(h text, p int) RETURNS void LANGUAGE sql AS $$ INSERT INTO calls (fn, arg) VALUES ('coordinator', h) $$;
            CREATE FUNCTION citus_add_node(h text, p int) RETURNS int LANGUAGE sql AS $$
                INSERT INTO calls (fn, arg) VALUES ('add', h);
                INSERT INTO pg_dist_node (groupid, nodename, nodeport) VALUES ((SELECT coalesce(max(groupid), 0) + 1 FROM pg_dist_node), h, p) RETURNING nodeid $$;
            CREATE FUNCTION citus_rebalance_start() RETURNS bigint LANGUAGE sql AS $$ INSERT INTO calls (fn) VALUES ('rebalance'); SELECT 1::bigint $$;`);
    });
    after(async () => {
        await sql(`DROP DATABASE IF EXISTS ${db}`, "postgres");
        await sql(`DROP ROLE IF EXISTS ${role}`, "postgres");
    });

    it("first run: sets the coordinator, creates the role with its password, adds both workers, rebalances", async () => {
        const r = await register(["localhost", "/var/run/postgresql"]);
        assert.equal(r.code, 0, r.out);
        assert.equal(await calls(), "coordinator:127.0.0.1 add:localhost add:/var/run/postgresql rebalance");
        assert.match(await sql(`SELECT rolpassword FROM pg_authid WHERE rolname = '${role}'`), /^SCRAM-SHA-256\$/);
        assert.equal(await sql(`SELECT has_schema_privilege('${role}', 'public', 'CREATE')`), "t");
        // The services' sessions get server-side caps from their role — on the coordinator only: Citus
        // would copy ALTER ROLE ... SET to the workers, where migrate's SET LOCAL cannot lift it.
        const script = m.citusRegistrationScript({ coordinatorHost: "c", workerHosts: [], database: db, appUser: role });
        const off = script.indexOf("SET citus.enable_alter_role_set_propagation = off;");
        assert.ok(off >= 0 && off < script.indexOf(`ALTER ROLE ${role} SET statement_timeout`), "propagation off before the role settings");
        assert.equal(
            await sql(`SELECT array_to_string(rolconfig, ',') FROM pg_roles WHERE rolname = '${role}'`),
            "statement_timeout=15s,idle_in_transaction_session_timeout=60s",
        );
        const session = await run("psql", ["-tAq", "-d", db, "-c", "SHOW statement_timeout"], { PGUSER: role, PGPASSWORD: "first-password" });
        assert.equal(session.out.trim(), "15s", session.out);
    });

    it("second run: nothing added, no rebalance", async () => {
        await sql("TRUNCATE calls");
        const r = await register(["localhost", "/var/run/postgresql"]);
        assert.equal(r.code, 0, r.out);
        assert.equal(await calls(), "coordinator:127.0.0.1");
    });

    it("a new worker is added alone and triggers a rebalance; the role's password follows the Secret", async () => {
        await sql("TRUNCATE calls; INSERT INTO pg_dist_placement (groupid) SELECT groupid FROM pg_dist_node");
        const before = await sql(`SELECT rolpassword FROM pg_authid WHERE rolname = '${role}'`);
        const r = await register(["localhost", "/var/run/postgresql", "127.0.0.1"], "rotated-password");
        assert.equal(r.code, 0, r.out);
        assert.equal(await calls(), "coordinator:127.0.0.1 add:127.0.0.1 rebalance");
        assert.notEqual(await sql(`SELECT rolpassword FROM pg_authid WHERE rolname = '${role}'`), before);
    });

    it("a run after an interrupted one rebalances the empty worker, but never on top of a running rebalance", async () => {
        await sql("TRUNCATE calls");
        const again = await register(["localhost", "/var/run/postgresql", "127.0.0.1"]);
        assert.equal(again.code, 0, again.out);
        assert.equal(await calls(), "coordinator:127.0.0.1 rebalance", "127.0.0.1 holds no placement yet");
        await sql("TRUNCATE calls; INSERT INTO pg_dist_background_job (state) VALUES ('running')");
        const busy = await register(["localhost", "/var/run/postgresql", "127.0.0.1"]);
        assert.equal(busy.code, 0, busy.out);
        assert.equal(await calls(), "coordinator:127.0.0.1");
    });

    it("fails (and the Job retries) when the coordinator refuses a statement", async () => {
        await sql("CREATE OR REPLACE FUNCTION citus_set_coordinator_host(h text, p int) RETURNS void LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'coordinator not ready'; END $$");
        const r = await register(["localhost"]);
        assert.notEqual(r.code, 0);
        assert.match(r.out, /coordinator not ready/);
    });
});

/**
 * PgBouncer for real: the component's pgbouncer.ini and userlist in front of
 * the local PostgreSQL, SCRAM from the client and to the server. The Debian
 * package here is PgBouncer 1.18 (the image is 1.25), which predates
 * `max_prepared_statements` (1.21): that one line is left out.
 */
describe("PgBouncer config against real pgbouncer and PostgreSQL", function () {
    this.timeout(60_000);
    const db = "noa_test_pgbouncer";
    const user = "noa_test_pgbouncer_app";
    const password = "pgbouncer-test-password";
    const port = 16432;
    let dir: string;
    let proc: import("node:child_process").ChildProcess | undefined;

    const run = (cmd: string, args: string[], env: Record<string, string> = {}) =>
        new Promise<{ code: number; out: string }>((resolve) => {
            execFile(cmd, args, { env: { ...process.env, ...env } }, (err, stdout, stderr) =>
                resolve({ code: err ? Number((err as any).code ?? 1) : 0, out: `${stdout}${stderr}` }));
        });
    const postgresIds = async () => {
        const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
        assert.equal(uid.code + gid.code, 0, `no postgres user: ${uid.out}${gid.out}`);
        return { uid: Number(uid.out), gid: Number(gid.out) };
    };
    // SIGTERM is PgBouncer's immediate shutdown; SIGKILL if it is still there after 5 s.
    const stop = (child: import("node:child_process").ChildProcess) =>
        new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
            child.once("exit", () => {
                clearTimeout(force);
                resolve();
            });
            child.kill("SIGTERM");
        });
    const admin = async (query: string) => {
        const r = await run("psql", ["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-tAqc", query]);
        assert.equal(r.code, 0, r.out);
    };

    before(async function () {
        const { existsSync, mkdtempSync, writeFileSync, chmodSync } = await import("node:fs");
        const { join } = await import("node:path");
        const { tmpdir } = await import("node:os");
        const { spawn } = await import("node:child_process");
        assert.ok(existsSync("/usr/sbin/pgbouncer"), "pgbouncer is installed by scripts/setup.sh");
        const m = await import("./citus.js");
        await admin(`DROP DATABASE IF EXISTS ${db}`);
        await admin(`DROP ROLE IF EXISTS ${user}`);
        await admin(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`);
        await admin(`CREATE DATABASE ${db} OWNER ${user}`);
        dir = mkdtempSync(join(tmpdir(), "noa-pgbouncer-"));
        chmodSync(dir, 0o755);
        const ini = m.pgbouncerIni({ coordinatorHost: "127.0.0.1", database: db, poolSize: 1 })
            .replace("listen_port = 5432", `listen_port = ${port}`)
            .replace("auth_file = /etc/pgbouncer/userlist.txt", `auth_file = ${dir}/userlist.txt`)
            .replace("max_prepared_statements = 200\n", "");
        writeFileSync(join(dir, "pgbouncer.ini"), ini, { mode: 0o644 });
        writeFileSync(join(dir, "userlist.txt"), m.pgbouncerUserlist(user, password), { mode: 0o644 });
        // PgBouncer refuses to run as root: as root, start it directly under the
        // postgres user's ids. Not through `runuser`, which ignores SIGINT and
        // would leave pgbouncer (and this mocha process, waiting on it) running.
        const ids = process.getuid?.() === 0 ? await postgresIds() : {};
        proc = spawn("/usr/sbin/pgbouncer", [join(dir, "pgbouncer.ini")], { stdio: "ignore", ...ids });
        for (let i = 0; i < 50; i++) {
            if ((await run("pg_isready", ["-h", "127.0.0.1", "-p", String(port), "-d", db])).code === 0) break;
            await new Promise((r) => setTimeout(r, 100));
        }
    });
    after(async () => {
        if (proc) await stop(proc);
        await admin(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
        await admin(`DROP ROLE IF EXISTS ${user}`);
        const { rmSync } = await import("node:fs");
        rmSync(dir, { recursive: true, force: true });
    });

    it("a DATABASE_URL of the component's shape connects through PgBouncer as the application role", async () => {
        const r = await run("psql", [`postgres://${user}:${password}@127.0.0.1:${port}/${db}`, "-tAc", "SELECT current_user || ' ' || current_database()"]);
        assert.equal(r.code, 0, r.out);
        assert.equal(r.out.trim(), `${user} ${db}`);
    });

    it("a wrong password is refused by PgBouncer", async () => {
        const r = await run("psql", [`postgres://${user}:wrong@127.0.0.1:${port}/${db}`, "-tAc", "SELECT 1"]);
        assert.notEqual(r.code, 0);
        assert.match(r.out, /password authentication failed|SASL authentication failed/);
    });

    it("pools by transaction: a server connection passes from client to client without a reset", async () => {
        // With one server connection, session pooling would DISCARD ALL between clients; transaction pooling does not.
        const url = `postgres://${user}:${password}@127.0.0.1:${port}/${db}`;
        const first = await run("psql", [url, "-tAc", "SET statement_timeout = '12345ms'"]);
        assert.equal(first.code, 0, first.out);
        const second = await run("psql", [url, "-tAc", "SHOW statement_timeout"]);
        assert.equal(second.code, 0, second.out);
        assert.equal(second.out.trim(), "12345ms");
    });
});
