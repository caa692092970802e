import * as assert from "node:assert/strict";
import { childNames, harness, promiseOf } from "@noa/offline";
import type { IstioMeshArgs } from "./index.js";

const ARGS: IstioMeshArgs = { istioVersion: "1.27.3", mtlsMode: "STRICT", ingressHosts: ["api.noa.example.com"] };

describe("IstioMesh", () => {
    before(() => harness.install());
    beforeEach(() => harness.reset());

    it("creates exactly the namespaces, the four releases, the mesh-wide PeerAuthentication and the Gateway", async () => {
        const { IstioMesh } = await import("./index.js");
        const mesh = new IstioMesh("m1", ARGS);
        await harness.settle();
        assert.deepEqual(await childNames(mesh), [
            "kubernetes:core/v1:Namespace::m1-ns-istio-ingress",
            "kubernetes:core/v1:Namespace::m1-ns-istio-system",
            "kubernetes:core/v1:Namespace::m1-ns-noa",
            "kubernetes:core/v1:Namespace::m1-ns-noa-data",
            "kubernetes:helm.sh/v3:Release::m1-base",
            "kubernetes:helm.sh/v3:Release::m1-cni",
            "kubernetes:helm.sh/v3:Release::m1-gateway",
            "kubernetes:helm.sh/v3:Release::m1-istiod",
            "kubernetes:networking.istio.io/v1:Gateway::m1-gateway-config",
            "kubernetes:security.istio.io/v1:PeerAuthentication::m1-mtls",
        ]);
        assert.equal(await promiseOf(mesh.gatewayRef), "istio-ingress/noa-gateway");
        assert.equal(await promiseOf(mesh.servicesNamespace), "noa");
        assert.deepEqual(mesh.namespaceNames, { services: "noa", data: "noa-data", ingress: "istio-ingress" });
    });

    it("labels namespaces for injection and Pod Security Standards (restricted for services, stores out of the mesh)", async () => {
        const { IstioMesh } = await import("./index.js");
        new IstioMesh("m2", ARGS);
        await harness.settle();
        const labels = (ns: string) => harness.one("kubernetes:core/v1:Namespace", `m2-ns-${ns}`).inputs.metadata.labels;
        assert.equal(labels("noa")["istio-injection"], "enabled");
        assert.equal(labels("noa")["pod-security.kubernetes.io/enforce"], "restricted");
        assert.equal(labels("noa-data")["istio-injection"], "disabled");
        assert.equal(labels("noa-data")["pod-security.kubernetes.io/enforce"], "baseline");
        assert.equal(labels("istio-system")["pod-security.kubernetes.io/enforce"], "privileged");
        assert.equal(labels("istio-ingress")["pod-security.kubernetes.io/enforce"], "baseline");
        assert.equal(labels("istio-ingress")["istio-injection"], undefined);
        // The ALB targets the gateway's pod IPs: the load balancer controller injects its readiness gate there.
        assert.equal(labels("istio-ingress")["elbv2.k8s.aws/pod-readiness-gate-inject"], "enabled");
        assert.equal(labels("noa")["elbv2.k8s.aws/pod-readiness-gate-inject"], undefined);
    });

    it("installs base → cni → istiod → gateway in order, pinned to istioVersion, each waiting", async () => {
        const { IstioMesh, ISTIO_CHART_REPO } = await import("./index.js");
        const mesh = new IstioMesh("m3", ARGS);
        await harness.settle();
        const rel = (n: string) => harness.one("kubernetes:helm.sh/v3:Release", `m3-${n}`);
        for (const [n, chart, ns, releaseName] of [
            ["base", "base", "istio-system", "istio-base"],
            ["cni", "cni", "istio-system", "istio-cni"],
            ["istiod", "istiod", "istio-system", "istiod"],
            ["gateway", "gateway", "istio-ingress", "istio-ingressgateway"],
        ]) {
            const r = rel(n);
            assert.deepEqual(
                [r.inputs.chart, r.inputs.version, r.inputs.namespace, r.inputs.name, r.inputs.repositoryOpts.repo, r.inputs.skipAwait, r.inputs.atomic],
                [chart, "1.27.3", ns, releaseName, ISTIO_CHART_REPO, undefined, true],
            );
        }
        const urn = async (r: any) => promiseOf(r.urn) as Promise<string>;
        assert.ok(rel("cni").dependsOn.includes(await urn(mesh.base)));
        assert.ok(rel("istiod").dependsOn.includes(await urn(mesh.base)));
        assert.ok(rel("istiod").dependsOn.includes(await urn(mesh.cni)));
        assert.ok(rel("gateway").dependsOn.includes(await urn(mesh.istiod)));
        const pa = harness.one("kubernetes:security.istio.io/v1:PeerAuthentication", "m3-mtls");
        assert.ok(pa.dependsOn.includes(await urn(mesh.istiod)), "PeerAuthentication waits for istiod (CRDs from base, webhook from istiod)");
    });

    it("meshConfig: trusted proxies for the ALB, JSON access logs, CNI on; the ingress Service and its status port", async () => {
        const { IstioMesh } = await import("./index.js");
        new IstioMesh("m4", { ...ARGS, numTrustedProxies: 2 });
        await harness.settle();
        const istiod = harness.one("kubernetes:helm.sh/v3:Release", "m4-istiod").inputs.values;
        assert.deepEqual(istiod.meshConfig.defaultConfig.gatewayTopology, { numTrustedProxies: 2 });
        assert.equal(istiod.meshConfig.accessLogFile, "/dev/stdout");
        assert.equal(istiod.meshConfig.accessLogEncoding, "JSON");
        assert.deepEqual(istiod.cni, { enabled: true });
        const gw = harness.one("kubernetes:helm.sh/v3:Release", "m4-gateway").inputs.values;
        assert.equal(gw.name, "istio-ingressgateway");
        assert.equal(gw.service.type, "ClusterIP");
        assert.deepEqual(gw.service.ports.map((p: any) => [p.name, p.port]), [["status-port", 15021], ["http2", 80]]);
        assert.equal(gw.labels.istio, "ingressgateway");
        const g = harness.one("kubernetes:networking.istio.io/v1:Gateway", "m4-gateway-config").inputs;
        assert.deepEqual(g.metadata, { name: "noa-gateway", namespace: "istio-ingress" });
        assert.deepEqual(g.spec, { selector: { istio: "ingressgateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["api.noa.example.com"] }] });
    });

    it("dev: PERMISSIVE mTLS and no access log when switched off", async () => {
        const { IstioMesh } = await import("./index.js");
        new IstioMesh("m5", { ...ARGS, mtlsMode: "PERMISSIVE", accessLogging: false });
        await harness.settle();
        const pa = harness.one("kubernetes:security.istio.io/v1:PeerAuthentication", "m5-mtls").inputs;
        assert.deepEqual(pa.metadata, { name: "default", namespace: "istio-system" });
        assert.deepEqual(pa.spec, { mtls: { mode: "PERMISSIVE" } });
        assert.equal(harness.one("kubernetes:helm.sh/v3:Release", "m5-istiod").inputs.values.meshConfig.accessLogFile, "");
    });

    it("rejects bad args up front with key and value, every problem at once", async () => {
        const { normalizeIstioMeshArgs } = await import("./index.js");
        assert.throws(
            () => normalizeIstioMeshArgs("bad", { istioVersion: "latest", mtlsMode: "OFF" as never, ingressHosts: [], gatewayMinReplicas: 4, gatewayMaxReplicas: 2 }),
            {
                message: 'IstioMesh "bad": istioVersion ("latest") must be an exact Istio version (1.x.y); mtlsMode ("OFF") must be STRICT or PERMISSIVE; ' +
                    "gatewayMinReplicas (4) exceeds gatewayMaxReplicas (2); ingressHosts ([]) must list at least one host",
            },
        );
    });
});
