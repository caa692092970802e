/**
 * Program-level assertions for the service runtime: the mesh, observability
 * and one MicroService per service, in the real program evaluated for dev and
 * prod under the offline harness; plus the runtime's own config rules.
 */
import { runPolicies } from "@noa/policy/offline";
import * as assert from "node:assert/strict";
import { Evaluation, evaluateStack, readStackConfig } from "../../scripts/offline/evaluate";
import type { Registration } from "../../scripts/offline/mocks";
import { ConfigError, loadConfig, type NoaConfig } from "../config";

const SERVICES = ["gateway", "users", "workflows", "storage", "worker"] as const;
const ofType = (ev: Evaluation, type: string) => ev.resources.filter((r) => r.type === type);
function one(ev: Evaluation, type: string, name: string): Registration {
    const found = ev.resources.filter((r) => r.type === type && r.name === name);
    assert.equal(found.length, 1, `exactly one ${type} ${name} (found ${found.length}: ${ofType(ev, type).map((r) => r.name).join(", ")})`);
    return found[0];
}
const childrenOf = (ev: Evaluation, parent: Registration) => ev.resources.filter((r) => r.parent === parent.urn);

describe("runtime: mesh, observability and services in the program", () => {
    let dev: Evaluation;
    let prod: Evaluation;
    before(async () => {
        dev = await evaluateStack("dev");
        prod = await evaluateStack("prod");
    });

    describe("IstioMesh", () => {
        it("prod: STRICT mesh-wide mTLS, Istio pinned to the stack's version, on the cluster's provider", () => {
            const mesh = one(prod, "noa:mesh:IstioMesh", "noa-prod-mesh");
            const pa = one(prod, "kubernetes:security.istio.io/v1:PeerAuthentication", "noa-prod-mesh-mtls");
            assert.equal(pa.parent, mesh.urn);
            assert.deepEqual([pa.inputs.metadata.namespace, pa.inputs.spec.mtls.mode], ["istio-system", "STRICT"]);
            const releases = childrenOf(prod, mesh).filter((r) => r.type === "kubernetes:helm.sh/v3:Release");
            assert.deepEqual(releases.map((r) => [r.inputs.chart, r.inputs.version]).sort(), [["base", "1.27.3"], ["cni", "1.27.3"], ["gateway", "1.27.3"], ["istiod", "1.27.3"]]);
            const provider = one(prod, "pulumi:providers:kubernetes", ofType(prod, "pulumi:providers:kubernetes")[0].name);
            assert.ok(releases.every((r) => r.provider?.startsWith(provider.urn)), "every release deploys through the EKS cluster's provider");
        });

        it("sizes the ingress gateway from noa:mesh.ingressGateway: prod at least one per AZ (3–10), dev 2–4", () => {
            const autoscaling = (ev: Evaluation) => one(ev, "kubernetes:helm.sh/v3:Release", `noa-${ev.stack}-mesh-gateway`).inputs.values.autoscaling;
            assert.deepEqual([autoscaling(prod).minReplicas, autoscaling(prod).maxReplicas], [3, 10]);
            assert.deepEqual([autoscaling(dev).minReplicas, autoscaling(dev).maxReplicas], [2, 4]);
        });

        it("dev: PERMISSIVE mTLS", () => {
            assert.equal(one(dev, "kubernetes:security.istio.io/v1:PeerAuthentication", "noa-dev-mesh-mtls").inputs.spec.mtls.mode, "PERMISSIVE");
        });

        it("binds the stack's public host on the ingress Gateway and exports where the ALB points", () => {
            const gw = one(prod, "kubernetes:networking.istio.io/v1:Gateway", "noa-prod-mesh-gateway-config").inputs;
            assert.deepEqual(gw.spec.servers[0].hosts, ["api.noa.example.com"]);
            assert.deepEqual(one(dev, "kubernetes:networking.istio.io/v1:Gateway", "noa-dev-mesh-gateway-config").inputs.spec.servers[0].hosts, ["dev.noa.example.com"]);
            assert.deepEqual(prod.outputs.ingressGateway, { namespace: "istio-ingress", service: "istio-ingressgateway", gateway: "istio-ingress/noa-gateway" });
        });

        it("creates the services' and the data stores' namespaces: injection on for noa, off for noa-data", () => {
            const ns = (name: string) => ofType(prod, "kubernetes:core/v1:Namespace").find((r) => r.inputs.metadata.name === name)!.inputs.metadata.labels;
            assert.deepEqual([ns("noa")["istio-injection"], ns("noa")["pod-security.kubernetes.io/enforce"]], ["enabled", "restricted"]);
            assert.deepEqual([ns("noa-data")["istio-injection"], ns("noa-data")["pod-security.kubernetes.io/enforce"]], ["disabled", "baseline"]);
        });
    });

    describe("Observability", () => {
        it("retention and volume per stack on the encrypted class; KEDA because the worker scales on queue depth; no adapter", () => {
            for (const [ev, retention, size] of [[prod, "15d", "100Gi"], [dev, "3d", "10Gi"]] as const) {
                const kps = one(ev, "kubernetes:helm.sh/v3:Release", `noa-${ev.stack}-observability-kube-prometheus-stack`).inputs;
                const spec = kps.values.prometheus.prometheusSpec;
                assert.deepEqual([spec.retention, spec.storageSpec.volumeClaimTemplate.spec.resources.requests.storage, spec.storageSpec.volumeClaimTemplate.spec.storageClassName],
                    [retention, size, "gp3-encrypted"], ev.stack);
                assert.equal(spec.serviceMonitorSelectorNilUsesHelmValues, false);
                assert.equal(one(ev, "kubernetes:helm.sh/v3:Release", `noa-${ev.stack}-observability-keda`).inputs.namespace, "keda");
                assert.equal(ofType(ev, "kubernetes:helm.sh/v3:Release").filter((r) => r.inputs.chart === "prometheus-adapter").length, 0);
            }
            assert.equal(prod.outputs.grafanaAdminPassword, "[secret]");
        });

        it("the alert rules carry the stack's backlog threshold", () => {
            const rules = (ev: Evaluation) => one(ev, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", `noa-${ev.stack}-observability-alerts`).inputs.spec.groups[0].rules;
            const backlog = (ev: Evaluation) => rules(ev).find((r: any) => r.alert === "QueueBacklog");
            assert.deepEqual([backlog(prod).expr, backlog(prod).for], ['max by (queue) (worker_queue_depth{namespace="noa"}) > 1000', "10m"]);
            assert.deepEqual([backlog(dev).expr, backlog(dev).for], ['max by (queue) (worker_queue_depth{namespace="noa"}) > 500', "10m"]);
            assert.deepEqual(rules(prod).map((r: any) => r.alert), [
                "HighErrorRate", "HighLatencyP95", "ReplicasBelowMinimum", "HighCpuUsage", "HighMemoryUsage",
                "QueueBacklog", "JobOutboxBacklog", "CircuitBreakerOpen", "HPAMaxedOut", "DatabaseConnectionsHigh",
                "RedisClusterNodeDown", "RedisClusterStateFail", "RedisMemoryHigh",
            ]);
            // They watch the Redis StatefulSet the program actually creates.
            const down = rules(prod).find((r: any) => r.alert === "RedisClusterNodeDown");
            const set = one(prod, "kubernetes:apps/v1:StatefulSet", "noa-redis");
            assert.ok(down.expr.includes(`namespace="${set.inputs.metadata.namespace}",statefulset="${set.inputs.metadata.name}"`), down.expr);
        });
    });

    describe("services", () => {
        it("prod and dev: every service has its MicroService with exactly one autoscaler, a PDB and its mesh resources", () => {
            for (const ev of [prod, dev]) {
                for (const svc of SERVICES) {
                    const ms = one(ev, "noa:app:MicroService", `noa-${ev.stack}-${svc}`);
                    const kinds = childrenOf(ev, ms).map((r) => r.type.split(":").pop()).sort();
                    const scaler = svc === "worker" ? ["ScaledObject", "TriggerAuthentication"] : ["HorizontalPodAutoscaler"];
                    assert.deepEqual(kinds, [
                        "Deployment", "DestinationRule", ...scaler, "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor", "VirtualService",
                    ].sort(), `${ev.stack}/${svc}`);
                }
            }
        });

        it("replica floors and ceilings per stack (prod 3–20, dev 1–3) on the autoscalers, never on the Deployments", () => {
            const range = (ev: Evaluation, svc: string) => svc === "worker"
                ? (({ minReplicaCount, maxReplicaCount }) => [minReplicaCount, maxReplicaCount])(one(ev, "kubernetes:keda.sh/v1alpha1:ScaledObject", `noa-${ev.stack}-worker-scaledobject`).inputs.spec)
                : (({ minReplicas, maxReplicas }) => [minReplicas, maxReplicas])(one(ev, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", `noa-${ev.stack}-${svc}-hpa`).inputs.spec);
            assert.deepEqual(SERVICES.map((s) => range(prod, s)), [[3, 20], [3, 20], [3, 20], [3, 10], [3, 20]]);
            assert.deepEqual(SERVICES.map((s) => range(dev, s)), [[1, 3], [1, 3], [1, 3], [1, 2], [1, 3]]);
            for (const ev of [prod, dev]) {
                for (const svc of SERVICES) assert.equal(one(ev, "kubernetes:apps/v1:Deployment", `noa-${ev.stack}-${svc}-deployment`).inputs.spec.replicas, undefined);
            }
            const up = (ev: Evaluation) => one(ev, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", `noa-${ev.stack}-users-hpa`).inputs.spec.behavior.scaleUp.policies;
            assert.deepEqual(up(prod)[1], { type: "Pods", value: 2, periodSeconds: 30 });
            assert.deepEqual(up(dev)[1], { type: "Pods", value: 2, periodSeconds: 30 });
        });

        it("deploys the ServiceImage digests, the data area's seed nodes and the AppBucket's IRSA role", () => {
            const digests = prod.outputs.imageDigests as Record<string, string>;
            for (const svc of SERVICES) {
                assert.equal(one(prod, "kubernetes:apps/v1:Deployment", `noa-prod-${svc}-deployment`).inputs.spec.template.spec.containers[0].image, digests[svc]);
            }
            assert.equal(one(prod, "kubernetes:batch/v1:Job", "noa-prod-migrate-job").inputs.spec.template.spec.containers[0].image, digests.migrate);
            const env = one(prod, "kubernetes:apps/v1:Deployment", "noa-prod-users-deployment").inputs.spec.template.spec.containers[0].env;
            const seeds = (prod.outputs.data as any).redis.seedNodes;
            assert.deepEqual(env.find((e: any) => e.name === "REDIS_CLUSTER_NODES"), { name: "REDIS_CLUSTER_NODES", value: seeds });
            const role = one(prod, "aws:iam/role:Role", "noa-prod-objects-irsa-role");
            const sa = one(prod, "kubernetes:core/v1:ServiceAccount", "noa-prod-storage-sa").inputs;
            assert.equal(sa.metadata.annotations["eks.amazonaws.com/role-arn"], role.state.arn);
            assert.equal(sa.metadata.name, "storage", "the name the role's trust policy names");
            const storageEnv = one(prod, "kubernetes:apps/v1:Deployment", "noa-prod-storage-deployment").inputs.spec.template.spec.containers[0].env;
            assert.deepEqual(storageEnv.find((e: any) => e.name === "S3_BUCKET"), { name: "S3_BUCKET", value: prod.outputs.bucketName });
        });

        it("the services wait for the stores, the mesh, the autoscalers' CRDs and the migrations", () => {
            const dep = one(prod, "kubernetes:apps/v1:Deployment", "noa-prod-worker-deployment");
            const urnOf = (type: string, name: string) => one(prod, type, name).urn;
            for (const needed of [
                urnOf("kubernetes:batch/v1:Job", "noa-prod-migrate-job"),
                urnOf("kubernetes:helm.sh/v3:Release", "noa-prod-observability-keda"),
                urnOf("kubernetes:helm.sh/v3:Release", "noa-prod-mesh-istiod"),
            ]) {
                assert.ok(dep.dependsOn.includes(needed), needed);
            }
            assert.ok(dep.dependsOn.some((u) => u.includes("noa:data:RedisCluster") || u.includes("RabbitMq")), "waits for the data stores");
        });

        it("exports each service's in-cluster URL", () => {
            assert.deepEqual(prod.outputs.services, Object.fromEntries(SERVICES.map((s) => [s, `http://${s}.noa.svc.cluster.local`])));
        });
    });
});

describe("runtime config", () => {
    function withServices(stack: string, mutate: (services: any) => void): Record<string, string> {
        const { config } = readStackConfig(stack);
        const services = JSON.parse(config["noa:services"]);
        mutate(services);
        return { ...config, "noa:services": JSON.stringify(services) };
    }
    const problems = (raw: Record<string, string>) => {
        try {
            loadConfig(raw);
        } catch (err) {
            assert.ok(err instanceof ConfigError);
            return err.problems;
        }
        return assert.fail("expected a ConfigError");
    };

    it("reads the services' mesh traffic settings (gateway from the stack file, others defaulted)", () => {
        const prod = loadConfig(readStackConfig("prod").config);
        assert.deepEqual([prod.services.gateway.timeoutMs, prod.services.gateway.retryAttempts, prod.services.gateway.perTryTimeoutMs], [15000, 1, 7000]);
        assert.deepEqual([prod.services.users.timeoutMs, prod.services.users.retryAttempts, prod.services.users.perTryTimeoutMs], [5000, 1, 2500]);
        assert.deepEqual([prod.observability.queueBacklogMessages, prod.observability.queueBacklogMinutes], [1000, 10]);
    });

    it("rejects an ingress gateway range whose minimum exceeds its maximum", () => {
        const { config } = readStackConfig("prod");
        const mesh = JSON.parse(config["noa:mesh"]);
        mesh.ingressGateway = { minReplicas: 5, maxReplicas: 3 };
        assert.deepEqual(problems({ ...config, "noa:mesh": JSON.stringify(mesh) }), ["noa:mesh.ingressGateway.minReplicas (5) exceeds maxReplicas (3)"]);
    });

    it("rejects retries that cannot fit the timeout, naming the keys and values", () => {
        const raw = withServices("prod", (s) => Object.assign(s.users, { timeoutMs: 5000, retryAttempts: 3, perTryTimeoutMs: 2000 }));
        assert.deepEqual(problems(raw), [
            "noa:services.users.retryAttempts (3) × noa:services.users.perTryTimeoutMs (2000) cannot fit noa:services.users.timeoutMs (5000): 1 try + 3 retries take up to 8000 ms",
        ]);
    });

    it("rejects a canary weight outside 0–100 and a memory limit below its request", () => {
        const raw = withServices("dev", (s) => {
            Object.assign(s.workflows, { canaryImage: "registry.example.com/noa/workflows:1.2.3", canaryWeight: 120 });
            Object.assign(s.storage, { memoryRequest: "512Mi", memoryLimit: "256Mi" });
        });
        assert.deepEqual(problems(raw).sort(), [
            'noa:services.storage.memoryLimit ("256Mi") is below memoryRequest ("512Mi")',
            "noa:services.workflows.canaryWeight (120) must be at most 100",
        ]);
    });
});

/**
 * `deployServices` with explicit upstream outputs (images by digest, the data
 * area's seed nodes, the bucket and its role): the contract with the edge and
 * data areas, independent of how far their wiring has come.
 */
describe("deployServices", () => {
    const digest = (svc: string) => `123456789012.dkr.ecr.us-east-1.amazonaws.com/noa/prod/${svc}@sha256:${svc.length.toString(16).padStart(64, "0")}`;
    const SEEDS = "noa-redis-0.noa-redis-headless.noa-data.svc.cluster.local:6379,noa-redis-1.noa-redis-headless.noa-data.svc.cluster.local:6379";
    const ROLE = "arn:aws:iam::123456789012:role/noa-prod-objects-irsa";
    let config: NoaConfig;
    let harness: typeof import("../../scripts/offline/mocks").harness;

    async function deploy(cfg: NoaConfig, stack: string) {
        const mocks = await import("../../scripts/offline/mocks.js");
        harness = mocks.harness;
        harness.install({ stack });
        harness.reset();
        const k8s = await import("@pulumi/kubernetes");
        const runtime = await import("../runtime.js");
        const provider = new k8s.Provider(`${stack}-k8s`, {});
        const mesh = runtime.deployMesh(cfg, { provider }, { stack });
        const observability = runtime.deployObservability(cfg, { provider }, { stack });
        const out = runtime.deployServices(cfg, {
            provider, mesh, observability,
            data: { redisSeedNodes: SEEDS },
            edge: {
                images: { gateway: digest("gateway"), users: digest("users"), workflows: digest("workflows"), storage: digest("storage"), worker: digest("worker"), migrate: digest("migrate") },
                bucketName: "noa-prod-objects-bucket-1a2b3c",
                storageRoleArn: ROLE,
            },
        }, { stack });
        await harness.settle();
        return out;
    }
    const reg = (type: string, name: string) => harness.one(type, name);
    const env = (svc: string, stack = "t1") => {
        const c = reg("kubernetes:apps/v1:Deployment", `noa-${stack}-${svc}-deployment`).inputs.spec.template.spec.containers[0];
        return Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? `secret:${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`]));
    };

    before(async () => {
        config = loadConfig(readStackConfig("prod").config);
        await deploy(config, "t1");
    });

    it("one MicroService per service, each with exactly one autoscaler, a PDB and its mesh resources", () => {
        for (const svc of SERVICES) {
            const ms = reg("noa:app:MicroService", `noa-t1-${svc}`);
            const kinds = harness.find((r) => r.parent === ms.urn).map((r) => r.type.split(":").pop()).sort();
            const scaler = svc === "worker" ? ["ScaledObject", "TriggerAuthentication"] : ["HorizontalPodAutoscaler"];
            assert.deepEqual(kinds, [
                "Deployment", "DestinationRule", ...scaler, "NetworkPolicy", "PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor", "VirtualService",
            ].sort(), svc);
        }
    });

    it("images by digest from the edge; replicas left to the autoscalers; HPA numbers and behaviour from config", () => {
        for (const svc of SERVICES) {
            const dep = reg("kubernetes:apps/v1:Deployment", `noa-t1-${svc}-deployment`).inputs;
            assert.equal(dep.spec.template.spec.containers[0].image, digest(svc));
            assert.equal(dep.spec.replicas, undefined);
        }
        const hpa = reg("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "noa-t1-gateway-hpa").inputs.spec;
        assert.deepEqual([hpa.minReplicas, hpa.maxReplicas], [3, 20]);
        assert.deepEqual(hpa.behavior.scaleUp.policies, [{ type: "Percent", value: 100, periodSeconds: 30 }, { type: "Pods", value: 2, periodSeconds: 30 }]);
        assert.deepEqual(hpa.behavior.scaleDown, { stabilizationWindowSeconds: 300, policies: [{ type: "Percent", value: 50, periodSeconds: 60 }], selectPolicy: "Max" });
        const so = reg("kubernetes:keda.sh/v1alpha1:ScaledObject", "noa-t1-worker-scaledobject").inputs.spec;
        assert.deepEqual(so.triggers.map((t: any) => t.metadata.queueName), ["jobs.email", "jobs.webhook", "jobs.report", "jobs.export", "jobs.analytics"]);
        assert.deepEqual([so.minReplicaCount, so.maxReplicaCount], [3, 20]);
        assert.deepEqual(reg("kubernetes:keda.sh/v1alpha1:TriggerAuthentication", "noa-t1-worker-keda-auth").inputs.spec.secretTargetRef,
            [{ parameter: "host", name: "noa-rabbitmq-app", key: "AMQP_URL" }]);
    });

    it("environment per services/README.md: secrets only as secretKeyRefs to the contract's Secrets", () => {
        const common = { PORT: "8080", SHUTDOWN_TIMEOUT_MS: "25000", LOG_LEVEL: "info" };
        assert.deepEqual(env("gateway"), {
            ...common, SERVICE_NAME: "gateway",
            REDIS_CLUSTER_NODES: SEEDS, REDIS_PASSWORD: "secret:noa-redis-auth/REDIS_PASSWORD",
            JWT_SECRET: "secret:noa-jwt/JWT_SECRET", JWT_ISSUER: "noa", JWT_AUDIENCE: "noa",
            USERS_URL: "http://users.noa.svc.cluster.local", WORKFLOWS_URL: "http://workflows.noa.svc.cluster.local", STORAGE_URL: "http://storage.noa.svc.cluster.local",
            UPSTREAM_TIMEOUT_MS: "5000", TRUSTED_PROXY_HOPS: "2", RATE_LIMIT_FALLBACK_REPLICAS: "3",
        });
        assert.deepEqual(env("users"), {
            ...common, SERVICE_NAME: "users",
            DATABASE_POOL_MAX: "10", DATABASE_URL: "secret:noa-citus-app/DATABASE_URL",
            REDIS_CLUSTER_NODES: SEEDS, REDIS_PASSWORD: "secret:noa-redis-auth/REDIS_PASSWORD",
            JWT_SECRET: "secret:noa-jwt/JWT_SECRET", JWT_ISSUER: "noa", JWT_AUDIENCE: "noa", JWT_TTL_SECONDS: "3600",
        });
        assert.deepEqual(env("workflows"), {
            ...common, SERVICE_NAME: "workflows",
            DATABASE_POOL_MAX: "10", DATABASE_URL: "secret:noa-citus-app/DATABASE_URL",
            REDIS_CLUSTER_NODES: SEEDS, REDIS_PASSWORD: "secret:noa-redis-auth/REDIS_PASSWORD", AMQP_URL: "secret:noa-rabbitmq-app/AMQP_URL",
        });
        assert.deepEqual(env("storage"), {
            ...common, SERVICE_NAME: "storage",
            DATABASE_POOL_MAX: "10", DATABASE_URL: "secret:noa-citus-app/DATABASE_URL",
            S3_BUCKET: "noa-prod-objects-bucket-1a2b3c", AWS_REGION: "us-east-1",
        });
        assert.deepEqual(env("worker"), {
            ...common, SERVICE_NAME: "worker",
            DATABASE_POOL_MAX: "10", DATABASE_URL: "secret:noa-citus-app/DATABASE_URL", AMQP_URL: "secret:noa-rabbitmq-app/AMQP_URL",
        });
    });

    it("the JWT Secret noa-jwt: a generated 64-character key, secret end to end", () => {
        const secret = reg("kubernetes:core/v1:Secret", "noa-t1-jwt-secret");
        assert.deepEqual(secret.inputs.metadata, { name: "noa-jwt", namespace: "noa", labels: { "app.kubernetes.io/part-of": "noa" } });
        assert.ok(secret.secretPaths.some((p) => p.startsWith("stringData")));
        assert.equal(secret.inputs.stringData.JWT_SECRET.length, 64);
        const key = reg("random:index/randomPassword:RandomPassword", "noa-t1-jwt-value");
        assert.deepEqual([key.inputs.length, key.inputs.special], [64, false]);
        assert.ok(key.additionalSecretOutputs.includes("result"), "the generated key is a secret output");
        assert.equal(key.parent, reg("noa:app:GeneratedSecret", "noa-t1-jwt").urn);
    });

    it("only the storage service gets an IRSA role; only the gateway is reachable from the ingress gateway", () => {
        for (const svc of SERVICES) {
            const sa = reg("kubernetes:core/v1:ServiceAccount", `noa-t1-${svc}-sa`).inputs;
            assert.deepEqual(sa.metadata.annotations, svc === "storage" ? { "eks.amazonaws.com/role-arn": ROLE } : undefined, svc);
            const np = reg("kubernetes:networking.k8s.io/v1:NetworkPolicy", `noa-t1-${svc}-netpol`).inputs.spec;
            const fromIngress = np.ingress.some((r: any) => r.from.some((f: any) => f.namespaceSelector?.matchLabels["kubernetes.io/metadata.name"] === "istio-ingress"));
            assert.equal(fromIngress, svc === "gateway", svc);
            const vs = reg("kubernetes:networking.istio.io/v1:VirtualService", `noa-t1-${svc}-vs`).inputs.spec;
            assert.equal(vs.gateways !== undefined, svc === "gateway", svc);
        }
        const edge = reg("kubernetes:networking.istio.io/v1:VirtualService", "noa-t1-gateway-vs").inputs.spec;
        assert.deepEqual(edge.hosts, ["gateway.noa.svc.cluster.local", "api.noa.example.com"]);
        assert.deepEqual(edge.gateways, ["mesh", "istio-ingress/noa-gateway"]);
        assert.deepEqual([edge.http[0].timeout, edge.http[0].retries.attempts, edge.http[0].retries.perTryTimeout], ["15s", 1, "7s"]);
        const callers = reg("kubernetes:networking.k8s.io/v1:NetworkPolicy", "noa-t1-users-netpol").inputs.spec.ingress[0].from[0].podSelector.matchExpressions;
        assert.deepEqual(callers, [{ key: "app.kubernetes.io/name", operator: "In", values: ["gateway"] }]);
    });

    it("the migrations Job runs the migrate image with DATABASE_URL before any service rolls", async () => {
        const job = reg("kubernetes:batch/v1:Job", "noa-t1-migrate-job");
        const c = job.inputs.spec.template.spec.containers[0];
        assert.equal(c.image, digest("migrate"));
        assert.deepEqual(c.env, [{ name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "noa-citus-app", key: "DATABASE_URL" } } }]);
        assert.equal(job.inputs.spec.template.metadata.annotations["sidecar.istio.io/inject"], "false");
        // A failed migration runs again on the next up (a new Job) instead of blocking every later up;
        // Pulumi waits out the Job's deadline (600 s) and a minute.
        assert.deepEqual(job.inputs.metadata.annotations, { "pulumi.com/replaceUnready": "true" });
        assert.deepEqual([job.inputs.spec.activeDeadlineSeconds, job.customTimeouts], [600, { create: "11m", update: "11m" }]);
        for (const svc of SERVICES) {
            assert.ok(reg("kubernetes:apps/v1:Deployment", `noa-t1-${svc}-deployment`).dependsOn.includes(job.urn), svc);
        }
    });

    it("observability: monitoring, KEDA for the worker, no prometheus-adapter while no HPA scales on requests per second", () => {
        assert.equal(harness.byType("kubernetes:helm.sh/v3:Release").filter((r) => r.inputs.chart === "prometheus-adapter").length, 0);
        assert.deepEqual(harness.byType("kubernetes:helm.sh/v3:Release").map((r) => r.inputs.chart).sort(),
            ["base", "cni", "gateway", "istiod", "keda", "kube-prometheus-stack"]);
        const rule = reg("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "noa-t1-observability-alerts").inputs.spec.groups[0].rules;
        assert.equal(rule.find((r: any) => r.alert === "QueueBacklog").expr, 'max by (queue) (worker_queue_depth{namespace="noa"}) > 1000');
    });

    it("passes the whole policy pack for prod (replicas, PDBs, probes, resources, digests, non-root)", async () => {
        assert.deepEqual(await runPolicies(harness.registrations, "prod", { stack: "t1", project: "noa" }), []);
    });

    it("a canary image and a requests-per-second target switch on the canary Deployment, 90/10 routing and prometheus-adapter", async () => {
        const cfg = structuredClone(config);
        cfg.services.users.canaryImage = digest("users-canary");
        cfg.services.gateway.targetRequestsPerSecond = 500;
        await deploy(cfg, "t2");
        const canary = reg("kubernetes:apps/v1:Deployment", "noa-t2-users-canary").inputs;
        assert.equal(canary.spec.template.spec.containers[0].image, digest("users-canary"));
        const route = reg("kubernetes:networking.istio.io/v1:VirtualService", "noa-t2-users-vs").inputs.spec.http[0].route;
        assert.deepEqual(route.map((r: any) => [r.destination.subset, r.weight]), [["stable", 90], ["canary", 10]]);
        assert.equal(harness.byType("kubernetes:helm.sh/v3:Release").filter((r) => r.inputs.chart === "prometheus-adapter").length, 1);
        const metrics = reg("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "noa-t2-gateway-hpa").inputs.spec.metrics;
        assert.deepEqual(metrics[2], { type: "Pods", pods: { metric: { name: "http_requests_per_second" }, target: { type: "AverageValue", averageValue: "500" } } });
        assert.deepEqual(await runPolicies(harness.registrations, "prod", { stack: "t2", project: "noa" }), [], "the canary is covered by the service's PDB");
    });
});
