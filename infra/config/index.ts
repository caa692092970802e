/**
 * Stack config → one typed, validated object.
 *
 * `loadConfig` is pure: it takes the raw config map exactly as the Pulumi
 * runtime holds it (`pulumi.runtime.allConfig()`: namespaced keys, structured
 * values as JSON strings), applies defaults with `??`, and reports every
 * problem at once — full key path and value — before any resource exists.
 */
import { ClusterConfig, readCluster } from "./cluster";
import { CitusConfig, RabbitMqConfig, readCitus, readRabbitMq, readRedis, RedisConfig } from "./data";
import {
    ImagesConfig, IngressConfig, MeshConfig, ObservabilityConfig, readImages, readIngress, readMesh,
    readObservability, readStorage, StorageConfig,
} from "./edge";
import { NetworkConfig, readNetwork } from "./network";
import { AutoscalingConfig, readAutoscaling, readServices, ServiceConfig, ServiceName } from "./services";
import { AWS_REGION_PATTERN } from "@noa/components/shared";
import { ConfigError, Reader } from "./validate";

export { ConfigError } from "./validate";
export * from "./cluster";
export * from "./data";
export * from "./edge";
export * from "./network";
export * from "./services";

export const NAMESPACE = "noa";

/** Everything a stack decides. Code holds no per-environment number. */
export interface NoaConfig {
    /** The stack's environment; selects the policy pack's thresholds. */
    environment: "dev" | "prod";
    /** AWS region (`aws:region`). */
    region: string;
    /** `protect`/`retainOnDelete` on stateful resources (KMS keys, bucket, volumes, stateful sets). */
    protectStateful: boolean;
    network: NetworkConfig;
    cluster: ClusterConfig;
    services: Record<ServiceName, ServiceConfig>;
    autoscaling: AutoscalingConfig;
    citus: CitusConfig;
    redis: RedisConfig;
    rabbitmq: RabbitMqConfig;
    ingress: IngressConfig;
    storage: StorageConfig;
    images: ImagesConfig;
    mesh: MeshConfig;
    observability: ObservabilityConfig;
}

/** Every `noa:` key this program reads; anything else is a typo or a stale key. */
const SECTIONS = [
    "environment", "protectStateful", "network", "cluster", "services", "autoscaling", "citus", "redis",
    "rabbitmq", "ingress", "storage", "images", "mesh", "observability",
] as const;

function parseValue(value: string): unknown {
    const trimmed = value.trim();
    if (trimmed.startsWith("{") || trimmed.startsWith("[") || trimmed === "true" || trimmed === "false" || /^-?\d+(\.\d+)?$/.test(trimmed)) {
        try {
            return JSON.parse(trimmed);
        } catch {
            return value;
        }
    }
    return value;
}

/**
 * Turns raw stack config into a `NoaConfig`, or throws a `ConfigError`
 * listing every problem as `noa:<path> (<value>) <what is wrong>`.
 */
export function loadConfig(raw: Record<string, string>): NoaConfig {
    const problems: string[] = [];
    const values: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(raw)) {
        if (!key.startsWith(`${NAMESPACE}:`)) continue;
        const section = key.slice(NAMESPACE.length + 1);
        if (!(SECTIONS as readonly string[]).includes(section)) {
            problems.push(`${key} is not a known setting (expected one of ${SECTIONS.map((s) => `${NAMESPACE}:${s}`).join(", ")})`);
            continue;
        }
        values[section] = parseValue(value);
    }
    const root = new Reader(problems, NAMESPACE, values, new Set(), ":");
    const section = (name: (typeof SECTIONS)[number]) => {
        if (values[name] === undefined) problems.push(`${NAMESPACE}:${name} is required`);
        return Reader.of(problems, `${NAMESPACE}:${name}`, values[name]);
    };

    const environment = root.oneOf("environment", ["dev", "prod"] as const);
    const protectStateful = root.bool("protectStateful");
    const region = raw["aws:region"];
    if (!region) problems.push(`aws:region is required`);
    else if (!AWS_REGION_PATTERN.test(region)) problems.push(`aws:region (${JSON.stringify(region)}) is not an AWS region name`);

    const config: NoaConfig = {
        environment,
        region: region ?? "",
        protectStateful,
        network: readNetwork(section("network")),
        cluster: readCluster(section("cluster")),
        services: readServices(section("services")),
        autoscaling: readAutoscaling(section("autoscaling")),
        citus: readCitus(section("citus")),
        redis: readRedis(section("redis")),
        rabbitmq: readRabbitMq(section("rabbitmq")),
        ingress: readIngress(section("ingress")),
        storage: readStorage(section("storage")),
        images: readImages(section("images")),
        mesh: readMesh(section("mesh")),
        observability: readObservability(section("observability")),
    };

    checkPlacement(config, problems);
    checkZonalGroups(config, problems);
    checkRegionalArns(config, problems);
    checkRequestsPerSecond(config, problems);
    checkSnapshotRegion(config, problems);
    if (problems.length > 0) throw new ConfigError(problems);
    return config;
}

/** The ALB can only use a certificate and a web ACL from its own region; another region's fails only when the controller reconciles. */
function checkRegionalArns(config: NoaConfig, problems: string[]): void {
    if (!config.region) return;
    for (const key of ["certificateArn", "wafAclArn"] as const) {
        const arn = config.ingress?.[key];
        const region = arn?.split(":")[3];
        if (arn !== undefined && region !== config.region) {
            problems.push(`noa:ingress.${key} (${JSON.stringify(arn)}) is in ${region}, not in the stack's aws:region (${config.region}): the ALB can only use one from its own region`);
        }
    }
}

/** Snapshot copies exist to survive a region's loss: another region than the stack's. */
function checkSnapshotRegion(config: NoaConfig, problems: string[]): void {
    const target = config.cluster?.volumeSnapshots?.copyToRegion;
    if (target !== undefined && target === config.region) {
        problems.push(`noa:cluster.volumeSnapshots.copyToRegion (${JSON.stringify(target)}) is the stack's own aws:region: copies must go to another region`);
    }
}

/** An HPA on requests per second reads them from Prometheus (prometheus-adapter), which needs the monitoring stack. */
function checkRequestsPerSecond(config: NoaConfig, problems: string[]): void {
    if (config.observability?.monitoring !== false) return;
    for (const [name, s] of Object.entries(config.services ?? {})) {
        if (s?.targetRequestsPerSecond !== undefined) {
            problems.push(`noa:services.${name}.targetRequestsPerSecond (${s.targetRequestsPerSecond}) needs noa:observability.monitoring (false) to be true: the requests-per-second metric comes from Prometheus`);
        }
    }
}

/** A zonal node group is one managed group per AZ: its totals must split evenly over `network.azCount`. */
function checkZonalGroups(config: NoaConfig, problems: string[]): void {
    const zones = config.network?.azCount;
    if (!zones) return;
    for (const [group, g] of Object.entries(config.cluster?.nodeGroups ?? {})) {
        if (!g?.zonal) continue;
        for (const key of ["minSize", "desiredSize", "maxSize"] as const) {
            if (g[key] % zones !== 0) {
                problems.push(`noa:cluster.nodeGroups.${group}.${key} (${g[key]}) must divide evenly over noa:network.azCount (${zones}) for a zonal group`);
            }
        }
    }
}

/**
 * Stateful pods are spread one per node (hard host anti-affinity) on the
 * on-demand base group: more of them than that group can ever have nodes
 * would leave pods Pending forever.
 */
function checkPlacement(config: NoaConfig, problems: string[]): void {
    const baseMax = config.cluster.nodeGroups?.base?.maxSize;
    if (!baseMax) return;
    const redisPods = config.redis.masters * (1 + config.redis.replicasPerMaster);
    if (redisPods > baseMax) {
        problems.push(`noa:redis (${config.redis.masters} masters × ${1 + config.redis.replicasPerMaster} = ${redisPods} pods) exceeds noa:cluster.nodeGroups.base.maxSize (${baseMax}): one Redis pod per node cannot be placed`);
    }
    if (config.rabbitmq.nodes > baseMax) {
        problems.push(`noa:rabbitmq.nodes (${config.rabbitmq.nodes}) exceeds noa:cluster.nodeGroups.base.maxSize (${baseMax}): one RabbitMQ node per host cannot be placed`);
    }
    if (config.citus.workers > baseMax) {
        problems.push(`noa:citus.workers (${config.citus.workers}) exceeds noa:cluster.nodeGroups.base.maxSize (${baseMax}): one Citus worker per host cannot be placed`);
    }
}
