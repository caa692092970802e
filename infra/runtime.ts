/**
 * The service runtime on Kubernetes: the mesh (wiring step 3), then
 * observability and one MicroService per service (step 6). Composition only —
 * the components own every resource decision; this maps stack config and the
 * other areas' outputs onto their args, following services/README.md (the
 * env/secret contract with the services).
 *
 * Order inside step 6: KEDA and kube-prometheus-stack (their CRDs), the JWT
 * Secret, the migrations Job (after the data Secrets exist), then the
 * services, each waiting for all of that.
 */
import { GeneratedSecret, MicroService, MigrationJob, type MicroServiceArgs } from "@noa/components/app";
import { IstioMesh, type IstioMeshArgs } from "@noa/components/mesh";
import { Observability, type ObservabilityArgs } from "@noa/components/observability";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { NoaConfig, ServiceConfig, ServiceName } from "./config";
import { SERVICE_NAMES } from "./config";
import { DATA_NAMESPACE, REDIS_NAME } from "./data";

/** Connection Secrets the data components write into the services' namespace (services/README.md). */
export const CONNECTION_SECRETS = {
    database: { secret: "noa-citus-app", key: "DATABASE_URL" },
    redis: { secret: "noa-redis-auth", key: "REDIS_PASSWORD" },
    amqp: { secret: "noa-rabbitmq-app", key: "AMQP_URL" },
    jwt: { secret: "noa-jwt", key: "JWT_SECRET" },
} as const;

/** The job queues the worker consumes; KEDA scales it on their depth (services/README.md). */
export const JOB_QUEUES = ["jobs.email", "jobs.webhook", "jobs.report", "jobs.export", "jobs.analytics"];

/** Data-store client ports (PgBouncer, Redis, AMQP): kept out of the sidecars (see IstioMesh). */
export const DATA_PORTS = [5432, 6379, 5672];

/** Who may call whom over HTTP: the gateway is the only caller of the API services. */
export const CALLERS: Record<ServiceName, string[]> = {
    gateway: [],
    users: ["gateway"],
    workflows: ["gateway"],
    storage: ["gateway"],
    worker: [],
};

/** Which backing stores each service uses (services/README.md). */
const USES: Record<ServiceName, { database: boolean; redis: boolean; amqp: boolean; jwt: boolean }> = {
    gateway: { database: false, redis: true, amqp: false, jwt: true },
    users: { database: true, redis: true, amqp: false, jwt: true },
    workflows: { database: true, redis: true, amqp: true, jwt: false },
    storage: { database: true, redis: false, amqp: false, jwt: false },
    worker: { database: true, redis: false, amqp: true, jwt: false },
};

/** Step 3: namespaces, Istio and the ingress gateway. */
export function deployMesh(config: NoaConfig, deps: { provider: k8s.Provider }, ctx: { stack: string }): IstioMesh {
    return new IstioMesh(`noa-${ctx.stack}-mesh`, istioMeshArgs(config), { provider: deps.provider });
}

/** The IstioMesh component's args (also checked by the preflight, before any resource). */
export function istioMeshArgs(config: NoaConfig): IstioMeshArgs {
    return {
        istioVersion: config.mesh.istioVersion,
        mtlsMode: config.mesh.mtlsMode,
        accessLogging: config.mesh.accessLogging,
        numTrustedProxies: config.mesh.numTrustedProxies,
        gatewayMinReplicas: config.mesh.ingressGateway.minReplicas,
        gatewayMaxReplicas: config.mesh.ingressGateway.maxReplicas,
        ingressHosts: [config.ingress.domain],
    };
}

/** Step 6a: monitoring, KEDA, and prometheus-adapter exactly when an HPA scales on requests per second. */
export function deployObservability(config: NoaConfig, deps: { provider: k8s.Provider }, ctx: { stack: string }): Observability {
    return new Observability(`noa-${ctx.stack}-observability`, observabilityArgs(config), { provider: deps.provider });
}

/** The Observability component's args (also checked by the preflight, before any resource). */
export function observabilityArgs(config: NoaConfig): ObservabilityArgs {
    const o = config.observability;
    return {
        monitoring: o.monitoring,
        keda: SERVICE_NAMES.some((s) => config.services[s].autoscaler === "keda"),
        prometheusAdapter: usesRequestsPerSecond(config),
        retentionDays: o.retentionDays,
        prometheusStorage: o.prometheusStorage,
        alerts: { queueBacklogMessages: o.queueBacklogMessages, queueBacklogMinutes: o.queueBacklogMinutes, dataNamespace: DATA_NAMESPACE, redisStatefulSet: REDIS_NAME },
    };
}

/** True when some HPA has a requests-per-second target (it then needs prometheus-adapter). */
export function usesRequestsPerSecond(config: NoaConfig): boolean {
    return SERVICE_NAMES.some((s) => config.services[s].autoscaler === "hpa" && config.services[s].targetRequestsPerSecond !== undefined);
}

/** What the services need from the data area (step 4). */
export interface RuntimeData {
    /** Redis Cluster seed nodes (`host:port,…`) → `REDIS_CLUSTER_NODES`. */
    readonly redisSeedNodes: pulumi.Input<string>;
    /** Resources that put the connection Secrets into the services' namespace; the services wait for them. */
    readonly ready?: pulumi.Resource[];
}

/** What the services need from the edge (step 2). */
export interface RuntimeEdge {
    /** Image by digest per service, plus `migrate` (ServiceImage `repoDigest`). */
    readonly images: Record<ServiceName | "migrate", pulumi.Input<string>>;
    /** The application bucket's name → `S3_BUCKET`. */
    readonly bucketName: pulumi.Input<string>;
    /** The storage service's IRSA role (AppBucket). */
    readonly storageRoleArn: pulumi.Input<string>;
}

export interface Runtime {
    readonly services: Record<ServiceName, MicroService>;
    readonly migrations: MigrationJob;
    /** The `noa-jwt` Secret (`JWT_SECRET`), generated once per stack. */
    readonly jwt: GeneratedSecret;
}

/** The environment of one service per services/README.md (secrets as `secretKeyRef`s, never values). */
export function serviceEnvironment(
    service: ServiceName,
    config: NoaConfig,
    deps: { namespace: string; redisSeedNodes: pulumi.Input<string>; bucketName: pulumi.Input<string> },
): Pick<MicroServiceArgs, "env" | "secretEnv"> {
    const uses = USES[service];
    const env: Record<string, pulumi.Input<string>> = { LOG_LEVEL: "info" };
    const secretEnv: Record<string, { secret: string; key: string }> = {};
    if (uses.database) {
        env.DATABASE_POOL_MAX = "10";
        secretEnv.DATABASE_URL = CONNECTION_SECRETS.database;
    }
    if (uses.redis) {
        env.REDIS_CLUSTER_NODES = deps.redisSeedNodes;
        secretEnv.REDIS_PASSWORD = CONNECTION_SECRETS.redis;
    }
    if (uses.amqp) secretEnv.AMQP_URL = CONNECTION_SECRETS.amqp;
    if (uses.jwt) {
        secretEnv.JWT_SECRET = CONNECTION_SECRETS.jwt;
        env.JWT_ISSUER = "noa";
        env.JWT_AUDIENCE = "noa";
    }
    if (service === "users") env.JWT_TTL_SECONDS = "3600";
    if (service === "gateway") {
        const upstreams = ["users", "workflows", "storage"] as const;
        for (const u of upstreams) env[`${u.toUpperCase()}_URL`] = `http://${u}.${deps.namespace}.svc.cluster.local`;
        // The gateway gives up no earlier than the mesh does for its slowest upstream.
        env.UPSTREAM_TIMEOUT_MS = String(Math.max(...upstreams.map((u) => config.services[u].timeoutMs)));
        // X-Forwarded-For hops: the proxies in front of the ingress gateway (the ALB) plus the ingress gateway
        // itself; without it every client would share one rate-limit key (services/gateway/src/client-ip.ts).
        env.TRUSTED_PROXY_HOPS = String(config.mesh.numTrustedProxies + 1);
        // If Redis is unreachable each replica limits alone with points / N: N = the replicas always running.
        env.RATE_LIMIT_FALLBACK_REPLICAS = String(config.services.gateway.minReplicas);
    }
    if (service === "storage") {
        env.S3_BUCKET = deps.bucketName;
        env.AWS_REGION = config.region;
    }
    return { env, secretEnv };
}

function autoscaler(service: ServiceName, s: ServiceConfig, config: NoaConfig): Pick<MicroServiceArgs, "hpa" | "keda"> {
    if (s.autoscaler === "keda") {
        return {
            keda: {
                queues: JOB_QUEUES,
                queueLengthTarget: s.queueLengthTarget,
                connectionSecret: { name: CONNECTION_SECRETS.amqp.secret, key: CONNECTION_SECRETS.amqp.key },
                behavior: config.autoscaling,
            },
        };
    }
    return {
        hpa: {
            targetCpuUtilization: s.targetCpuUtilization,
            targetMemoryUtilization: s.targetMemoryUtilization,
            targetRequestsPerSecond: s.targetRequestsPerSecond,
            behavior: config.autoscaling,
        },
    };
}

/** Step 6b: the JWT Secret, the migrations Job and one MicroService per service. */
export function deployServices(
    config: NoaConfig,
    deps: { provider: k8s.Provider; mesh: IstioMesh; observability: Observability; data: RuntimeData; edge: RuntimeEdge },
    ctx: { stack: string },
): Runtime {
    const namespace = deps.mesh.namespaceNames.services;
    const opts = { provider: deps.provider };
    const meshReady = deps.mesh.ready;
    const dataReady = deps.data.ready ?? [];

    const jwt = new GeneratedSecret(`noa-${ctx.stack}-jwt`, {
        namespace,
        secretName: CONNECTION_SECRETS.jwt.secret,
        key: CONNECTION_SECRETS.jwt.key,
        length: 64,
        dependsOn: meshReady,
    }, opts);

    const migrations = new MigrationJob(`noa-${ctx.stack}-migrate`, {
        namespace,
        image: deps.edge.images.migrate,
        databaseUrlSecret: { name: CONNECTION_SECRETS.database.secret, key: CONNECTION_SECRETS.database.key },
        dependsOn: [...meshReady, ...dataReady],
    }, opts);

    const services = {} as Record<ServiceName, MicroService>;
    for (const service of SERVICE_NAMES) {
        const s = config.services[service];
        const ingress = service === "gateway";
        services[service] = new MicroService(`noa-${ctx.stack}-${service}`, {
            serviceName: service,
            namespace,
            image: deps.edge.images[service],
            ...(s.canaryImage ? { canary: { image: s.canaryImage, weight: s.canaryWeight } } : {}),
            minReplicas: s.minReplicas,
            maxReplicas: s.maxReplicas,
            cpuRequest: s.cpuRequest,
            cpuLimit: s.cpuLimit,
            memoryRequest: s.memoryRequest,
            memoryLimit: s.memoryLimit,
            ...autoscaler(service, s, config),
            ...serviceEnvironment(service, config, { namespace, redisSeedNodes: deps.data.redisSeedNodes, bucketName: deps.edge.bucketName }),
            ...(service === "storage" ? { serviceAccountRoleArn: deps.edge.storageRoleArn } : {}),
            callers: CALLERS[service],
            ...(ingress
                ? {
                    ingressGateway: {
                        namespace: deps.mesh.namespaceNames.ingress,
                        podLabels: deps.mesh.ingressGatewayPodLabels,
                        gateway: deps.mesh.gatewayRef,
                        hosts: [config.ingress.domain],
                    },
                }
                : {}),
            monitoring: { enabled: config.observability.monitoring },
            excludeOutboundPorts: DATA_PORTS,
            // The worker delivers webhooks to arbitrary endpoints, http or https.
            internetEgressPorts: service === "worker" ? [80, 443] : [443],
            traffic: { timeoutMs: s.timeoutMs, retryAttempts: s.retryAttempts, perTryTimeoutMs: s.perTryTimeoutMs },
            dependsOn: [...meshReady, ...deps.observability.ready, ...dataReady, jwt, migrations.job],
        }, opts);
    }
    return { services, migrations, jwt };
}
