/**
 * The components' own argument checks, run on the stack config before the
 * program registers any resource.
 *
 * `loadConfig` checks types, ranges and the relations between keys; each
 * component then checks its args again as it is constructed (Kubernetes label
 * syntax, a store's minimum memory, an ARN's exact shape). Components are
 * constructed in dependency order, so a value only a later component rejects
 * would fail the program after the VPC and the cluster are registered — on
 * a real `up`, after they are being created. The preflight builds every
 * component's args exactly as the program does (the same builder functions),
 * with placeholders for what earlier resources would provide, and runs each
 * component's `normalize*Args` on them.
 */
import { normalizeEksClusterArgs } from "@noa/components/cluster";
import { normalizeCitusArgs, normalizeRedisArgs } from "@noa/components/data";
import { normalizeAlbIngressArgs } from "@noa/components/ingress";
import { normalizeIstioMeshArgs } from "@noa/components/mesh";
import { normalizeRabbitMqArgs } from "@noa/components/messaging";
import { normalizeVpcArgs } from "@noa/components/network";
import { normalizeObservabilityArgs } from "@noa/components/observability";
import { normalizeAppBucketArgs } from "@noa/components/storage";
import { ConfigError, type NoaConfig } from "./config";
import { CITUS_NAME, DATA_NAMESPACE, dataStoreArgs, RABBITMQ_NAME, REDIS_NAME } from "./data";
import { albIngressArgs, appBucketArgs } from "./edge";
import { clusterNameOf, eksClusterArgs, vpcArgs } from "./foundation";
import { istioMeshArgs, observabilityArgs } from "./runtime";

/** Stand-ins for provider-computed values; the checks never look inside them. */
const PLACEHOLDER = {
    oidcProviderArn: "arn:aws:iam::000000000000:oidc-provider/oidc.eks.preflight.amazonaws.com/id/PREFLIGHT",
    oidcIssuerUrl: "https://oidc.eks.preflight.amazonaws.com/id/PREFLIGHT",
    vpcId: "vpc-preflight",
    storageClassName: "gp3-encrypted",
};

/** Throws a `ConfigError` naming the stack setting behind each component's complaint. */
export function preflight(config: NoaConfig, ctx: { stack: string }): void {
    const problems: string[] = [];
    const check = (setting: string, validate: () => unknown) => {
        try {
            validate();
        } catch (err) {
            problems.push(`noa:${setting}: ${(err as Error).message}`);
        }
    };
    const clusterName = clusterNameOf(ctx.stack);
    check("network", () => normalizeVpcArgs(`noa-${ctx.stack}-net`, vpcArgs(config, ctx)));
    const zones = Array.from({ length: config.network.azCount }, (_, i) => `subnet-preflight-${i}`);
    check("cluster", () => normalizeEksClusterArgs(clusterName, eksClusterArgs(config, ctx, { subnetIds: zones, zoneSubnetIds: zones })));
    check("storage", () => normalizeAppBucketArgs(`noa-${ctx.stack}-objects`, appBucketArgs(config, { cluster: PLACEHOLDER }, ctx)));
    check("mesh", () => normalizeIstioMeshArgs(`noa-${ctx.stack}-mesh`, istioMeshArgs(config)));
    check("observability", () => normalizeObservabilityArgs(`noa-${ctx.stack}-observability`, observabilityArgs(config)));
    const stores = dataStoreArgs(config, { namespaces: { data: DATA_NAMESPACE, services: "noa" }, storageClassName: PLACEHOLDER.storageClassName, monitoringReady: [] });
    check("citus", () => normalizeCitusArgs(CITUS_NAME, stores.citus));
    check("redis", () => normalizeRedisArgs(REDIS_NAME, stores.redis));
    check("rabbitmq", () => normalizeRabbitMqArgs(RABBITMQ_NAME, stores.rabbitmq));
    check("ingress", () => normalizeAlbIngressArgs(`noa-${ctx.stack}-alb`, albIngressArgs(config, { cluster: { clusterName, ...PLACEHOLDER }, vpc: PLACEHOLDER })));
    if (problems.length > 0) throw new ConfigError(problems);
}
