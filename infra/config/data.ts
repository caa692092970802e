import { checkRequestWithinLimit, Reader } from "./validate";

/** Resources and volume of one stateful pod role. */
export interface StatefulPodConfig {
    cpuRequest: string;
    cpuLimit: string;
    memoryRequest: string;
    memoryLimit: string;
    /** PersistentVolumeClaim size (a Kubernetes quantity, e.g. 100Gi). */
    storage: string;
}

/** `noa:citus` — the sharded PostgreSQL cluster. */
export interface CitusConfig {
    /** Number of Citus workers (at least 1; prod ≥ 2, the policy pack checks). */
    workers: number;
    coordinator: StatefulPodConfig;
    worker: StatefulPodConfig;
    /** PgBouncer replicas in front of the coordinator (at least 2). */
    pgbouncerReplicas: number;
}

/** `noa:redis` — the Redis Cluster. */
export interface RedisConfig {
    /** Masters (hash-slot owners): at least 3, Redis Cluster's minimum. */
    masters: number;
    /** Replicas per master (seed prod: 1 → 3 masters + 3 replicas). */
    replicasPerMaster: number;
    node: StatefulPodConfig;
}

/** `noa:rabbitmq` — the RabbitMQ cluster. */
export interface RabbitMqConfig {
    /** Nodes: 1, or an odd number ≥ 3 (quorum queues need a majority). */
    nodes: number;
    node: StatefulPodConfig;
    /** Quorum queue delivery limit before dead-lettering (default 5). */
    deliveryLimit: number;
}

export function readStatefulPod(r: Reader): StatefulPodConfig {
    const out = {
        cpuRequest: r.quantity("cpuRequest"),
        cpuLimit: r.quantity("cpuLimit"),
        memoryRequest: r.quantity("memoryRequest"),
        memoryLimit: r.quantity("memoryLimit"),
        storage: r.quantity("storage"),
    };
    // A limit below its request is rejected by the API server only when the StatefulSet is applied, after the volumes exist.
    checkRequestWithinLimit(r, "cpuRequest", out.cpuRequest, "cpuLimit", out.cpuLimit);
    checkRequestWithinLimit(r, "memoryRequest", out.memoryRequest, "memoryLimit", out.memoryLimit);
    r.rejectUnknown();
    return out;
}

export function readCitus(r: Reader): CitusConfig {
    const workers = r.int("workers", { min: 1, max: 64 });
    const coordinator = readStatefulPod(r.object("coordinator"));
    const worker = readStatefulPod(r.object("worker"));
    const pgbouncerReplicas = r.int("pgbouncerReplicas", { min: 2, default: 2 });
    r.rejectUnknown();
    return { workers, coordinator, worker, pgbouncerReplicas };
}

export function readRedis(r: Reader): RedisConfig {
    const masters = r.int("masters", { min: 3, max: 100 });
    const replicasPerMaster = r.int("replicasPerMaster", { min: 0, max: 5 });
    const node = readStatefulPod(r.object("node"));
    r.rejectUnknown();
    return { masters, replicasPerMaster, node };
}

export function readRabbitMq(r: Reader): RabbitMqConfig {
    const nodes = r.int("nodes", { min: 1, max: 9 });
    if (nodes > 1 && nodes % 2 === 0) r.problem("nodes", "must be 1 or odd: an even-sized cluster cannot keep a quorum when split in half");
    const node = readStatefulPod(r.object("node"));
    const deliveryLimit = r.int("deliveryLimit", { min: 1, max: 100, default: 5 });
    r.rejectUnknown();
    return { nodes, node, deliveryLimit };
}
