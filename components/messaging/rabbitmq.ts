/**
 * RabbitMqCluster: an odd number of RabbitMQ nodes in one StatefulSet that
 * form a cluster by Kubernetes peer discovery, keep quorum queues as the
 * platform's queue type, pause a minority on a partition, and boot with
 * definitions (vhost, application user, job-queue policies) from a Secret.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { createHash } from "node:crypto";
import {
    checkDnsLabel, checkInt, checkPlacement, checkPod, dataClaim, namespacePeer, parseQuantity, resources,
    RESTRICTED_CONTAINER, RETAIN_CLAIMS, roleLabels, serviceFqdn, ServiceMonitorArgs, spreadAffinity, StatefulPodArgs,
    statefulSetOptions, storeServiceMonitor, throwIfProblems,
} from "../data/kube";

/** Official image, pinned (management variant: the UI and HTTP API operators use). */
export const RABBITMQ_IMAGE = "rabbitmq:4.1.4-management";
export const AMQP_PORT = 5672;
export const MANAGEMENT_PORT = 15672;
export const PROMETHEUS_PORT = 15692;
const EPMD_PORT = 4369;
const DIST_PORT = 25672;
/** uid/gid of `rabbitmq` in the official image. */
const RABBITMQ_UID = 999;
const CONFIG_DIR = "/etc/rabbitmq";
const DEFINITIONS_PATH = `${CONFIG_DIR}/definitions.json`;
/**
 * The job queues `jobs.<type>`; the dead-letter queue and the retry delay
 * queues (`jobs.dead`, `jobs.delay.<ms>`) are excluded: dead-lettering the
 * dead-letter queue into itself would loop, and delay queues dead-letter back
 * to their job queue by design.
 */
export const JOB_QUEUE_PATTERN = "^jobs\\.(?!dead$|delay\\.)";

export interface RabbitMqClusterArgs {
    /** Namespace for the nodes and their Secrets (`noa-data`). Required. */
    readonly namespace: string;
    /** Namespace of the client services; the AMQP URL Secret is written there and only it may connect (`noa`). Required. */
    readonly clientNamespace: string;
    /** StorageClass of every data volume (`gp3-encrypted`). Required. */
    readonly storageClassName: string;
    /** Nodes: 1, or an odd number ≥ 3 (a quorum must survive losing a node). Required. */
    readonly nodes: number;
    /** Sizes of each node and its volume; memory and disk alarms are derived from them. Required. */
    readonly node: StatefulPodArgs;
    /** Quorum-queue delivery limit before a message is dead-lettered (policy on the job queues). Required. */
    readonly deliveryLimit: number;
    /** Most nodes the node groups can ever have; RabbitMQ nodes are one per node. Required. */
    readonly maxSchedulableNodes: number;
    /** `protect` + `retainOnDelete` on the StatefulSet (prod). Claims are always retained. Required. */
    readonly protect: boolean;
    /** Node labels the RabbitMQ pods must run on (the on-demand base group: stateful pods stay off spot capacity). Default `{}` (any node). */
    readonly nodeSelector?: Record<string, string>;
    /** The application's virtual host; its default queue type is quorum. Default `noa`. */
    readonly vhost?: string;
    /** The application user, with permissions on `vhost` only. Default `noa_app`. */
    readonly appUser?: string;
    /** The administrator (management UI, `rabbitmqctl` over HTTP); its password is in the `<name>-admin` Secret. Default `admin`. */
    readonly adminUser?: string;
    /** Exchange the job queues dead-letter to. Default `jobs.dlx`. */
    readonly deadLetterExchange?: string;
    /** Name of the AMQP URL Secret in `clientNamespace` (key `AMQP_URL`). Default `noa-rabbitmq-app`. */
    readonly connectionSecretName?: string;
    /** Namespace allowed to scrape the Prometheus endpoint (15692). Default `monitoring`. */
    readonly metricsNamespace?: string;
    /**
     * Namespaces whose pods may also connect over AMQP to read queue depth — KEDA's operator, whose
     * rabbitmq scaler opens an AMQP connection with the worker's credentials. Default `[]`.
     */
    readonly queueReaderNamespaces?: string[];
    /** A ServiceMonitor for the Prometheus plugin's endpoint (15692). Default `{ enabled: false }`. */
    readonly serviceMonitor?: ServiceMonitorArgs;
    /** RabbitMQ image. Default `RABBITMQ_IMAGE`. */
    readonly image?: string;
}

export interface NormalizedRabbitMqArgs extends Required<RabbitMqClusterArgs> {
    /** `vm_memory_high_watermark.absolute`, bytes. */
    readonly memoryHighWatermarkBytes: number;
    /** `disk_free_limit.absolute`, bytes. */
    readonly diskFreeLimitBytes: number;
}

/**
 * Publishers are blocked at 60 % of the container's memory limit (RabbitMQ
 * 4's default ratio, applied to the cgroup limit explicitly): the rest is
 * headroom for the Erlang VM and garbage collection before the OOM killer.
 */
export function rabbitMemoryHighWatermark(memoryLimitBytes: number): number {
    return Math.floor((memoryLimitBytes * 0.6) / 2 ** 20) * 2 ** 20;
}

/**
 * Publishers are blocked when free disk falls below the memory limit: RabbitMQ
 * recommends at least as much free disk as memory, so a full page-out fits.
 */
export function rabbitDiskFreeLimit(memoryLimitBytes: number): number {
    return Math.max(memoryLimitBytes, 2 ** 30);
}

export function normalizeRabbitMqArgs(name: string, args: RabbitMqClusterArgs): NormalizedRabbitMqArgs {
    const problems: string[] = [];
    const p = "";
    checkDnsLabel(problems, p, "namespace", args.namespace);
    checkDnsLabel(problems, p, "clientNamespace", args.clientNamespace);
    checkDnsLabel(problems, p, "storageClassName", args.storageClassName, 253);
    checkInt(problems, p, "nodes", args.nodes, 1, 9);
    if (Number.isInteger(args.nodes) && args.nodes > 1 && args.nodes % 2 === 0) {
        problems.push(`nodes (${args.nodes}) must be 1 or odd: an even-sized cluster split in half has no majority, so quorum queues stop`);
    }
    checkInt(problems, p, "deliveryLimit", args.deliveryLimit, 1, 1000);
    checkInt(problems, p, "maxSchedulableNodes", args.maxSchedulableNodes, 1);
    checkPod(problems, p, "node", args.node);
    checkPlacement(problems, p, "nodes", args.nodes, args.maxSchedulableNodes);
    const vhost = args.vhost ?? "noa";
    const appUser = args.appUser ?? "noa_app";
    const adminUser = args.adminUser ?? "admin";
    const deadLetterExchange = args.deadLetterExchange ?? "jobs.dlx";
    for (const [key, value] of [["vhost", vhost], ["appUser", appUser], ["adminUser", adminUser], ["deadLetterExchange", deadLetterExchange]] as const) {
        if (!/^[A-Za-z0-9_.-]{1,64}$/.test(value)) problems.push(`${key} (${JSON.stringify(value)}) must be 1–64 letters, digits, '.', '_' or '-'`);
    }
    if (appUser === adminUser) problems.push(`appUser (${JSON.stringify(appUser)}) must differ from adminUser: the application user is limited to its vhost`);
    const connectionSecretName = args.connectionSecretName ?? "noa-rabbitmq-app";
    checkDnsLabel(problems, p, "connectionSecretName", connectionSecretName, 253);
    const metricsNamespace = args.metricsNamespace ?? "monitoring";
    checkDnsLabel(problems, p, "metricsNamespace", metricsNamespace);
    const queueReaderNamespaces = args.queueReaderNamespaces ?? [];
    queueReaderNamespaces.forEach((n, i) => checkDnsLabel(problems, p, `queueReaderNamespaces[${i}]`, n));
    if (typeof args.protect !== "boolean") problems.push(`protect (${JSON.stringify(args.protect)}) must be true or false`);
    const memory = parseQuantity(args.node?.memoryLimit) ?? 0;
    const storage = parseQuantity(args.node?.storage) ?? 0;
    if (memory > 0 && memory < 256 * 2 ** 20) problems.push(`node.memoryLimit (${JSON.stringify(args.node.memoryLimit)}) must be at least 256Mi`);
    const diskFreeLimitBytes = rabbitDiskFreeLimit(memory);
    if (memory > 0 && storage > 0 && storage < 2 * diskFreeLimitBytes) {
        problems.push(`node.storage (${JSON.stringify(args.node.storage)}) must be at least twice the disk alarm threshold (${diskFreeLimitBytes} bytes, from node.memoryLimit ${JSON.stringify(args.node.memoryLimit)}), or the node blocks publishers almost at once`);
    }
    throwIfProblems("RabbitMqCluster", name, problems);
    return {
        namespace: args.namespace,
        clientNamespace: args.clientNamespace,
        storageClassName: args.storageClassName,
        nodes: args.nodes,
        node: args.node,
        deliveryLimit: args.deliveryLimit,
        maxSchedulableNodes: args.maxSchedulableNodes,
        protect: args.protect,
        vhost,
        appUser,
        adminUser,
        deadLetterExchange,
        connectionSecretName,
        metricsNamespace,
        queueReaderNamespaces,
        image: args.image ?? RABBITMQ_IMAGE,
        serviceMonitor: args.serviceMonitor ?? { enabled: false },
        nodeSelector: args.nodeSelector ?? {},
        memoryHighWatermarkBytes: rabbitMemoryHighWatermark(memory),
        diskFreeLimitBytes,
    };
}

/** `rabbitmq.conf`. */
export function rabbitmqConf(opts: { headlessService: string; namespace: string; memoryHighWatermarkBytes: number; diskFreeLimitBytes: number }): string {
    return [
        `listeners.tcp.default = ${AMQP_PORT}`,
        `management.tcp.port = ${MANAGEMENT_PORT}`,
        `prometheus.tcp.port = ${PROMETHEUS_PORT}`,
        "cluster_formation.peer_discovery_backend = rabbit_peer_discovery_k8s",
        // RabbitMQ ≥ 4.1 seeds from the StatefulSet's pod -0 and ignores the API settings below; they keep
        // the same manifests working with a 3.x/4.0 image, whose plugin reads the headless Service's Endpoints.
        "cluster_formation.k8s.host = kubernetes.default.svc.cluster.local",
        "cluster_formation.k8s.address_type = hostname",
        `cluster_formation.k8s.service_name = ${opts.headlessService}`,
        `cluster_formation.k8s.hostname_suffix = .${opts.headlessService}.${opts.namespace}.svc.cluster.local`,
        "cluster_partition_handling = pause_minority",
        `vm_memory_high_watermark.absolute = ${opts.memoryHighWatermarkBytes}`,
        `disk_free_limit.absolute = ${opts.diskFreeLimitBytes}`,
        "queue_leader_locator = balanced",
        `load_definitions = ${DEFINITIONS_PATH}`,
        "loopback_users.guest = true",
        "log.console = true",
        "log.console.level = info",
        "log.file = false",
        "",
    ].join("\n");
}

/** `enabled_plugins` (an Erlang term). */
export function enabledPlugins(): string {
    return "[rabbitmq_management,rabbitmq_prometheus,rabbitmq_peer_discovery_k8s].\n";
}

/**
 * RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt ‖ SHA-256(salt ‖ password)).
 * The salt is derived from the user and password, so the same password gives
 * the same definitions (no diff on every `pulumi up`).
 */
export function rabbitPasswordHash(user: string, password: string): string {
    const salt = createHash("sha256").update(`noa-rabbitmq-salt\0${user}\0${password}`).digest().subarray(0, 4);
    const digest = createHash("sha256").update(Buffer.concat([salt, Buffer.from(password, "utf8")])).digest();
    return Buffer.concat([salt, digest]).toString("base64");
}

/** The definitions file loaded at boot (`load_definitions`): it holds password hashes, so it lives in a Secret. */
export function rabbitDefinitions(opts: {
    vhost: string; appUser: string; appPassword: string; adminUser: string; adminPassword: string; deadLetterExchange: string; deliveryLimit: number;
}): Record<string, unknown> {
    const user = (name: string, password: string, tags: string[]) => ({
        name,
        password_hash: rabbitPasswordHash(name, password),
        hashing_algorithm: "rabbit_password_hashing_sha256",
        tags,
        limits: {},
    });
    return {
        users: [user(opts.adminUser, opts.adminPassword, ["administrator"]), user(opts.appUser, opts.appPassword, [])],
        // The shape RabbitMQ itself exports: the fields at the top (older importers) and under metadata (3.11+).
        vhosts: [{
            name: opts.vhost,
            description: "noa services",
            tags: [],
            default_queue_type: "quorum",
            metadata: { description: "noa services", tags: [], default_queue_type: "quorum" },
        }],
        permissions: [
            { user: opts.adminUser, vhost: opts.vhost, configure: ".*", write: ".*", read: ".*" },
            { user: opts.appUser, vhost: opts.vhost, configure: ".*", write: ".*", read: ".*" },
        ],
        policies: [{
            vhost: opts.vhost,
            name: "job-queues",
            pattern: JOB_QUEUE_PATTERN,
            "apply-to": "quorum_queues",
            priority: 0,
            definition: {
                "dead-letter-exchange": opts.deadLetterExchange,
                "delivery-limit": opts.deliveryLimit,
                // At-least-once dead-lettering needs reject-publish overflow.
                "dead-letter-strategy": "at-least-once",
                overflow: "reject-publish",
            },
        }],
    };
}

/** A RabbitMQ cluster; clients use the AMQP URL Secret named by `connectionSecretName`. */
export class RabbitMqCluster extends pulumi.ComponentResource {
    /** The client Service's DNS name. */
    public readonly host: pulumi.Output<string>;
    /** AMQP port (5672). */
    public readonly amqpPort: pulumi.Output<number>;
    /** Management UI / HTTP API port (15672). */
    public readonly managementPort: pulumi.Output<number>;
    /** Name of the Secret in the client namespace holding `AMQP_URL`. */
    public readonly connectionSecretName: pulumi.Output<string>;
    /** Name of the Secret in the cluster namespace holding the administrator's credentials. */
    public readonly adminSecretName: pulumi.Output<string>;

    constructor(name: string, args: RabbitMqClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        // Validate before registering anything: bad args leave no trace in the stack.
        const a = normalizeRabbitMqArgs(name, args);
        super("noa:messaging:RabbitMqCluster", name, {}, opts);
        const ns = a.namespace;
        const headlessName = `${name}-nodes`;
        const role = roleLabels("rabbitmq", name, "node");
        const host = serviceFqdn(name, ns);

        // A replaced Erlang cookie splits a rolling cluster; keep every generated credential as long as the data.
        const adminPassword = new random.RandomPassword(`${name}-admin-password`, { length: 32, special: false }, { parent: this, protect: a.protect });
        const appPassword = new random.RandomPassword(`${name}-app-password`, { length: 32, special: false }, { parent: this, protect: a.protect });
        const erlangCookie = new random.RandomPassword(`${name}-erlang-cookie`, { length: 64, special: false }, { parent: this, protect: a.protect });

        const adminSecret = new k8s.core.v1.Secret(`${name}-admin`, {
            metadata: { name: `${name}-admin`, namespace: ns, labels: role.labels },
            type: "kubernetes.io/basic-auth",
            stringData: pulumi.secret({ username: a.adminUser, password: adminPassword.result }),
        }, { parent: this });
        const cookieSecret = new k8s.core.v1.Secret(`${name}-erlang-cookie`, {
            metadata: { namespace: ns, labels: role.labels },
            type: "Opaque",
            stringData: pulumi.secret({ ".erlang.cookie": erlangCookie.result }),
        }, { parent: this });
        const definitions = new k8s.core.v1.Secret(`${name}-definitions`, {
            metadata: { namespace: ns, labels: role.labels },
            type: "Opaque",
            stringData: pulumi.secret({
                "definitions.json": pulumi.all([appPassword.result, adminPassword.result]).apply(([app, admin]) =>
                    JSON.stringify(rabbitDefinitions({
                        vhost: a.vhost, appUser: a.appUser, appPassword: app, adminUser: a.adminUser, adminPassword: admin,
                        deadLetterExchange: a.deadLetterExchange, deliveryLimit: a.deliveryLimit,
                    }), null, 2)),
            }),
        }, { parent: this });
        const config = new k8s.core.v1.ConfigMap(`${name}-config`, {
            metadata: { namespace: ns, labels: role.labels },
            data: {
                "rabbitmq.conf": rabbitmqConf({ headlessService: headlessName, namespace: ns, memoryHighWatermarkBytes: a.memoryHighWatermarkBytes, diskFreeLimitBytes: a.diskFreeLimitBytes }),
                enabled_plugins: enabledPlugins(),
            },
        }, { parent: this });

        // Peer discovery identity: the plugin of a 3.x/4.0 image reads the headless Service's Endpoints.
        const serviceAccount = new k8s.core.v1.ServiceAccount(name, {
            metadata: { name, namespace: ns, labels: role.labels },
        }, { parent: this });
        const peerRole = new k8s.rbac.v1.Role(`${name}-peer-discovery`, {
            metadata: { namespace: ns, labels: role.labels },
            rules: [{ apiGroups: [""], resources: ["endpoints"], resourceNames: [headlessName], verbs: ["get"] }],
        }, { parent: this });
        const peerBinding = new k8s.rbac.v1.RoleBinding(`${name}-peer-discovery`, {
            metadata: { namespace: ns, labels: role.labels },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: peerRole.metadata.name },
            subjects: [{ kind: "ServiceAccount", name: serviceAccount.metadata.name, namespace: ns }],
        }, { parent: this });

        const headless = new k8s.core.v1.Service(headlessName, {
            metadata: { name: headlessName, namespace: ns, labels: role.labels },
            spec: {
                clusterIP: "None",
                // Nodes must resolve each other to cluster before any is ready.
                publishNotReadyAddresses: true,
                selector: role.selector,
                ports: [
                    { name: "epmd", port: EPMD_PORT, targetPort: EPMD_PORT },
                    { name: "cluster-rpc", port: DIST_PORT, targetPort: DIST_PORT },
                    { name: "amqp", port: AMQP_PORT, targetPort: AMQP_PORT },
                ],
            },
        }, { parent: this });
        const client = new k8s.core.v1.Service(name, {
            metadata: { name, namespace: ns, labels: role.labels },
            spec: {
                selector: role.selector,
                ports: [
                    { name: "amqp", port: AMQP_PORT, targetPort: AMQP_PORT },
                    { name: "management", port: MANAGEMENT_PORT, targetPort: MANAGEMENT_PORT },
                    { name: "prometheus", port: PROMETHEUS_PORT, targetPort: PROMETHEUS_PORT },
                ],
            },
        }, { parent: this });

        const graceSeconds = a.nodes > 1 ? 600 : 60;
        new k8s.apps.v1.StatefulSet(name, {
            metadata: { name, namespace: ns, labels: role.labels },
            spec: {
                serviceName: headless.metadata.name,
                replicas: a.nodes,
                // Every node but -0 joins -0 and retries until it can: starting them together is safe and faster.
                podManagementPolicy: "Parallel",
                selector: { matchLabels: role.selector },
                persistentVolumeClaimRetentionPolicy: RETAIN_CLAIMS,
                template: {
                    metadata: {
                        labels: role.labels,
                        annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(PROMETHEUS_PORT) },
                    },
                    spec: {
                        serviceAccountName: serviceAccount.metadata.name,
                        affinity: spreadAffinity(role.selector),
                        nodeSelector: a.nodeSelector,
                        securityContext: { runAsUser: RABBITMQ_UID, runAsGroup: RABBITMQ_UID, runAsNonRoot: true, fsGroup: RABBITMQ_UID, fsGroupChangePolicy: "OnRootMismatch", seccompProfile: { type: "RuntimeDefault" } },
                        terminationGracePeriodSeconds: graceSeconds,
                        initContainers: [{
                            // The Erlang cookie must be private to its owner; Secret volumes are root-owned.
                            name: "erlang-cookie",
                            image: a.image,
                            command: ["install", "-m", "0600", "/erlang-cookie-secret/.erlang.cookie", "/var/lib/rabbitmq/.erlang.cookie"],
                            securityContext: RESTRICTED_CONTAINER,
                            resources: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "32Mi" } },
                            volumeMounts: [
                                { name: "erlang-cookie-secret", mountPath: "/erlang-cookie-secret", readOnly: true },
                                { name: "data", mountPath: "/var/lib/rabbitmq" },
                            ],
                        }],
                        containers: [{
                            name: "rabbitmq",
                            image: a.image,
                            ports: [
                                { name: "amqp", containerPort: AMQP_PORT },
                                { name: "management", containerPort: MANAGEMENT_PORT },
                                { name: "prometheus", containerPort: PROMETHEUS_PORT },
                                { name: "epmd", containerPort: EPMD_PORT },
                                { name: "cluster-rpc", containerPort: DIST_PORT },
                            ],
                            env: [
                                { name: "MY_POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                                { name: "RABBITMQ_USE_LONGNAME", value: "true" },
                                { name: "RABBITMQ_NODENAME", value: `rabbit@$(MY_POD_NAME).${headlessName}.${ns}.svc.cluster.local` },
                            ],
                            resources: resources(a.node),
                            readinessProbe: { tcpSocket: { port: AMQP_PORT }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3 },
                            // Generous on purpose: restarting a node that is busy syncing quorum logs makes things worse.
                            livenessProbe: { exec: { command: ["rabbitmq-diagnostics", "-q", "ping"] }, initialDelaySeconds: 120, periodSeconds: 60, timeoutSeconds: 30, failureThreshold: 5 },
                            ...(a.nodes > 1
                                ? { lifecycle: { preStop: { exec: { command: ["sh", "-c", `rabbitmq-upgrade await_online_quorum_plus_one -t ${graceSeconds - 60}`] } } } }
                                : {}),
                            securityContext: RESTRICTED_CONTAINER,
                            volumeMounts: [
                                { name: "data", mountPath: "/var/lib/rabbitmq" },
                                { name: "config", mountPath: CONFIG_DIR, readOnly: true },
                                { name: "tmp", mountPath: "/tmp" },
                            ],
                        }],
                        volumes: [
                            { name: "erlang-cookie-secret", secret: { secretName: cookieSecret.metadata.name, defaultMode: 0o440 } },
                            { name: "tmp", emptyDir: { sizeLimit: "64Mi" } },
                            {
                                name: "config",
                                projected: {
                                    sources: [
                                        { configMap: { name: config.metadata.name } },
                                        { secret: { name: definitions.metadata.name } },
                                    ],
                                },
                            },
                        ],
                    },
                },
                volumeClaimTemplates: [dataClaim(a.storageClassName, a.node.storage)],
            },
        }, statefulSetOptions(this, a.protect, { dependsOn: [peerBinding] }));

        new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, {
            metadata: { namespace: ns, labels: role.labels },
            spec: { maxUnavailable: 1, selector: { matchLabels: role.selector } },
        }, { parent: this });

        new k8s.networking.v1.NetworkPolicy(`${name}-ingress`, {
            metadata: { namespace: ns, labels: role.labels },
            spec: {
                podSelector: { matchLabels: role.selector },
                policyTypes: ["Ingress"],
                ingress: [
                    { from: [a.clientNamespace, ...a.queueReaderNamespaces].map(namespacePeer), ports: [{ protocol: "TCP", port: AMQP_PORT }] },
                    { from: [namespacePeer(a.metricsNamespace)], ports: [{ protocol: "TCP", port: PROMETHEUS_PORT }] },
                    {
                        from: [{ podSelector: { matchLabels: role.selector } }],
                        ports: [EPMD_PORT, DIST_PORT, AMQP_PORT, MANAGEMENT_PORT].map((port) => ({ protocol: "TCP", port })),
                    },
                ],
            },
        }, { parent: this });

        // The client Service (the headless one has no metrics port): every node, once each.
        storeServiceMonitor(`${name}-metrics`, ns, role.labels, { matchLabels: role.selector }, "prometheus", a.serviceMonitor, this);

        const connection = new k8s.core.v1.Secret(`${name}-connection`, {
            metadata: { name: a.connectionSecretName, namespace: a.clientNamespace, labels: role.labels },
            type: "Opaque",
            stringData: pulumi.secret({
                AMQP_URL: pulumi.interpolate`amqp://${a.appUser}:${appPassword.result.apply(encodeURIComponent)}@${host}:${AMQP_PORT}/${encodeURIComponent(a.vhost)}`,
            }),
        }, { parent: this });

        this.host = client.metadata.apply(() => host);
        this.amqpPort = pulumi.output(AMQP_PORT);
        this.managementPort = pulumi.output(MANAGEMENT_PORT);
        this.connectionSecretName = connection.metadata.name;
        this.adminSecretName = adminSecret.metadata.name;
        this.registerOutputs({
            host: this.host,
            amqpPort: this.amqpPort,
            managementPort: this.managementPort,
            connectionSecretName: this.connectionSecretName,
            adminSecretName: this.adminSecretName,
        });
    }
}
