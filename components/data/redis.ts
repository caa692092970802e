/**
 * RedisCluster: a Redis Cluster of `masters × (1 + replicasPerMaster)` nodes
 * in one StatefulSet, append-only persistence on volumes, a password from
 * `@pulumi/random`, and an idempotent bootstrap Job.
 *
 * Placement: every Redis pod repels every other one per node (required host
 * anti-affinity), so no node ever holds two members — whichever pod
 * `redis-cli --cluster create` makes the replica of whichever master, the
 * two never share a node. The price is one node per pod, which is why the
 * pod count is checked against `maxSchedulableNodes` (and, in the stack
 * config, against the base node group's `maxSize`).
 *
 * Addressing: nodes announce their stable StatefulSet DNS names
 * (`cluster-announce-hostname`, `cluster-preferred-endpoint-type hostname`,
 * Redis ≥ 7), so clients follow MOVED/ASK redirects and `CLUSTER SHARDS` to
 * names that survive a pod's IP changing on restart; the cluster bus keeps
 * using IPs and learns a restarted node's new IP by gossip. Losing every pod
 * at once is what that cannot cover, hence the PDB (max unavailable 1).
 *
 * Metrics: redis_exporter beside every node (memory against `maxmemory`,
 * `CLUSTER INFO` state and slots, command statistics, replication links),
 * scraped from the `monitoring` namespace through an optional ServiceMonitor;
 * the platform's alert rules read `redis_cluster_state` and the memory series.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { REPLACE_UNREADY_ANNOTATIONS, jobAwaitTimeouts } from "../shared/index.js";
import {
    checkDnsLabel, checkInt, checkPlacement, checkPod, dataClaim, namespacePeer, parseQuantity, podFqdn, resources,
    RESTRICTED_CONTAINER, RETAIN_CLAIMS, roleLabels, statefulSetOptions, ServiceMonitorArgs, spreadAffinity, StatefulPodArgs, storeServiceMonitor, throwIfProblems,
} from "./kube";

/** Official image, pinned. */
export const REDIS_IMAGE = "redis:7.4.5";
export const REDIS_PORT = 6379;
export const REDIS_BUS_PORT = 16379;
/** redis_exporter beside every node: `CLUSTER INFO`, memory and command statistics for the alert rules. */
export const REDIS_EXPORTER_IMAGE = "oliver006/redis_exporter:v1.91.1";
export const REDIS_METRICS_PORT = 9121;
/** uid/gid of `redis` in the official image. */
const REDIS_UID = 999;

export interface RedisClusterArgs {
    /** Namespace for the Redis pods and their password Secret (`noa-data`). Required. */
    readonly namespace: string;
    /** Namespace of the client services; the password Secret is copied there and only it may connect (`noa`). Required. */
    readonly clientNamespace: string;
    /** StorageClass of every data volume (`gp3-encrypted`). Required. */
    readonly storageClassName: string;
    /** Masters (hash-slot owners): at least 3, Redis Cluster's minimum. Required. */
    readonly masters: number;
    /** Replicas per master (0 in dev, 1 in prod). Required. */
    readonly replicasPerMaster: number;
    /** Sizes of each Redis pod and its volume; `maxmemory` is 75 % of the memory limit. Required. */
    readonly node: StatefulPodArgs;
    /** Most nodes the node groups can ever have; Redis pods are one per node. Required. */
    readonly maxSchedulableNodes: number;
    /** `protect` + `retainOnDelete` on the StatefulSet (prod). Claims are always retained. Required. */
    readonly protect: boolean;
    /** Node labels the Redis pods must run on (the on-demand base group: stateful pods stay off spot capacity). Default `{}` (any node). */
    readonly nodeSelector?: Record<string, string>;
    /** Eviction policy once `maxmemory` is reached. Default `volatile-lru` (only keys with a TTL — caches and rate-limit windows — are evicted). */
    readonly maxmemoryPolicy?: string;
    /** Name of the password Secret in `clientNamespace` (key `REDIS_PASSWORD`). Default `noa-redis-auth`. */
    readonly passwordSecretName?: string;
    /** Redis image (7.0 or later: hostname announcement). Default `REDIS_IMAGE`. */
    readonly image?: string;
    /** redis_exporter image. Default `REDIS_EXPORTER_IMAGE`. */
    readonly exporterImage?: string;
    /** Namespace allowed to scrape the exporters (9121). Default `monitoring`. */
    readonly metricsNamespace?: string;
    /** A ServiceMonitor for the exporters. Default `{ enabled: false }`. */
    readonly serviceMonitor?: ServiceMonitorArgs;
}

export interface NormalizedRedisArgs extends Required<RedisClusterArgs> {
    /** Pods in the StatefulSet. */
    readonly pods: number;
    /** `maxmemory` in bytes. */
    readonly maxmemoryBytes: number;
}

const EVICTION_POLICIES = ["noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"];

/**
 * Leaves a quarter of the memory limit for what `maxmemory` does not count:
 * replication and client buffers, and the copy-on-write of an AOF rewrite.
 */
export function redisMaxmemory(memoryLimitBytes: number): number {
    return Math.floor((memoryLimitBytes * 0.75) / 2 ** 20) * 2 ** 20;
}

export function normalizeRedisArgs(name: string, args: RedisClusterArgs): NormalizedRedisArgs {
    const problems: string[] = [];
    const p = "";
    checkDnsLabel(problems, p, "namespace", args.namespace);
    checkDnsLabel(problems, p, "clientNamespace", args.clientNamespace);
    checkDnsLabel(problems, p, "storageClassName", args.storageClassName, 253);
    checkInt(problems, p, "masters", args.masters, 3, 100);
    checkInt(problems, p, "replicasPerMaster", args.replicasPerMaster, 0, 5);
    checkInt(problems, p, "maxSchedulableNodes", args.maxSchedulableNodes, 1);
    checkPod(problems, p, "node", args.node);
    const pods = args.masters * (1 + args.replicasPerMaster);
    checkPlacement(problems, p, `masters × (1 + replicasPerMaster)`, pods, args.maxSchedulableNodes);
    const maxmemoryPolicy = args.maxmemoryPolicy ?? "volatile-lru";
    if (!EVICTION_POLICIES.includes(maxmemoryPolicy)) problems.push(`maxmemoryPolicy (${JSON.stringify(maxmemoryPolicy)}) must be one of ${EVICTION_POLICIES.join(", ")}`);
    const passwordSecretName = args.passwordSecretName ?? "noa-redis-auth";
    const metricsNamespace = args.metricsNamespace ?? "monitoring";
    checkDnsLabel(problems, p, "metricsNamespace", metricsNamespace);
    checkDnsLabel(problems, p, "passwordSecretName", passwordSecretName, 253);
    if (typeof args.protect !== "boolean") problems.push(`protect (${JSON.stringify(args.protect)}) must be true or false`);
    const memory = parseQuantity(args.node?.memoryLimit) ?? 0;
    if (memory > 0 && memory < 64 * 2 ** 20) problems.push(`node.memoryLimit (${JSON.stringify(args.node.memoryLimit)}) must be at least 64Mi`);
    throwIfProblems("RedisCluster", name, problems);
    return {
        namespace: args.namespace,
        clientNamespace: args.clientNamespace,
        storageClassName: args.storageClassName,
        masters: args.masters,
        replicasPerMaster: args.replicasPerMaster,
        node: args.node,
        maxSchedulableNodes: args.maxSchedulableNodes,
        protect: args.protect,
        maxmemoryPolicy,
        passwordSecretName,
        image: args.image ?? REDIS_IMAGE,
        exporterImage: args.exporterImage ?? REDIS_EXPORTER_IMAGE,
        metricsNamespace,
        serviceMonitor: args.serviceMonitor ?? { enabled: false },
        nodeSelector: args.nodeSelector ?? {},
        pods,
        maxmemoryBytes: redisMaxmemory(memory),
    };
}

/**
 * `redis.conf`, identical on every pod. Secrets and the pod's own name are
 * not in it: the container writes them to a memory-backed file at start
 * (`include /run/redis/pod.conf`), so the ConfigMap holds no password.
 */
export function redisConf(opts: { maxmemoryBytes: number; maxmemoryPolicy: string }): string {
    return [
        `port ${REDIS_PORT}`,
        "bind * -::*",
        "protected-mode no",
        "dir /data",
        "cluster-enabled yes",
        "cluster-config-file /data/nodes.conf",
        "cluster-node-timeout 5000",
        "cluster-preferred-endpoint-type hostname",
        // Keep serving the slots that are up when a shard is down: a cache and rate limiter degrade, not stop.
        "cluster-require-full-coverage no",
        "cluster-allow-reads-when-down no",
        "appendonly yes",
        "appendfsync everysec",
        "aof-use-rdb-preamble yes",
        `maxmemory ${opts.maxmemoryBytes}`,
        `maxmemory-policy ${opts.maxmemoryPolicy}`,
        "tcp-keepalive 60",
        "include /run/redis/pod.conf",
        "",
    ].join("\n");
}

/** The container's start script: per-pod settings and the password into a tmpfs file, then the server. */
export function redisStartScript(): string {
    return [
        "set -eu",
        "umask 077",
        `printf 'requirepass "%s"\\nmasterauth "%s"\\ncluster-announce-hostname %s\\n' "$REDIS_PASSWORD" "$REDIS_PASSWORD" "$POD_FQDN" > /run/redis/pod.conf`,
        "exec redis-server /etc/redis/redis.conf",
        "",
    ].join("\n");
}

/**
 * The node container's readiness check. Ready means this node can take its
 * share: a node not yet in any cluster (`cluster_known_nodes:1`: first start,
 * before the bootstrap Job, which needs it up) answers; a member is ready only
 * while the cluster is `ok` and, as a replica, its link to the master is up and
 * no full sync is running. A rolling update or a drain (the PDB counts ready
 * pods) therefore waits for a restarted node to rejoin and resync before it
 * takes the next one, instead of taking a shard's last good copy.
 */
export function redisReadinessScript(port = REDIS_PORT): string {
    return [
        "set -eu",
        `ci=$(redis-cli -p ${port} cluster info | tr -d '\r')`,
        "[ \"$(echo \"$ci\" | sed -n 's/^cluster_known_nodes://p')\" = 1 ] && exit 0",
        "echo \"$ci\" | grep -qx 'cluster_state:ok'",
        `repl=$(redis-cli -p ${port} info replication | tr -d '\r')`,
        "echo \"$repl\" | grep -qx 'role:master' && exit 0",
        "echo \"$repl\" | grep -qx 'master_link_status:up'",
        "echo \"$repl\" | grep -qx 'master_sync_in_progress:0'",
        "",
    ].join("\n");
}

/**
 * The bootstrap Job's script, over `host:port` nodes. Waits for every node,
 * then creates the cluster only when no node knows another yet
 * (`cluster_known_nodes` is 1 everywhere). When the cluster exists it
 * succeeds without touching it — unless a listed node is still alone (the
 * StatefulSet grew): then it fails and says how to add it, because
 * resharding a live cluster is a decision for a person.
 */
export function redisBootstrapScript(opts: { nodes: string[]; replicasPerMaster: number }): string {
    return [
        "set -eu",
        `NODES="${opts.nodes.join(" ")}"`,
        "known() { redis-cli -h \"${1%:*}\" -p \"${1##*:}\" cluster info | tr -d '\\r' | awk -F: '/^cluster_known_nodes:/ {print $2}'; }",
        "for n in $NODES; do",
        "  until [ \"$(redis-cli -h \"${n%:*}\" -p \"${n##*:}\" ping 2>/dev/null | tr -d '\\r')\" = \"PONG\" ]; do echo \"waiting for $n\"; sleep 2; done",
        "done",
        "formed=0; alone=''",
        "for n in $NODES; do",
        "  if [ \"$(known \"$n\")\" -gt 1 ]; then formed=1; else alone=\"$alone $n\"; fi",
        "done",
        "if [ \"$formed\" = 1 ]; then",
        "  if [ -n \"$alone\" ]; then",
        "    echo \"cluster exists but these nodes are not in it:$alone\" >&2",
        "    echo \"add each with: redis-cli --cluster add-node <new host:port> <member host:port> [--cluster-slave], then --cluster rebalance\" >&2",
        "    exit 1",
        "  fi",
        "  echo 'cluster already exists; nothing to do'",
        "  exit 0",
        "fi",
        // redis-cli --cluster wants IP addresses; the nodes announce their hostnames to clients afterwards.
        "addrs=''",
        "for n in $NODES; do addrs=\"$addrs $(getent hosts \"${n%:*}\" | awk '{print $1; exit}'):${n##*:}\"; done",
        `redis-cli --cluster create $addrs --cluster-replicas ${opts.replicasPerMaster} --cluster-yes`,
        "",
    ].join("\n");
}

/** A Redis Cluster; clients use `seedNodes` and the password Secret named by `passwordSecretName`. */
export class RedisCluster extends pulumi.ComponentResource {
    /** Comma-separated `host:port` of every pod's stable DNS name — `REDIS_CLUSTER_NODES`. */
    public readonly seedNodes: pulumi.Output<string>;
    /** Name of the Secret in the client namespace holding `REDIS_PASSWORD`. */
    public readonly passwordSecretName: pulumi.Output<string>;
    /** Name of the password Secret in the cluster's own namespace. */
    public readonly serverSecretName: pulumi.Output<string>;
    /** Client port (6379). */
    public readonly port: pulumi.Output<number>;

    constructor(name: string, args: RedisClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        // Validate before registering anything: bad args leave no trace in the stack.
        const a = normalizeRedisArgs(name, args);
        super("noa:data:RedisCluster", name, {}, opts);
        const ns = a.namespace;
        const headlessName = `${name}-headless`;
        const role = roleLabels("redis", name, "node");
        const bootstrap = roleLabels("redis", name, "bootstrap");
        const hosts = Array.from({ length: a.pods }, (_, i) => podFqdn(name, i, headlessName, ns));

        // A new password mid-life means a rolling restart where old and new pods cannot authenticate to each other.
        const password = new random.RandomPassword(`${name}-password`, { length: 40, special: false }, { parent: this, protect: a.protect });
        const serverSecret = new k8s.core.v1.Secret(`${name}-server-auth`, {
            metadata: { name: `${name}-server-auth`, namespace: ns, labels: role.labels },
            type: "Opaque",
            stringData: pulumi.secret({ REDIS_PASSWORD: password.result }),
        }, { parent: this });
        const config = new k8s.core.v1.ConfigMap(`${name}-config`, {
            metadata: { namespace: ns, labels: role.labels },
            data: { "redis.conf": redisConf(a) },
        }, { parent: this });

        const headless = new k8s.core.v1.Service(headlessName, {
            metadata: { name: headlessName, namespace: ns, labels: role.labels },
            spec: {
                clusterIP: "None",
                // Members must resolve each other before they are ready (a cluster is ready only once formed).
                publishNotReadyAddresses: true,
                selector: role.selector,
                ports: [
                    { name: "redis", port: REDIS_PORT, targetPort: REDIS_PORT },
                    { name: "cluster-bus", port: REDIS_BUS_PORT, targetPort: REDIS_BUS_PORT },
                    { name: "metrics", port: REDIS_METRICS_PORT, targetPort: REDIS_METRICS_PORT },
                ],
            },
        }, { parent: this });

        const passwordEnv = { name: "REDIS_PASSWORD", valueFrom: { secretKeyRef: { name: serverSecret.metadata.name, key: "REDIS_PASSWORD" } } };
        // redis-cli reads REDISCLI_AUTH, so the password never appears in a process list.
        const cliAuthEnv = { name: "REDISCLI_AUTH", valueFrom: { secretKeyRef: { name: serverSecret.metadata.name, key: "REDIS_PASSWORD" } } };
        const statefulSet = new k8s.apps.v1.StatefulSet(name, {
            metadata: { name, namespace: ns, labels: role.labels },
            spec: {
                serviceName: headless.metadata.name,
                replicas: a.pods,
                podManagementPolicy: "Parallel",
                selector: { matchLabels: role.selector },
                persistentVolumeClaimRetentionPolicy: RETAIN_CLAIMS,
                template: {
                    metadata: { labels: role.labels },
                    spec: {
                        affinity: spreadAffinity(role.selector),
                        nodeSelector: a.nodeSelector,
                        securityContext: { runAsUser: REDIS_UID, runAsGroup: REDIS_UID, runAsNonRoot: true, fsGroup: REDIS_UID, fsGroupChangePolicy: "OnRootMismatch", seccompProfile: { type: "RuntimeDefault" } },
                        terminationGracePeriodSeconds: 30,
                        containers: [{
                            name: "redis",
                            image: a.image,
                            command: ["sh", "-c", redisStartScript()],
                            ports: [
                                { name: "redis", containerPort: REDIS_PORT },
                                { name: "cluster-bus", containerPort: REDIS_BUS_PORT },
                            ],
                            env: [
                                { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                                { name: "POD_FQDN", value: `$(POD_NAME).${headlessName}.${ns}.svc.cluster.local` },
                                passwordEnv,
                                cliAuthEnv,
                            ],
                            resources: resources(a.node),
                            readinessProbe: { exec: { command: ["sh", "-c", redisReadinessScript()] }, periodSeconds: 5, timeoutSeconds: 3 },
                            livenessProbe: { exec: { command: ["sh", "-c", "redis-cli -p " + REDIS_PORT + " ping | grep -q PONG"] }, initialDelaySeconds: 30, periodSeconds: 15, timeoutSeconds: 5, failureThreshold: 4 },
                            securityContext: RESTRICTED_CONTAINER,
                            volumeMounts: [
                                { name: "data", mountPath: "/data" },
                                { name: "config", mountPath: "/etc/redis", readOnly: true },
                                { name: "run", mountPath: "/run/redis" },
                            ],
                        }, {
                            name: "exporter",
                            image: a.exporterImage,
                            ports: [{ name: "metrics", containerPort: REDIS_METRICS_PORT }],
                            env: [{ name: "REDIS_ADDR", value: `redis://127.0.0.1:${REDIS_PORT}` }, passwordEnv],
                            resources: { requests: { cpu: "10m", memory: "24Mi" }, limits: { cpu: "200m", memory: "64Mi" } },
                            securityContext: RESTRICTED_CONTAINER,
                            readinessProbe: { httpGet: { path: "/health", port: REDIS_METRICS_PORT }, periodSeconds: 30 },
                            livenessProbe: { httpGet: { path: "/health", port: REDIS_METRICS_PORT }, periodSeconds: 60, failureThreshold: 5 },
                        }],
                        volumes: [
                            { name: "config", configMap: { name: config.metadata.name } },
                            { name: "run", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
                        ],
                    },
                },
                volumeClaimTemplates: [dataClaim(a.storageClassName, a.node.storage)],
            },
        }, statefulSetOptions(this, a.protect));

        new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, {
            metadata: { namespace: ns, labels: role.labels },
            spec: { maxUnavailable: 1, selector: { matchLabels: role.selector } },
        }, { parent: this });

        const bootstrapDeadlineSeconds = 1200;
        new k8s.batch.v1.Job(`${name}-bootstrap`, {
            // Replaced when unready: after a failed run (or the deliberate exit of a scale-up, which the
            // operator finishes by hand) the next up runs it again instead of awaiting the failed Job.
            metadata: { namespace: ns, labels: bootstrap.labels, annotations: { ...REPLACE_UNREADY_ANNOTATIONS } },
            spec: {
                backoffLimit: 6,
                activeDeadlineSeconds: bootstrapDeadlineSeconds,
                template: {
                    metadata: { labels: bootstrap.labels },
                    spec: {
                        restartPolicy: "OnFailure",
                        securityContext: { runAsUser: REDIS_UID, runAsGroup: REDIS_UID, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
                        containers: [{
                            name: "bootstrap",
                            image: a.image,
                            command: ["sh", "-c", redisBootstrapScript({ nodes: hosts.map((h) => `${h}:${REDIS_PORT}`), replicasPerMaster: a.replicasPerMaster })],
                            env: [cliAuthEnv],
                            securityContext: RESTRICTED_CONTAINER,
                            resources: { requests: { cpu: "50m", memory: "32Mi" }, limits: { cpu: "250m", memory: "64Mi" } },
                        }],
                    },
                },
            },
        }, { parent: this, dependsOn: [statefulSet], customTimeouts: jobAwaitTimeouts(bootstrapDeadlineSeconds) });

        new k8s.networking.v1.NetworkPolicy(`${name}-ingress`, {
            metadata: { namespace: ns, labels: role.labels },
            spec: {
                podSelector: { matchLabels: role.selector },
                policyTypes: ["Ingress"],
                ingress: [
                    { from: [namespacePeer(a.clientNamespace)], ports: [{ protocol: "TCP", port: REDIS_PORT }] },
                    {
                        from: [
                            { podSelector: { matchLabels: role.selector } },
                            { podSelector: { matchLabels: bootstrap.selector } },
                        ],
                        ports: [{ protocol: "TCP", port: REDIS_PORT }, { protocol: "TCP", port: REDIS_BUS_PORT }],
                    },
                    { from: [namespacePeer(a.metricsNamespace)], ports: [{ protocol: "TCP", port: REDIS_METRICS_PORT }] },
                ],
            },
        }, { parent: this });

        storeServiceMonitor(`${name}-metrics`, ns, role.labels, { matchLabels: role.selector }, "metrics", a.serviceMonitor, this);

        const clientSecret = new k8s.core.v1.Secret(`${name}-client-auth`, {
            metadata: { name: a.passwordSecretName, namespace: a.clientNamespace, labels: role.labels },
            type: "Opaque",
            stringData: pulumi.secret({ REDIS_PASSWORD: password.result }),
        }, { parent: this });

        this.seedNodes = statefulSet.metadata.apply(() => hosts.map((h) => `${h}:${REDIS_PORT}`).join(","));
        this.passwordSecretName = clientSecret.metadata.name;
        this.serverSecretName = serverSecret.metadata.name;
        this.port = pulumi.output(REDIS_PORT);
        this.registerOutputs({
            seedNodes: this.seedNodes,
            passwordSecretName: this.passwordSecretName,
            serverSecretName: this.serverSecretName,
            port: this.port,
        });
    }
}
