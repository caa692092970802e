import * as assert from "node:assert/strict";
import { childNames, harness, promiseOf } from "@noa/offline";
import type { MicroServiceArgs } from "./index.js";

const DIGEST = "123456789012.dkr.ecr.us-east-1.amazonaws.com/noa/users@sha256:" + "a".repeat(64);
const CANARY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/noa/users@sha256:" + "b".repeat(64);
const BEHAVIOR = {
    scaleUp: { stabilizationWindowSeconds: 0, percent: 100, pods: 2, periodSeconds: 30 },
    scaleDown: { stabilizationWindowSeconds: 300, percent: 50, periodSeconds: 60 },
};

function base(overrides: Partial<MicroServiceArgs> = {}): MicroServiceArgs {
    return {
        namespace: "noa",
        image: DIGEST,
        minReplicas: 3,
        maxReplicas: 20,
        cpuRequest: "250m",
        cpuLimit: "1",
        memoryRequest: "256Mi",
        memoryLimit: "512Mi",
        hpa: { targetCpuUtilization: 70, targetMemoryUtilization: 80, behavior: BEHAVIOR },
        ...overrides,
    };
}

describe("MicroService", () => {
    before(() => harness.install());
    beforeEach(() => harness.reset());

    describe("normalizeMicroServiceArgs rejects bad args with key and value", () => {
        const cases: [string, Partial<MicroServiceArgs>, string][] = [
            ["min above max", { minReplicas: 5, maxReplicas: 3 }, `MicroService "svc": minReplicas (5) exceeds maxReplicas (3)`],
            ["canary weight above 100", { canary: { image: CANARY, weight: 101 } }, `MicroService "svc": canary.weight (101) must be a whole percent between 0 and 100`],
            ["canary weight below 0", { canary: { image: CANARY, weight: -1 } }, `MicroService "svc": canary.weight (-1) must be a whole percent between 0 and 100`],
            [
                "retries that cannot fit the timeout",
                { traffic: { timeoutMs: 5000, retryAttempts: 3, perTryTimeoutMs: 2000 } },
                `MicroService "svc": traffic.retryAttempts (3) and traffic.perTryTimeoutMs (2000) cannot fit traffic.timeoutMs (5000): 1 try + 3 retries × 2000 ms = 8000 ms`,
            ],
            [
                "both autoscalers",
                { keda: { queues: ["jobs.email"], connectionSecret: { name: "noa-rabbitmq-app", key: "AMQP_URL" } } },
                `MicroService "svc": hpa and keda are both set: exactly one autoscaler may own a Deployment's replica count`,
            ],
            ["no autoscaler", { hpa: undefined }, `MicroService "svc": neither hpa nor keda is set: every service needs exactly one autoscaler`],
            ["memory limit below request", { memoryRequest: "512Mi", memoryLimit: "256Mi" }, `MicroService "svc": memoryLimit ("256Mi") is below memoryRequest ("512Mi")`],
            ["cpu limit below request", { cpuRequest: "2", cpuLimit: "500m" }, `MicroService "svc": cpuLimit ("500m") is below cpuRequest ("2")`],
            ["not a quantity", { memoryLimit: "lots" }, `MicroService "svc": memoryLimit ("lots") is not a Kubernetes quantity (e.g. 250m, 512Mi)`],
            [
                "grace period shorter than the drain",
                { preStopSeconds: 5, shutdownTimeoutMs: 25000, terminationGracePeriodSeconds: 30 },
                `MicroService "svc": terminationGracePeriodSeconds (30) must exceed preStopSeconds (5) + shutdownTimeoutMs (25000 ms), or the kubelet kills the pod mid-drain`,
            ],
            ["a KEDA worker without queues", { hpa: undefined, keda: { queues: [], connectionSecret: { name: "s", key: "k" } } }, `MicroService "svc": keda.queues ([]) must name at least one queue`],
        ];
        for (const [label, overrides, message] of cases) {
            it(label, async () => {
                const { normalizeMicroServiceArgs } = await import("./index.js");
                assert.throws(() => normalizeMicroServiceArgs("svc", base(overrides)), { message });
            });
        }

        it("collects every problem in one error", async () => {
            const { normalizeMicroServiceArgs } = await import("./index.js");
            assert.throws(
                () => normalizeMicroServiceArgs("svc", base({ minReplicas: 9, maxReplicas: 2, canary: { image: CANARY, weight: 150 } })),
                { message: `MicroService "svc":\n  - minReplicas (9) exceeds maxReplicas (2)\n  - canary.weight (150) must be a whole percent between 0 and 100` },
            );
        });

        it("accepts retries that exactly fill the timeout", async () => {
            const { normalizeMicroServiceArgs } = await import("./index.js");
            const n = normalizeMicroServiceArgs("svc", base({ traffic: { timeoutMs: 6000, retryAttempts: 2, perTryTimeoutMs: 2000 } }));
            assert.equal(n.traffic.timeoutMs, 6000);
        });

        it("derives a grace period longer than preStop plus the kit's drain", async () => {
            const { normalizeMicroServiceArgs } = await import("./index.js");
            const n = normalizeMicroServiceArgs("svc", base());
            assert.deepEqual([n.preStopSeconds, n.shutdownTimeoutMs, n.terminationGracePeriodSeconds], [5, 25000, 35]);
        });
    });

    describe("builders", () => {
        it("routes 90/10 between stable and canary subsets, weights summing to 100", async () => {
            const { normalizeMicroServiceArgs, virtualServiceSpec, destinationRuleSpec, routeWeights } = await import("./index.js");
            for (const weight of [0, 10, 37, 100]) {
                const n = normalizeMicroServiceArgs("users", base({ canary: { image: CANARY, weight } }));
                const w = routeWeights(n);
                assert.equal(w.reduce((s, r) => s + r.weight, 0), 100, `weights for canary ${weight}`);
                assert.deepEqual(w, [{ subset: "stable", weight: 100 - weight }, { subset: "canary", weight }]);
            }
            const n = normalizeMicroServiceArgs("users", base({ canary: { image: CANARY } }));
            const host = "users.noa.svc.cluster.local";
            assert.deepEqual(virtualServiceSpec(n, host), {
                hosts: [host],
                http: [{
                    name: "default",
                    timeout: "5s",
                    retries: { attempts: 1, perTryTimeout: "2500ms", retryOn: "connect-failure,refused-stream,unavailable,cancelled" },
                    route: [
                        { destination: { host, port: { number: 80 }, subset: "stable" }, weight: 90 },
                        { destination: { host, port: { number: 80 }, subset: "canary" }, weight: 10 },
                    ],
                }],
            });
            assert.deepEqual((destinationRuleSpec(n, host) as any).subsets, [
                { name: "stable", labels: { version: "stable" } },
                { name: "canary", labels: { version: "canary" } },
            ]);
        });

        it("DestinationRule is the circuit breaker: connection pool and outlier detection", async () => {
            const { normalizeMicroServiceArgs, destinationRuleSpec } = await import("./index.js");
            const n = normalizeMicroServiceArgs("users", base({ traffic: { consecutive5xxErrors: 7, maxConnections: 500 } }));
            assert.deepEqual(destinationRuleSpec(n, "users.noa.svc.cluster.local"), {
                host: "users.noa.svc.cluster.local",
                trafficPolicy: {
                    connectionPool: {
                        tcp: { maxConnections: 500, connectTimeout: "2s" },
                        http: { http1MaxPendingRequests: 1024, maxRequestsPerConnection: 0 },
                    },
                    outlierDetection: { consecutive5xxErrors: 7, interval: "10s", baseEjectionTime: "30s", maxEjectionPercent: 50 },
                },
            });
        });

        it("HPA: CPU 70 / memory 80, the seeds' behaviour, an optional requests-per-second pods metric", async () => {
            const { normalizeMicroServiceArgs, hpaSpec } = await import("./index.js");
            const spec = hpaSpec(normalizeMicroServiceArgs("gateway", base({ hpa: { behavior: BEHAVIOR, targetRequestsPerSecond: 100 } })));
            assert.deepEqual(spec, {
                scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "gateway" },
                minReplicas: 3,
                maxReplicas: 20,
                metrics: [
                    { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } },
                    { type: "Resource", resource: { name: "memory", target: { type: "Utilization", averageUtilization: 80 } } },
                    { type: "Pods", pods: { metric: { name: "http_requests_per_second" }, target: { type: "AverageValue", averageValue: "100" } } },
                ],
                behavior: {
                    scaleUp: {
                        stabilizationWindowSeconds: 0,
                        policies: [{ type: "Percent", value: 100, periodSeconds: 30 }, { type: "Pods", value: 2, periodSeconds: 30 }],
                        selectPolicy: "Max",
                    },
                    scaleDown: {
                        stabilizationWindowSeconds: 300,
                        policies: [{ type: "Percent", value: 50, periodSeconds: 60 }],
                        selectPolicy: "Max",
                    },
                },
            });
            const plain = hpaSpec(normalizeMicroServiceArgs("gateway", base()));
            assert.equal((plain.metrics as unknown[]).length, 2, "no pods metric unless asked for");
        });

        it("NetworkPolicy: deny by default, ingress from the gateway namespace, callers and Prometheus only", async () => {
            const { normalizeMicroServiceArgs, networkPolicySpec } = await import("./index.js");
            const edge = normalizeMicroServiceArgs("gateway", base({
                ingressGateway: { namespace: "istio-ingress", podLabels: { istio: "ingressgateway" }, gateway: "istio-ingress/noa-gateway", hosts: ["api.example.com"] },
                monitoring: { enabled: true },
            }));
            const spec = networkPolicySpec(edge);
            assert.deepEqual(spec.podSelector, { matchLabels: { "app.kubernetes.io/name": "gateway" } });
            assert.deepEqual(spec.policyTypes, ["Ingress", "Egress"]);
            assert.deepEqual(spec.ingress, [
                {
                    from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "istio-ingress" } }, podSelector: { matchLabels: { istio: "ingressgateway" } } }],
                    ports: [{ protocol: "TCP", port: 8080 }],
                },
                { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }], ports: [{ protocol: "TCP", port: 15020 }] },
            ]);
            const inner = networkPolicySpec(normalizeMicroServiceArgs("users", base({ callers: ["gateway"] })));
            assert.deepEqual(inner.ingress, [{
                from: [{ podSelector: { matchExpressions: [{ key: "app.kubernetes.io/name", operator: "In", values: ["gateway"] }] } }],
                ports: [{ protocol: "TCP", port: 8080 }],
            }]);
            const worker = networkPolicySpec(normalizeMicroServiceArgs("worker", base()));
            assert.deepEqual(worker.ingress, [], "nobody may call a service without callers");
            assert.deepEqual((worker.egress as any[]).at(-1), {
                to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"] } }],
                ports: [{ protocol: "TCP", port: 443 }],
            });
        });

        it("KEDA: one rabbitmq QueueLength trigger per queue with the TriggerAuthentication", async () => {
            const { normalizeMicroServiceArgs, scaledObjectSpec } = await import("./index.js");
            const n = normalizeMicroServiceArgs("worker", base({
                hpa: undefined,
                keda: { queues: ["jobs.email", "jobs.webhook"], queueLengthTarget: 25, connectionSecret: { name: "noa-rabbitmq-app", key: "AMQP_URL" }, behavior: BEHAVIOR },
            }));
            const spec = scaledObjectSpec(n, "worker-rabbitmq") as any;
            assert.deepEqual(spec.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "worker" });
            assert.deepEqual([spec.minReplicaCount, spec.maxReplicaCount], [3, 20]);
            assert.deepEqual(spec.triggers, [
                { type: "rabbitmq", name: "jobs-email", metadata: { protocol: "amqp", queueName: "jobs.email", mode: "QueueLength", value: "25" }, authenticationRef: { name: "worker-rabbitmq" } },
                { type: "rabbitmq", name: "jobs-webhook", metadata: { protocol: "amqp", queueName: "jobs.webhook", mode: "QueueLength", value: "25" }, authenticationRef: { name: "worker-rabbitmq" } },
            ]);
            assert.equal(spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds, 300);
        });
    });

    describe("component", () => {
        it("an HPA service: exact children and the manifests that matter", async () => {
            const { MicroService } = await import("./index.js");
            const svc = new MicroService("t-users", base({
                serviceName: "users",
                env: { LOG_LEVEL: "info", DATABASE_POOL_MAX: "10" },
                secretEnv: { DATABASE_URL: { secret: "noa-citus-app", key: "DATABASE_URL" } },
                callers: ["gateway"],
                monitoring: { enabled: true },
                excludeOutboundPorts: [5432, 6379],
            }));
            await harness.settle();
            assert.deepEqual(await childNames(svc), [
                "kubernetes:apps/v1:Deployment::t-users-deployment",
                "kubernetes:autoscaling/v2:HorizontalPodAutoscaler::t-users-hpa",
                "kubernetes:core/v1:Service::t-users-service",
                "kubernetes:core/v1:ServiceAccount::t-users-sa",
                "kubernetes:monitoring.coreos.com/v1:ServiceMonitor::t-users-monitor",
                "kubernetes:networking.istio.io/v1:DestinationRule::t-users-dr",
                "kubernetes:networking.istio.io/v1:VirtualService::t-users-vs",
                "kubernetes:networking.k8s.io/v1:NetworkPolicy::t-users-netpol",
                "kubernetes:policy/v1:PodDisruptionBudget::t-users-pdb",
            ]);
            assert.equal(await promiseOf(svc.url), "http://users.noa.svc.cluster.local");

            const dep = harness.one("kubernetes:apps/v1:Deployment", "t-users-deployment").inputs;
            assert.equal(dep.metadata.name, "users");
            assert.equal(dep.spec.replicas, undefined, "the HPA owns replicas");
            assert.deepEqual(dep.spec.strategy, { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
            const pod = dep.spec.template.spec;
            const c = pod.containers[0];
            assert.equal(c.image, DIGEST);
            assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } });
            assert.deepEqual(c.securityContext, {
                allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true,
                capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" },
            });
            assert.deepEqual(c.volumeMounts, [{ name: "tmp", mountPath: "/tmp" }]);
            assert.deepEqual(pod.volumes, [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }]);
            assert.deepEqual(c.resources, { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } });
            assert.deepEqual(
                [c.startupProbe.httpGet, c.livenessProbe.httpGet, c.readinessProbe.httpGet],
                [{ path: "/health/startup", port: "http" }, { path: "/health", port: "http" }, { path: "/health/ready", port: "http" }],
            );
            assert.deepEqual(c.ports, [{ name: "http", containerPort: 8080, protocol: "TCP" }]);
            assert.deepEqual(c.lifecycle, { preStop: { sleep: { seconds: 5 } } });
            assert.equal(pod.terminationGracePeriodSeconds, 35);
            assert.deepEqual(c.env, [
                { name: "PORT", value: "8080" },
                { name: "SERVICE_NAME", value: "users" },
                { name: "SHUTDOWN_TIMEOUT_MS", value: "25000" },
                { name: "DATABASE_POOL_MAX", value: "10" },
                { name: "LOG_LEVEL", value: "info" },
                { name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: "noa-citus-app", key: "DATABASE_URL" } } },
            ]);
            assert.deepEqual(pod.topologySpreadConstraints.map((t: any) => [t.topologyKey, t.maxSkew, t.whenUnsatisfiable]), [
                ["topology.kubernetes.io/zone", 1, "ScheduleAnyway"],
                ["kubernetes.io/hostname", 1, "ScheduleAnyway"],
            ]);
            assert.equal(dep.spec.template.metadata.annotations["traffic.sidecar.istio.io/excludeOutboundPorts"], "5432,6379");
            assert.deepEqual(dep.spec.template.metadata.labels, { "app.kubernetes.io/name": "users", "app.kubernetes.io/part-of": "noa", app: "users", version: "stable" });

            const service = harness.one("kubernetes:core/v1:Service", "t-users-service").inputs;
            assert.equal(service.metadata.name, "users");
            assert.deepEqual(service.spec.selector, { "app.kubernetes.io/name": "users" });
            assert.deepEqual(service.spec.ports, [
                { name: "http", port: 80, targetPort: "http", protocol: "TCP", appProtocol: "http" },
                { name: "http-metrics", port: 15020, targetPort: 15020, protocol: "TCP" },
            ]);
            const pdb = harness.one("kubernetes:policy/v1:PodDisruptionBudget", "t-users-pdb").inputs;
            assert.equal(pdb.spec.maxUnavailable, 1);
            assert.deepEqual(pdb.spec.selector, { matchLabels: { "app.kubernetes.io/name": "users" } }, "covers the canary too");
            const hpa = harness.one("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "t-users-hpa");
            assert.equal(hpa.inputs.spec.scaleTargetRef.name, "users");
            assert.ok(hpa.dependsOn.includes(await promiseOf(svc.deployment.urn)));
            const sa = harness.one("kubernetes:core/v1:ServiceAccount", "t-users-sa").inputs;
            assert.equal(sa.metadata.annotations, undefined);
            assert.equal(sa.automountServiceAccountToken, false);
            const vs = harness.one("kubernetes:networking.istio.io/v1:VirtualService", "t-users-vs").inputs;
            assert.deepEqual(vs.spec.http[0].route, [{ destination: { host: "users.noa.svc.cluster.local", port: { number: 80 } }, weight: 100 }]);
            const sm = harness.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "t-users-monitor").inputs;
            assert.deepEqual(sm.spec.endpoints, [{ port: "http-metrics", path: "/stats/prometheus", interval: "15s", scrapeTimeout: "10s" }]);
        });

        it("a KEDA worker with IRSA and a canary: ScaledObject and TriggerAuthentication, never an HPA", async () => {
            const { MicroService } = await import("./index.js");
            const roleArn = "arn:aws:iam::123456789012:role/noa-worker";
            const svc = new MicroService("t-worker", base({
                serviceName: "worker",
                hpa: undefined,
                keda: { queues: ["jobs.email", "jobs.webhook", "jobs.report", "jobs.export", "jobs.analytics"], queueLengthTarget: 10, connectionSecret: { name: "noa-rabbitmq-app", key: "AMQP_URL" } },
                serviceAccountRoleArn: roleArn,
                canary: { image: CANARY, weight: 10 },
            }));
            await harness.settle();
            assert.deepEqual(await childNames(svc), [
                "kubernetes:apps/v1:Deployment::t-worker-canary",
                "kubernetes:apps/v1:Deployment::t-worker-deployment",
                "kubernetes:core/v1:Service::t-worker-service",
                "kubernetes:core/v1:ServiceAccount::t-worker-sa",
                "kubernetes:keda.sh/v1alpha1:ScaledObject::t-worker-scaledobject",
                "kubernetes:keda.sh/v1alpha1:TriggerAuthentication::t-worker-keda-auth",
                "kubernetes:networking.istio.io/v1:DestinationRule::t-worker-dr",
                "kubernetes:networking.istio.io/v1:VirtualService::t-worker-vs",
                "kubernetes:networking.k8s.io/v1:NetworkPolicy::t-worker-netpol",
                "kubernetes:policy/v1:PodDisruptionBudget::t-worker-pdb",
            ]);
            assert.equal(harness.byType("kubernetes:autoscaling/v2:HorizontalPodAutoscaler").length, 0);
            const auth = harness.one("kubernetes:keda.sh/v1alpha1:TriggerAuthentication", "t-worker-keda-auth").inputs;
            assert.equal(auth.metadata.name, "worker-rabbitmq");
            assert.deepEqual(auth.spec, { secretTargetRef: [{ parameter: "host", name: "noa-rabbitmq-app", key: "AMQP_URL" }] });
            const so = harness.one("kubernetes:keda.sh/v1alpha1:ScaledObject", "t-worker-scaledobject").inputs;
            assert.deepEqual(so.spec.triggers.map((t: any) => t.metadata.queueName), ["jobs.email", "jobs.webhook", "jobs.report", "jobs.export", "jobs.analytics"]);
            assert.ok(so.spec.triggers.every((t: any) => t.metadata.mode === "QueueLength" && t.metadata.value === "10" && t.authenticationRef.name === "worker-rabbitmq"));

            const sa = harness.one("kubernetes:core/v1:ServiceAccount", "t-worker-sa").inputs;
            assert.deepEqual(sa.metadata.annotations, { "eks.amazonaws.com/role-arn": roleArn });
            assert.equal(sa.automountServiceAccountToken, false, "IRSA's webhook projects its own token");
            const canary = harness.one("kubernetes:apps/v1:Deployment", "t-worker-canary").inputs;
            assert.equal(canary.metadata.name, "worker-canary");
            assert.equal(canary.spec.replicas, 3, "the canary has no autoscaler: it runs minReplicas");
            assert.equal(canary.spec.template.spec.containers[0].image, CANARY);
            assert.deepEqual(canary.spec.selector.matchLabels, { "app.kubernetes.io/name": "worker", version: "canary" });
            const stable = harness.one("kubernetes:apps/v1:Deployment", "t-worker-deployment").inputs;
            assert.deepEqual(stable.spec.selector.matchLabels, { "app.kubernetes.io/name": "worker", version: "stable" });
            const service = harness.one("kubernetes:core/v1:Service", "t-worker-service").inputs;
            assert.deepEqual(service.spec.selector, { "app.kubernetes.io/name": "worker" }, "one Service in front of both versions");
            assert.deepEqual(service.spec.ports.map((p: any) => p.name), ["http"], "no metrics port without monitoring");
            const vs = harness.one("kubernetes:networking.istio.io/v1:VirtualService", "t-worker-vs").inputs;
            assert.deepEqual(vs.spec.http[0].route.map((r: any) => [r.destination.subset, r.weight]), [["stable", 90], ["canary", 10]]);
        });

        it("the public edge binds the ingress Gateway and host in its VirtualService", async () => {
            const { MicroService } = await import("./index.js");
            new MicroService("t-gateway", base({
                serviceName: "gateway",
                ingressGateway: { namespace: "istio-ingress", podLabels: { istio: "ingressgateway" }, gateway: "istio-ingress/noa-gateway", hosts: ["api.noa.example.com"] },
                traffic: { timeoutMs: 15000, retryAttempts: 1, perTryTimeoutMs: 7000 },
            }));
            await harness.settle();
            const vs = harness.one("kubernetes:networking.istio.io/v1:VirtualService", "t-gateway-vs").inputs;
            assert.deepEqual(vs.spec.hosts, ["gateway.noa.svc.cluster.local", "api.noa.example.com"]);
            assert.deepEqual(vs.spec.gateways, ["mesh", "istio-ingress/noa-gateway"]);
            // From the internet only /api/ (anything else, /metrics and /health/* included, gets Envoy's 404);
            // inside the mesh every path, with the same timeout, retries and route.
            assert.deepEqual(vs.spec.http.map((r: any) => [r.name, r.match]), [
                ["public", [{ gateways: ["istio-ingress/noa-gateway"], uri: { prefix: "/api/" } }]],
                ["mesh", [{ gateways: ["mesh"] }]],
            ]);
            for (const route of vs.spec.http) {
                assert.equal(route.timeout, "15s");
                assert.deepEqual(route.retries, { attempts: 1, perTryTimeout: "7s", retryOn: "connect-failure,refused-stream,unavailable,cancelled" });
                assert.deepEqual(route.route, [{ destination: { host: "gateway.noa.svc.cluster.local", port: { number: 80 } }, weight: 100 }]);
            }
        });

        it("routes only the public path prefixes given from the internet, and refuses a prefix that is not a path", async () => {
            const { normalizeMicroServiceArgs, virtualServiceSpec } = await import("./index.js");
            const ingressGateway = { namespace: "istio-ingress", podLabels: { istio: "ingressgateway" }, gateway: "istio-ingress/noa-gateway", hosts: ["api.noa.example.com"] };
            const n = normalizeMicroServiceArgs("gateway", base({ serviceName: "gateway", ingressGateway: { ...ingressGateway, publicPathPrefixes: ["/api/", "/.well-known/"] } }));
            const spec = virtualServiceSpec(n, "gateway.noa.svc.cluster.local") as { http: { match: unknown }[] };
            assert.deepEqual(spec.http[0]!.match, [
                { gateways: ["istio-ingress/noa-gateway"], uri: { prefix: "/api/" } },
                { gateways: ["istio-ingress/noa-gateway"], uri: { prefix: "/.well-known/" } },
            ]);
            assert.throws(
                () => normalizeMicroServiceArgs("gateway", base({ serviceName: "gateway", ingressGateway: { ...ingressGateway, publicPathPrefixes: ["api/"] } })),
                /ingressGateway\.publicPathPrefixes\[0\] \(.*api\/.*\) must be a path starting with \//,
            );
            assert.throws(
                () => normalizeMicroServiceArgs("gateway", base({ serviceName: "gateway", ingressGateway: { ...ingressGateway, publicPathPrefixes: [] } })),
                /ingressGateway\.publicPathPrefixes .*must name at least one path prefix/,
            );
        });

        it("waits for its dependencies (the migrations Job) before rolling", async () => {
            const { MicroService, MigrationJob } = await import("./index.js");
            const migrate = new MigrationJob("t-migrate", { namespace: "noa", image: DIGEST.replace("users", "migrate"), databaseUrlSecret: { name: "noa-citus-app", key: "DATABASE_URL" } });
            const svc = new MicroService("t-dep", base({ serviceName: "dep", dependsOn: [migrate.job] }));
            await harness.settle();
            const dep = harness.one("kubernetes:apps/v1:Deployment", "t-dep-deployment");
            assert.ok(dep.dependsOn.includes(await promiseOf(migrate.job.urn)));
            assert.ok(dep.dependsOn.includes(await promiseOf(svc.serviceAccount.urn)));
        });
    });
});
