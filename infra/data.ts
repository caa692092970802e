/**
 * Wiring step 4: the data stores — Citus behind PgBouncer, the Redis Cluster
 * and RabbitMQ — in the data namespace, each writing its connection Secret
 * into the services' namespace (services/README.md is the contract).
 * Composition only: stack config onto component args.
 */
import { CitusCluster, type CitusClusterArgs, RedisCluster, type RedisClusterArgs } from "@noa/components/data";
import { RabbitMqCluster, type RabbitMqClusterArgs } from "@noa/components/messaging";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { NoaConfig } from "./config";

/** Namespace of the data stores; the alert rules and the mesh's namespaces use the same name. */
export const DATA_NAMESPACE = "noa-data";
/** The Redis Cluster component, and so its StatefulSet (the alert rules watch it by name). */
export const REDIS_NAME = "noa-redis";
export const CITUS_NAME = "noa-citus";
export const RABBITMQ_NAME = "noa-rabbitmq";

export interface DataDependencies {
    /** The cluster's Kubernetes provider (EksCluster `provider`). */
    readonly provider: k8s.Provider;
    /** The encrypted StorageClass the cluster created (`gp3-encrypted`); undefined when it created none. */
    readonly storageClassName: string | undefined;
    /** Namespace names: the stores run in `data`, their connection Secrets go to `services`. */
    readonly namespaces: { readonly data: string; readonly services: string };
    /** What must exist first: the mesh's Namespace objects. */
    readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
    /** The monitoring stack (Observability `ready`): ServiceMonitors for the stores wait for its CRDs. Omitted: no ServiceMonitors. */
    readonly monitoringReady?: pulumi.Resource[];
    /** Namespaces that read queue depth over AMQP (KEDA's operator, when the worker is scaled by KEDA). Default none. */
    readonly queueReaderNamespaces?: string[];
}

export interface Data {
    readonly citus: CitusCluster;
    readonly redis: RedisCluster;
    readonly rabbitmq: RabbitMqCluster;
    /** Redis Cluster seed nodes (`host:port,…`) → `REDIS_CLUSTER_NODES`. */
    readonly redisSeedNodes: pulumi.Output<string>;
    /** Depend on these to start after the stores are up and their Secrets exist (the registration and bootstrap Jobs included). */
    readonly ready: pulumi.Resource[];
    /** The stack outputs of this area: addresses and Secret names, never a password. */
    readonly outputs: Record<string, unknown>;
}

/** The three stores' component args (also checked by the preflight, before any resource). */
export function dataStoreArgs(
    config: NoaConfig,
    deps: Pick<DataDependencies, "monitoringReady" | "queueReaderNamespaces" | "namespaces"> & { storageClassName: string },
): { citus: CitusClusterArgs; redis: RedisClusterArgs; rabbitmq: RabbitMqClusterArgs } {
    const base = config.cluster.nodeGroups.base;
    // Stateful pods live on the on-demand base group, one per node: its maxSize bounds every cluster's size.
    const placement = {
        namespace: deps.namespaces.data,
        clientNamespace: deps.namespaces.services,
        storageClassName: deps.storageClassName,
        maxSchedulableNodes: base.maxSize,
        nodeSelector: base.labels,
        protect: config.protectStateful,
    };
    const serviceMonitor = { enabled: config.observability.monitoring && deps.monitoringReady !== undefined, dependsOn: deps.monitoringReady };
    return {
        citus: {
            ...placement,
            workers: config.citus.workers,
            coordinator: config.citus.coordinator,
            worker: config.citus.worker,
            pgbouncerReplicas: config.citus.pgbouncerReplicas,
            serviceMonitor,
        },
        redis: {
            ...placement,
            masters: config.redis.masters,
            replicasPerMaster: config.redis.replicasPerMaster,
            node: config.redis.node,
            serviceMonitor,
        },
        rabbitmq: {
            ...placement,
            nodes: config.rabbitmq.nodes,
            node: config.rabbitmq.node,
            deliveryLimit: config.rabbitmq.deliveryLimit,
            queueReaderNamespaces: deps.queueReaderNamespaces ?? [],
            serviceMonitor,
        },
    };
}

/**
 * Component names are stack-free on purpose: they become the Kubernetes
 * object and DNS names services see (`noa-citus-pgbouncer.noa-data…`), and
 * each stack has its own cluster.
 */
export function deployData(config: NoaConfig, deps: DataDependencies): Data {
    if (!deps.storageClassName) {
        throw new Error("data: the cluster provides no encrypted StorageClass (noa:cluster storage class disabled); Citus, Redis and RabbitMQ volumes need one");
    }
    const args = dataStoreArgs(config, { ...deps, storageClassName: deps.storageClassName });
    const opts: pulumi.ComponentResourceOptions = { provider: deps.provider, dependsOn: deps.dependsOn };
    const citus = new CitusCluster(CITUS_NAME, args.citus, opts);
    const redis = new RedisCluster(REDIS_NAME, args.redis, opts);
    const rabbitmq = new RabbitMqCluster(RABBITMQ_NAME, args.rabbitmq, opts);

    return {
        citus,
        redis,
        rabbitmq,
        redisSeedNodes: redis.seedNodes,
        ready: [citus, redis, rabbitmq],
        outputs: {
            citus: { host: citus.host, port: citus.port, connectionSecret: citus.connectionSecretName },
            redis: { seedNodes: redis.seedNodes, passwordSecret: redis.passwordSecretName },
            rabbitmq: { host: rabbitmq.host, amqpPort: rabbitmq.amqpPort, connectionSecret: rabbitmq.connectionSecretName },
        },
    };
}
