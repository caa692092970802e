/**
 * CitusCluster: sharded PostgreSQL on Kubernetes — one coordinator and N
 * workers (a StatefulSet each, volumes on the encrypted class), an
 * idempotent registration Job, and PgBouncer in front of the coordinator as
 * the one address services use.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { REPLACE_UNREADY_ANNOTATIONS, jobAwaitTimeouts } from "../shared/index.js";
import {
    checkDnsLabel, checkInt, checkPlacement, checkPod, dataClaim, mebibytes, namespacePeer, parseQuantity, podFqdn,
    resources, RESTRICTED_CONTAINER, RETAIN_CLAIMS, roleLabels, serviceFqdn, ServiceMonitorArgs, spreadAffinity, StatefulPodArgs,
    statefulSetOptions, storeServiceMonitor, throwIfProblems,
} from "./kube";

/** Official images, pinned: a tag that moves would change the cluster under a `pulumi up` nobody reviewed. */
export const CITUS_IMAGE = "citusdata/citus:13.0.3";
export const PGBOUNCER_IMAGE = "edoburu/pgbouncer:v1.25.1-p0";
/** postgres_exporter beside every node: connections, settings and database stats for the alert rules. */
export const POSTGRES_EXPORTER_IMAGE = "prometheuscommunity/postgres-exporter:v0.18.1";
const METRICS_PORT = 9187;
const PG_PORT = 5432;
/** uid/gid of `postgres` in the Debian-based postgres/citus images. */
const POSTGRES_UID = 999;
const TINY = { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "32Mi" } };

export interface CitusClusterArgs {
    /** Namespace for the servers, PgBouncer and their Secrets (the platform's `noa-data`). Required. */
    readonly namespace: string;
    /** Namespace of the client services; the connection Secret is written there and only it may connect (`noa`). Required. */
    readonly clientNamespace: string;
    /** StorageClass of every data volume (the cluster's encrypted gp3 class, `gp3-encrypted`). Required. */
    readonly storageClassName: string;
    /** Number of Citus workers (at least 1). Required. */
    readonly workers: number;
    /** Sizes of the coordinator pod and its volume. Required. */
    readonly coordinator: StatefulPodArgs;
    /** Sizes of each worker pod and its volume. Required. */
    readonly worker: StatefulPodArgs;
    /** PgBouncer replicas in front of the coordinator (at least 2, so a rollout never cuts every connection). Default 2. */
    readonly pgbouncerReplicas?: number;
    /** Most nodes the node groups can ever have; workers are one per node, so more cannot be placed. Required. */
    readonly maxSchedulableNodes: number;
    /** `protect` + `retainOnDelete` on the StatefulSets (prod). Claims are always retained. Required. */
    readonly protect: boolean;
    /** Node labels the coordinator and worker pods must run on (the on-demand base group: stateful pods stay off spot capacity). Default `{}` (any node). */
    readonly nodeSelector?: Record<string, string>;
    /** Namespace allowed to scrape the exporters (9187). Default `monitoring`. */
    readonly metricsNamespace?: string;
    /** A ServiceMonitor for the exporters. Default `{ enabled: false }`. */
    readonly serviceMonitor?: ServiceMonitorArgs;
    /** Application database, created on every node with the `citus` extension. Default `noa`. */
    readonly database?: string;
    /** Application role (owner of the app's tables, used through PgBouncer). Default `noa`. */
    readonly appUser?: string;
    /** Name of the connection Secret in `clientNamespace` (key `DATABASE_URL`). Default `noa-citus-app`. */
    readonly connectionSecretName?: string;
    /** Citus image. Default `CITUS_IMAGE`. */
    readonly image?: string;
    /** PgBouncer image. Default `PGBOUNCER_IMAGE`. */
    readonly pgbouncerImage?: string;
    /** postgres_exporter image. Default `POSTGRES_EXPORTER_IMAGE`. */
    readonly exporterImage?: string;
}

/** `CitusClusterArgs` with every default applied and every value checked. */
export interface NormalizedCitusArgs extends Required<CitusClusterArgs> {
    /** PostgreSQL settings of the coordinator, from its memory. */
    readonly coordinatorSettings: PostgresSettings;
    /** PostgreSQL settings of each worker, from its memory. */
    readonly workerSettings: PostgresSettings;
    /** Server connections each PgBouncer replica may open to the coordinator. */
    readonly pgbouncerPoolSize: number;
}

/** Connections kept free on the coordinator beyond PgBouncer's pools: superuser, registration Job, operators. */
const RESERVED_CONNECTIONS = 20;
const PGBOUNCER_MAX_POOL = 50;

/**
 * Applies defaults and validates everything up front, collecting every
 * problem into one error naming the key and its value.
 */
export function normalizeCitusArgs(name: string, args: CitusClusterArgs): NormalizedCitusArgs {
    const problems: string[] = [];
    const p = "";
    checkDnsLabel(problems, p, "namespace", args.namespace);
    checkDnsLabel(problems, p, "clientNamespace", args.clientNamespace);
    checkDnsLabel(problems, p, "storageClassName", args.storageClassName, 253);
    checkInt(problems, p, "workers", args.workers, 1, 64);
    const pgbouncerReplicas = args.pgbouncerReplicas ?? 2;
    checkInt(problems, p, "pgbouncerReplicas", pgbouncerReplicas, 2, 20);
    checkInt(problems, p, "maxSchedulableNodes", args.maxSchedulableNodes, 1);
    checkPod(problems, p, "coordinator", args.coordinator);
    checkPod(problems, p, "worker", args.worker);
    checkPlacement(problems, p, "workers", args.workers, args.maxSchedulableNodes);
    const database = args.database ?? "noa";
    const appUser = args.appUser ?? "noa";
    for (const [key, value] of [["database", database], ["appUser", appUser]] as const) {
        if (!/^[a-z_][a-z0-9_]{0,62}$/.test(value) || value === "postgres") {
            problems.push(`${key} (${JSON.stringify(value)}) must be a lowercase SQL identifier other than "postgres"`);
        }
    }
    const connectionSecretName = args.connectionSecretName ?? "noa-citus-app";
    checkDnsLabel(problems, p, "connectionSecretName", connectionSecretName, 253);
    if (typeof args.protect !== "boolean") problems.push(`protect (${JSON.stringify(args.protect)}) must be true or false`);

    const coordinatorMemory = parseQuantity(args.coordinator?.memoryLimit) ?? 0;
    const workerMemory = parseQuantity(args.worker?.memoryLimit) ?? 0;
    const coordinatorSettings = postgresSettings(coordinatorMemory);
    // The coordinator opens up to its own max_connections to each worker (citus.max_shared_pool_size).
    const workerSettings = postgresSettings(workerMemory, { minConnections: Number(coordinatorSettings.max_connections) });
    const pgbouncerPoolSize = Math.min(PGBOUNCER_MAX_POOL, Math.floor((Number(coordinatorSettings.max_connections) - RESERVED_CONNECTIONS) / Math.max(1, pgbouncerReplicas)));
    if (coordinatorMemory > 0 && Number.isInteger(pgbouncerReplicas) && pgbouncerPoolSize < 5) {
        problems.push(`pgbouncerReplicas (${pgbouncerReplicas}) leaves ${pgbouncerPoolSize} coordinator connections per PgBouncer (max_connections ${coordinatorSettings.max_connections} from coordinator.memoryLimit ${JSON.stringify(args.coordinator.memoryLimit)}): give the coordinator more memory or use fewer replicas`);
    }
    if (coordinatorMemory > 0 && coordinatorMemory < 256 * 2 ** 20) {
        problems.push(`coordinator.memoryLimit (${JSON.stringify(args.coordinator.memoryLimit)}) must be at least 256Mi for PostgreSQL with Citus`);
    }
    if (workerMemory > 0 && workerMemory < 256 * 2 ** 20) {
        problems.push(`worker.memoryLimit (${JSON.stringify(args.worker.memoryLimit)}) must be at least 256Mi for PostgreSQL with Citus`);
    }
    const metricsNamespace = args.metricsNamespace ?? "monitoring";
    checkDnsLabel(problems, p, "metricsNamespace", metricsNamespace);
    throwIfProblems("CitusCluster", name, problems);
    return {
        namespace: args.namespace,
        clientNamespace: args.clientNamespace,
        storageClassName: args.storageClassName,
        workers: args.workers,
        coordinator: args.coordinator,
        worker: args.worker,
        pgbouncerReplicas,
        maxSchedulableNodes: args.maxSchedulableNodes,
        protect: args.protect,
        database,
        appUser,
        connectionSecretName,
        image: args.image ?? CITUS_IMAGE,
        pgbouncerImage: args.pgbouncerImage ?? PGBOUNCER_IMAGE,
        exporterImage: args.exporterImage ?? POSTGRES_EXPORTER_IMAGE,
        nodeSelector: args.nodeSelector ?? {},
        metricsNamespace,
        serviceMonitor: args.serviceMonitor ?? { enabled: false },
        coordinatorSettings,
        workerSettings,
        pgbouncerPoolSize,
    };
}

/** PostgreSQL settings as `-c name=value` pairs, in a stable order. */
export type PostgresSettings = Readonly<Record<string, string>>;

/**
 * PostgreSQL settings sized from the pod's memory limit (bytes):
 * shared_buffers 25 %, effective_cache_size 75 %, maintenance_work_mem 1/16
 * (≤ 2 GB), max_connections ≈ one per 10 MiB (100–500), and work_mem from
 * what is left after shared buffers split over two sorts per connection
 * (≥ 4 MB). Citus is preloaded; `wal_level = logical` lets the rebalancer
 * move shards online.
 */
export function postgresSettings(memoryBytes: number, opts: { minConnections?: number } = {}): PostgresSettings {
    const mib = mebibytes(memoryBytes);
    const sharedBuffers = Math.floor(mib / 4);
    const maxConnections = Math.max(opts.minConnections ?? 0, Math.min(500, Math.max(100, Math.floor(mib / 10))));
    const workMem = Math.max(4, Math.floor((mib - sharedBuffers) / (maxConnections * 2)));
    return {
        listen_addresses: "*",
        shared_preload_libraries: "citus",
        max_connections: String(maxConnections),
        shared_buffers: `${sharedBuffers}MB`,
        effective_cache_size: `${Math.floor((mib * 3) / 4)}MB`,
        maintenance_work_mem: `${Math.min(2048, Math.floor(mib / 16))}MB`,
        work_mem: `${workMem}MB`,
        wal_level: "logical",
        max_wal_senders: "10",
        max_replication_slots: "10",
        password_encryption: "scram-sha-256",
    };
}

/** The server's command line: `postgres -c k=v ...` (settings live in the spec, so a change rolls the pods). */
export function postgresCommand(settings: PostgresSettings): string[] {
    return ["postgres", ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])];
}

/** `pgbouncer.ini`: transaction pooling to the coordinator's application database. */
export function pgbouncerIni(opts: { coordinatorHost: string; database: string; poolSize: number }): string {
    return [
        "[databases]",
        `${opts.database} = host=${opts.coordinatorHost} port=${PG_PORT} dbname=${opts.database}`,
        "",
        "[pgbouncer]",
        "listen_addr = 0.0.0.0",
        `listen_port = ${PG_PORT}`,
        "unix_socket_dir =",
        "auth_type = scram-sha-256",
        "auth_file = /etc/pgbouncer/userlist.txt",
        "pool_mode = transaction",
        `default_pool_size = ${opts.poolSize}`,
        "reserve_pool_size = 0",
        "max_client_conn = 5000",
        // Named prepared statements (node-postgres `name:`) survive transaction pooling.
        "max_prepared_statements = 200",
        "ignore_startup_parameters = extra_float_digits,options",
        "server_lifetime = 3600",
        "server_idle_timeout = 600",
        "query_wait_timeout = 30",
        "",
    ].join("\n");
}

/** PgBouncer's `auth_file`: the application role and its password (SCRAM to clients and to the coordinator). */
export function pgbouncerUserlist(user: string, password: string): string {
    return `"${user}" "${password.replace(/"/g, '""')}"\n`;
}

/** The application role's `statement_timeout`: the kit's client-side query deadline (15 s). */
export const APP_STATEMENT_TIMEOUT = "15s";
/** The application role's `idle_in_transaction_session_timeout`. */
export const APP_IDLE_IN_TRANSACTION_TIMEOUT = "60s";

/**
 * The registration Job's shell script. Safe to run any number of times:
 * `citus_set_coordinator_host` is an upsert, the application role is created
 * only when missing (its password and session timeouts are re-set), a worker is
 * added only when `pg_dist_node` lacks it, and a rebalance starts only when
 * a worker was added (by this run, or by one that stopped before
 * rebalancing) and none is already running.
 */
export function citusRegistrationScript(opts: { coordinatorHost: string; workerHosts: string[]; database: string; appUser: string }): string {
    const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
    const lines = [
        "set -eu",
        `for host in ${[opts.coordinatorHost, ...opts.workerHosts].join(" ")}; do`,
        `  until pg_isready -q -h "$host" -p ${PG_PORT} -d ${opts.database}; do echo "waiting for $host"; sleep 2; done`,
        "done",
        `psql -v ON_ERROR_STOP=1 -v app_password="$APP_PASSWORD" <<'SQL'`,
        `SELECT citus_set_coordinator_host(${lit(opts.coordinatorHost)}, ${PG_PORT});`,
        `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${lit(opts.appUser)}) THEN CREATE ROLE ${opts.appUser} LOGIN; END IF; END $$;`,
        `ALTER ROLE ${opts.appUser} WITH LOGIN PASSWORD :'app_password';`,
        // Server-side caps for the services' sessions (PgBouncer refuses them as startup parameters):
        // a statement the kit's 15 s client deadline gave up on stops too, and a transaction left
        // open cannot hold its locks. On the coordinator only: cancelling the distributed statement
        // there cancels its shard work, and the migrate Job's SET LOCAL (which Citus does not pass
        // on to the connections it opens to the workers) must not meet a role default on them.
        "SET citus.enable_alter_role_set_propagation = off;",
        `ALTER ROLE ${opts.appUser} SET statement_timeout = '${APP_STATEMENT_TIMEOUT}';`,
        `ALTER ROLE ${opts.appUser} SET idle_in_transaction_session_timeout = '${APP_IDLE_IN_TRANSACTION_TIMEOUT}';`,
        `GRANT ALL ON DATABASE ${opts.database} TO ${opts.appUser};`,
        `GRANT USAGE, CREATE ON SCHEMA public TO ${opts.appUser};`,
        "\\set added false",
    ];
    opts.workerHosts.forEach((host) => {
        lines.push(
            `SELECT NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodename = ${lit(host)} AND nodeport = ${PG_PORT}) AS missing \\gset`,
            "\\if :missing",
            `SELECT citus_add_node(${lit(host)}, ${PG_PORT});`,
            "\\set added true",
            "\\endif",
        );
    });
    // Rebalance when this run added a worker, or an earlier run added one and never got to rebalance
    // (an active worker holds no placement while others do) — but never on top of a rebalance in progress.
    lines.push(
        "SELECT (:added OR EXISTS (",
        "    SELECT 1 FROM pg_dist_node n",
        "    WHERE n.noderole = 'primary' AND n.isactive AND n.shouldhaveshards",
        "      AND NOT EXISTS (SELECT 1 FROM pg_dist_placement p WHERE p.groupid = n.groupid))",
        "  AND EXISTS (SELECT 1 FROM pg_dist_placement))",
        "  AND NOT EXISTS (SELECT 1 FROM pg_dist_background_job WHERE state IN ('scheduled', 'running', 'cancelling', 'failing')) AS rebalance \\gset",
        "\\if :rebalance",
        "SELECT citus_rebalance_start();",
        "\\endif",
        "SQL",
        "",
    );
    return lines.join("\n");
}

/** A Citus cluster; services connect through PgBouncer with the Secret named by `connectionSecretName`. */
export class CitusCluster extends pulumi.ComponentResource {
    /** PgBouncer's Service DNS name — the host in `DATABASE_URL`. */
    public readonly host: pulumi.Output<string>;
    /** PgBouncer's port (5432). */
    public readonly port: pulumi.Output<number>;
    /** The coordinator pod's DNS name (operators and the registration Job; services use `host`). */
    public readonly coordinatorHost: pulumi.Output<string>;
    /** Name of the Secret in the client namespace holding `DATABASE_URL`. */
    public readonly connectionSecretName: pulumi.Output<string>;
    /** Name of the Secret in the cluster namespace holding the superuser and application passwords. */
    public readonly credentialsSecretName: pulumi.Output<string>;
    /** The worker pods' DNS names, in ordinal order. */
    public readonly workerHosts: pulumi.Output<string[]>;

    constructor(name: string, args: CitusClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        // Validate before registering anything: bad args leave no trace in the stack.
        const a = normalizeCitusArgs(name, args);
        super("noa:data:CitusCluster", name, {}, opts);
        const ns = a.namespace;
        const coordinatorName = `${name}-coordinator`;
        const workerName = `${name}-worker`;
        const pgbouncerName = `${name}-pgbouncer`;
        const coordinator = roleLabels("citus", name, "coordinator");
        const worker = roleLabels("citus", name, "worker");
        const pgbouncer = roleLabels("citus", name, "pgbouncer");
        const registration = roleLabels("citus", name, "registration");
        const coordinatorHost = podFqdn(coordinatorName, 0, coordinatorName, ns);
        const workerHosts = Array.from({ length: a.workers }, (_, i) => podFqdn(workerName, i, workerName, ns));
        const pgbouncerHost = serviceFqdn(pgbouncerName, ns);
        const stateful = statefulSetOptions(this, a.protect);

        // The superuser password is fixed into the data directory at initdb: a replaced one would lock the Job and the nodes out.
        const superuserPassword = new random.RandomPassword(`${name}-superuser-password`, { length: 32, special: false }, { parent: this, protect: a.protect });
        const appPassword = new random.RandomPassword(`${name}-app-password`, { length: 32, special: false }, { parent: this, protect: a.protect });

        const credentials = new k8s.core.v1.Secret(`${name}-credentials`, {
            metadata: { name: `${name}-credentials`, namespace: ns, labels: coordinator.labels },
            type: "Opaque",
            stringData: pulumi.secret({ "superuser-password": superuserPassword.result, "app-password": appPassword.result }),
        }, { parent: this });
        // Citus nodes connect to each other as the querying role; libpq finds those passwords here.
        const pgpass = new k8s.core.v1.Secret(`${name}-pgpass`, {
            metadata: { namespace: ns, labels: coordinator.labels },
            type: "Opaque",
            stringData: pulumi.secret({
                pgpass: pulumi.interpolate`*:${PG_PORT}:*:postgres:${superuserPassword.result}\n*:${PG_PORT}:*:${a.appUser}:${appPassword.result}\n`,
            }),
        }, { parent: this });

        const headless = (svcName: string, sel: Record<string, string>, labels: Record<string, string>) =>
            new k8s.core.v1.Service(svcName, {
                metadata: { name: svcName, namespace: ns, labels },
                spec: {
                    clusterIP: "None",
                    // Nodes must resolve each other while still starting (registration waits with pg_isready).
                    publishNotReadyAddresses: true,
                    selector: sel,
                    ports: [
                        { name: "postgres", port: PG_PORT, targetPort: PG_PORT },
                        { name: "metrics", port: METRICS_PORT, targetPort: METRICS_PORT },
                    ],
                },
            }, { parent: this });
        const coordinatorService = headless(coordinatorName, coordinator.selector, coordinator.labels);
        const workerService = headless(workerName, worker.selector, worker.labels);

        const podTemplate = (role: typeof coordinator, pod: StatefulPodArgs, settings: PostgresSettings, affinity?: k8s.types.input.core.v1.Affinity) => ({
            metadata: { labels: role.labels },
            spec: {
                // The image's entrypoint runs initdb and the server as an arbitrary non-root user when PGDATA is writable.
                securityContext: { runAsUser: POSTGRES_UID, runAsGroup: POSTGRES_UID, runAsNonRoot: true, fsGroup: POSTGRES_UID, fsGroupChangePolicy: "OnRootMismatch", seccompProfile: { type: "RuntimeDefault" } },
                terminationGracePeriodSeconds: 60,
                ...(affinity ? { affinity } : {}),
                nodeSelector: a.nodeSelector,
                initContainers: [{
                    // libpq ignores a password file that others can read; Secret volumes are root-owned.
                    name: "pgpass",
                    image: a.image,
                    command: ["install", "-m", "0600", "/pgpass-source/pgpass", "/var/run/postgresql-auth/.pgpass"],
                    securityContext: RESTRICTED_CONTAINER,
                    resources: TINY,
                    volumeMounts: [
                        { name: "pgpass-source", mountPath: "/pgpass-source", readOnly: true },
                        { name: "pgpass", mountPath: "/var/run/postgresql-auth" },
                    ],
                }],
                containers: [{
                    name: "postgres",
                    image: a.image,
                    args: postgresCommand(settings),
                    ports: [{ name: "postgres", containerPort: PG_PORT }],
                    env: [
                        { name: "POSTGRES_USER", value: "postgres" },
                        { name: "POSTGRES_DB", value: a.database },
                        { name: "POSTGRES_PASSWORD", valueFrom: { secretKeyRef: { name: credentials.metadata.name, key: "superuser-password" } } },
                        { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
                        { name: "PGPASSFILE", value: "/var/run/postgresql-auth/.pgpass" },
                    ],
                    resources: resources(pod),
                    securityContext: RESTRICTED_CONTAINER,
                    startupProbe: { exec: { command: ["pg_isready", "-q", "-U", "postgres", "-h", "127.0.0.1", "-d", a.database] }, periodSeconds: 5, failureThreshold: 120 },
                    readinessProbe: { exec: { command: ["pg_isready", "-q", "-U", "postgres", "-h", "127.0.0.1", "-d", a.database] }, periodSeconds: 10, timeoutSeconds: 5 },
                    livenessProbe: { exec: { command: ["pg_isready", "-q", "-U", "postgres", "-h", "127.0.0.1"] }, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 6 },
                    volumeMounts: [
                        { name: "data", mountPath: "/var/lib/postgresql/data" },
                        { name: "pgpass", mountPath: "/var/run/postgresql-auth", readOnly: true },
                        { name: "dshm", mountPath: "/dev/shm" },
                        { name: "run", mountPath: "/var/run/postgresql" },
                        { name: "tmp", mountPath: "/tmp" },
                    ],
                }, {
                    name: "exporter",
                    image: a.exporterImage,
                    ports: [{ name: "metrics", containerPort: METRICS_PORT }],
                    env: [
                        { name: "DATA_SOURCE_URI", value: `127.0.0.1:${PG_PORT}/${a.database}?sslmode=disable` },
                        { name: "DATA_SOURCE_USER", value: "postgres" },
                        { name: "DATA_SOURCE_PASS", valueFrom: { secretKeyRef: { name: credentials.metadata.name, key: "superuser-password" } } },
                    ],
                    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { cpu: "200m", memory: "64Mi" } },
                    securityContext: RESTRICTED_CONTAINER,
                    readinessProbe: { httpGet: { path: "/", port: METRICS_PORT }, periodSeconds: 30 },
                    livenessProbe: { httpGet: { path: "/", port: METRICS_PORT }, periodSeconds: 60, failureThreshold: 5 },
                }],
                volumes: [
                    { name: "pgpass-source", secret: { secretName: pgpass.metadata.name, defaultMode: 0o440 } },
                    { name: "pgpass", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
                    // PostgreSQL's parallel workers use /dev/shm; the container default is 64 MB.
                    { name: "dshm", emptyDir: { medium: "Memory", sizeLimit: settings.shared_buffers.replace("MB", "Mi") } },
                    { name: "run", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
                    { name: "tmp", emptyDir: { sizeLimit: "1Gi" } },
                ],
            },
        });

        const coordinatorSet = new k8s.apps.v1.StatefulSet(coordinatorName, {
            metadata: { name: coordinatorName, namespace: ns, labels: coordinator.labels },
            spec: {
                serviceName: coordinatorService.metadata.name,
                replicas: 1,
                selector: { matchLabels: coordinator.selector },
                persistentVolumeClaimRetentionPolicy: RETAIN_CLAIMS,
                template: podTemplate(coordinator, a.coordinator, a.coordinatorSettings),
                volumeClaimTemplates: [dataClaim(a.storageClassName, a.coordinator.storage)],
            },
        }, stateful);

        const workerSet = new k8s.apps.v1.StatefulSet(workerName, {
            metadata: { name: workerName, namespace: ns, labels: worker.labels },
            spec: {
                serviceName: workerService.metadata.name,
                replicas: a.workers,
                // Workers are independent shards: start them together.
                podManagementPolicy: "Parallel",
                selector: { matchLabels: worker.selector },
                persistentVolumeClaimRetentionPolicy: RETAIN_CLAIMS,
                template: podTemplate(worker, a.worker, a.workerSettings, spreadAffinity(worker.selector)),
                volumeClaimTemplates: [dataClaim(a.storageClassName, a.worker.storage)],
            },
        }, stateful);

        new k8s.policy.v1.PodDisruptionBudget(`${workerName}-pdb`, {
            metadata: { namespace: ns, labels: worker.labels },
            spec: { maxUnavailable: 1, selector: { matchLabels: worker.selector } },
        }, { parent: this });

        const registrationDeadlineSeconds = 1800;
        new k8s.batch.v1.Job(`${name}-registration`, {
            // Replaced when unready: the script is idempotent, so a failed registration runs again on the next up.
            metadata: { namespace: ns, labels: registration.labels, annotations: { ...REPLACE_UNREADY_ANNOTATIONS } },
            spec: {
                backoffLimit: 10,
                activeDeadlineSeconds: registrationDeadlineSeconds,
                template: {
                    metadata: { labels: registration.labels },
                    spec: {
                        restartPolicy: "OnFailure",
                        securityContext: { runAsUser: POSTGRES_UID, runAsGroup: POSTGRES_UID, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
                        containers: [{
                            name: "register",
                            image: a.image,
                            command: ["sh", "-c", citusRegistrationScript({ coordinatorHost, workerHosts, database: a.database, appUser: a.appUser })],
                            env: [
                                { name: "PGHOST", value: coordinatorHost },
                                { name: "PGPORT", value: String(PG_PORT) },
                                { name: "PGUSER", value: "postgres" },
                                { name: "PGDATABASE", value: a.database },
                                { name: "PGPASSWORD", valueFrom: { secretKeyRef: { name: credentials.metadata.name, key: "superuser-password" } } },
                                { name: "APP_PASSWORD", valueFrom: { secretKeyRef: { name: credentials.metadata.name, key: "app-password" } } },
                            ],
                            securityContext: RESTRICTED_CONTAINER,
                            resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "128Mi" } },
                            volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                        }],
                        volumes: [{ name: "tmp", emptyDir: { sizeLimit: "16Mi" } }],
                    },
                },
            },
        }, { parent: this, dependsOn: [coordinatorSet, workerSet], customTimeouts: jobAwaitTimeouts(registrationDeadlineSeconds) });

        // PgBouncer: the address services use.
        const pgbouncerConfig = new k8s.core.v1.ConfigMap(`${pgbouncerName}-config`, {
            metadata: { namespace: ns, labels: pgbouncer.labels },
            data: { "pgbouncer.ini": pgbouncerIni({ coordinatorHost, database: a.database, poolSize: a.pgbouncerPoolSize }) },
        }, { parent: this });
        const pgbouncerUsers = new k8s.core.v1.Secret(`${pgbouncerName}-users`, {
            metadata: { namespace: ns, labels: pgbouncer.labels },
            type: "Opaque",
            stringData: pulumi.secret({ "userlist.txt": appPassword.result.apply((pw) => pgbouncerUserlist(a.appUser, pw)) }),
        }, { parent: this });
        new k8s.apps.v1.Deployment(pgbouncerName, {
            metadata: { name: pgbouncerName, namespace: ns, labels: pgbouncer.labels },
            spec: {
                replicas: a.pgbouncerReplicas,
                selector: { matchLabels: pgbouncer.selector },
                strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
                template: {
                    metadata: { labels: pgbouncer.labels },
                    spec: {
                        affinity: spreadAffinity(pgbouncer.selector, false),
                        securityContext: { runAsUser: 70, runAsGroup: 70, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
                        containers: [{
                            name: "pgbouncer",
                            image: a.pgbouncerImage,
                            ports: [{ name: "postgres", containerPort: PG_PORT }],
                            resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { cpu: "1", memory: "256Mi" } },
                            readinessProbe: { tcpSocket: { port: PG_PORT }, periodSeconds: 5 },
                            livenessProbe: { tcpSocket: { port: PG_PORT }, periodSeconds: 20, failureThreshold: 6 },
                            // Let in-flight transactions finish before the endpoint disappears.
                            lifecycle: { preStop: { exec: { command: ["sh", "-c", "sleep 10"] } } },
                            securityContext: RESTRICTED_CONTAINER,
                            volumeMounts: [{ name: "config", mountPath: "/etc/pgbouncer", readOnly: true }],
                        }],
                        volumes: [{
                            name: "config",
                            projected: {
                                sources: [
                                    { configMap: { name: pgbouncerConfig.metadata.name } },
                                    { secret: { name: pgbouncerUsers.metadata.name } },
                                ],
                            },
                        }],
                    },
                },
            },
        }, { parent: this, dependsOn: [coordinatorSet] });
        const pgbouncerService = new k8s.core.v1.Service(pgbouncerName, {
            metadata: { name: pgbouncerName, namespace: ns, labels: pgbouncer.labels },
            spec: { selector: pgbouncer.selector, ports: [{ name: "postgres", port: PG_PORT, targetPort: PG_PORT }] },
        }, { parent: this });
        new k8s.policy.v1.PodDisruptionBudget(`${pgbouncerName}-pdb`, {
            metadata: { namespace: ns, labels: pgbouncer.labels },
            spec: { maxUnavailable: 1, selector: { matchLabels: pgbouncer.selector } },
        }, { parent: this });

        // Only the client namespace reaches PgBouncer; only PgBouncer, the Job and the nodes reach PostgreSQL.
        new k8s.networking.v1.NetworkPolicy(`${pgbouncerName}-ingress`, {
            metadata: { namespace: ns, labels: pgbouncer.labels },
            spec: {
                podSelector: { matchLabels: pgbouncer.selector },
                policyTypes: ["Ingress"],
                ingress: [{ from: [namespacePeer(a.clientNamespace)], ports: [{ protocol: "TCP", port: PG_PORT }] }],
            },
        }, { parent: this });
        new k8s.networking.v1.NetworkPolicy(`${name}-postgres-ingress`, {
            metadata: { namespace: ns, labels: coordinator.labels },
            spec: {
                podSelector: {
                    matchLabels: { "app.kubernetes.io/name": "citus", "app.kubernetes.io/instance": name },
                    matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: ["coordinator", "worker"] }],
                },
                policyTypes: ["Ingress"],
                ingress: [{
                    from: [{
                        podSelector: {
                            matchLabels: { "app.kubernetes.io/name": "citus", "app.kubernetes.io/instance": name },
                            matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: ["coordinator", "worker", "pgbouncer", "registration"] }],
                        },
                    }],
                    ports: [{ protocol: "TCP", port: PG_PORT }],
                }, {
                    from: [namespacePeer(a.metricsNamespace)],
                    ports: [{ protocol: "TCP", port: METRICS_PORT }],
                }],
            },
        }, { parent: this });

        storeServiceMonitor(`${name}-metrics`, ns, coordinator.labels, {
            matchLabels: { "app.kubernetes.io/name": "citus", "app.kubernetes.io/instance": name },
            matchExpressions: [{ key: "app.kubernetes.io/component", operator: "In", values: ["coordinator", "worker"] }],
        }, "metrics", a.serviceMonitor, this);

        const connection = new k8s.core.v1.Secret(`${name}-connection`, {
            metadata: { name: a.connectionSecretName, namespace: a.clientNamespace, labels: pgbouncer.labels },
            type: "Opaque",
            stringData: pulumi.secret({
                DATABASE_URL: pulumi.interpolate`postgres://${a.appUser}:${appPassword.result.apply(encodeURIComponent)}@${pgbouncerHost}:${PG_PORT}/${a.database}`,
            }),
        }, { parent: this });

        this.host = pgbouncerService.metadata.apply(() => pgbouncerHost);
        this.port = pulumi.output(PG_PORT);
        this.coordinatorHost = coordinatorSet.metadata.apply(() => coordinatorHost);
        this.connectionSecretName = connection.metadata.name;
        this.credentialsSecretName = credentials.metadata.name;
        this.workerHosts = workerSet.metadata.apply(() => workerHosts);
        this.registerOutputs({
            host: this.host,
            port: this.port,
            coordinatorHost: this.coordinatorHost,
            connectionSecretName: this.connectionSecretName,
            credentialsSecretName: this.credentialsSecretName,
            workerHosts: this.workerHosts,
        });
    }
}
