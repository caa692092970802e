/** AWS and the mesh: eks-cluster-hardening, eks-node-groups, s3-bucket-controls, ecr-repositories, alb-ingress, istio-strict-mtls. */
import * as assert from "node:assert/strict";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import { T, assertExactly, edit, judge, named, res } from "./fixtures";

const ALL_LOGS = ["api", "audit", "authenticator", "controllerManager", "scheduler"];

function cluster() {
    return res(T.eks, "noa-prod-eks", {
        name: "noa-prod",
        roleArn: "arn:aws:iam::123456789012:role/noa-prod-cluster",
        enabledClusterLogTypes: ALL_LOGS,
        encryptionConfig: { resources: ["secrets"], provider: { keyArn: "arn:aws:kms:us-east-1:123456789012:key/1234" } },
        vpcConfig: { subnetIds: ["subnet-1", "subnet-2"], endpointPrivateAccess: true, endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.0/24"] },
    });
}

function nodeGroups() {
    const lt = res(T.launchTemplate, "noa-base-lt", { name: "noa-prod-base", metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 2, httpEndpoint: "enabled" } });
    const base = res(T.nodeGroup, "noa-base", { clusterName: "noa-prod", nodeGroupName: "base", capacityType: "ON_DEMAND", scalingConfig: { minSize: 6, desiredSize: 6, maxSize: 10 }, launchTemplate: { id: "lt-0abc", version: "1" } }, { dependsOn: [lt.urn] });
    const ltBurst = res(T.launchTemplate, "noa-burst-lt", { name: "noa-prod-burst", metadataOptions: { httpTokens: "required" } });
    const burst = res(T.nodeGroup, "noa-burst", { clusterName: "noa-prod", nodeGroupName: "burst", capacityType: "SPOT", scalingConfig: { minSize: 0, desiredSize: 0, maxSize: 10 }, launchTemplate: { name: "noa-prod-burst", version: "1" } });
    return [lt, base, ltBurst, burst];
}

function bucket(name = "noa-prod-objects") {
    const b = res(T.bucket, name, { bucket: name, forceDestroy: false });
    const deps = { dependsOn: [b.urn] };
    return [
        b,
        res(T.pab, `${name}-pab`, { bucket: name, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true }, deps),
        res(T.sse, `${name}-sse`, { bucket: name, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: "arn:aws:kms:us-east-1:123456789012:key/1" }, bucketKeyEnabled: true }] }, deps),
        res(T.versioning, `${name}-versioning`, { bucket: name, versioningConfiguration: { status: "Enabled" } }, deps),
        res(T.bucketPolicy, `${name}-policy`, {
            bucket: name,
            policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [`arn:aws:s3:::${name}`, `arn:aws:s3:::${name}/*`], Condition: { Bool: { "aws:SecureTransport": "false" } } }] }),
        }, deps),
    ];
}

const ecr = () => res(T.ecr, "noa-gateway", { name: "noa/gateway", imageTagMutability: "IMMUTABLE", imageScanningConfiguration: { scanOnPush: true } });

function ingress() {
    return res(T.ingress, "noa-edge", {
        metadata: {
            name: "noa-edge", namespace: "istio-ingress",
            annotations: {
                "alb.ingress.kubernetes.io/scheme": "internet-facing",
                "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP":80},{"HTTPS":443}]',
                "alb.ingress.kubernetes.io/ssl-redirect": "443",
                "alb.ingress.kubernetes.io/certificate-arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
                "alb.ingress.kubernetes.io/load-balancer-attributes": "idle_timeout.timeout_seconds=60,deletion_protection.enabled=true",
            },
        },
        spec: { ingressClassName: "alb", defaultBackend: { service: { name: "istio-ingressgateway", port: { number: 80 } } } },
    });
}

const peerAuth = (name: string, namespace: string, spec: Record<string, unknown>) =>
    res(T.peerAuth, `${namespace}-${name}`, { apiVersion: "security.istio.io/v1", kind: "PeerAuthentication", metadata: { name, namespace }, spec });

const SCOPE = ["eks-cluster-hardening", "eks-node-groups", "s3-bucket-controls", "ecr-repositories", "alb-ingress", "istio-strict-mtls"];
const stack = () => [cluster(), ...nodeGroups(), ...bucket(), ecr(), ingress(), peerAuth("default", "istio-system", { mtls: { mode: "STRICT" } })];

describe("AWS and mesh guardrails", () => {
    for (const env of ["dev", "prod"] as const) {
        it(`passes a hardened stack in ${env}`, async () => {
            assertExactly(await judge(stack(), env), SCOPE, []);
        });
    }

    describe("eks-cluster-hardening", () => {
        it("flags a cluster without KMS envelope encryption of Secrets", async () => {
            const s = edit(stack(), "noa-prod-eks", (p) => { delete p.encryptionConfig; });
            assertExactly(await judge(s, "prod"), SCOPE, [["eks-cluster-hardening", /^EKS cluster noa-prod does not envelope-encrypt Kubernetes Secrets with KMS/]]);
        });

        it("requires every control-plane log type in prod, api and audit in dev", async () => {
            const s = edit(stack(), "noa-prod-eks", (p) => { p.enabledClusterLogTypes = ["api", "audit"]; });
            assertExactly(await judge(s, "prod"), SCOPE, [["eks-cluster-hardening", /does not ship control-plane logs authenticator, controllerManager, scheduler/]]);
            assertExactly(await judge(s, "dev"), SCOPE, []);
        });

        it("flags a public endpoint open to the world in prod (including EKS's implicit default), not in dev", async () => {
            const open = edit(stack(), "noa-prod-eks", (p) => { p.vpcConfig.publicAccessCidrs = ["0.0.0.0/0"]; });
            assertExactly(await judge(open, "prod"), SCOPE, [["eks-cluster-hardening", /exposes its public API endpoint to the whole internet \(publicAccessCidrs \["0\.0\.0\.0\/0"\]\)/]]);
            assertExactly(await judge(open, "dev"), SCOPE, []);
            const implicit = edit(stack(), "noa-prod-eks", (p) => { delete p.vpcConfig.publicAccessCidrs; delete p.vpcConfig.endpointPublicAccess; });
            assertExactly(await judge(implicit, "prod"), SCOPE, [["eks-cluster-hardening", /whole internet/]]);
            const privateOnly = edit(stack(), "noa-prod-eks", (p) => { p.vpcConfig.endpointPublicAccess = false; p.vpcConfig.publicAccessCidrs = ["0.0.0.0/0"]; });
            assertExactly(await judge(privateOnly, "prod"), SCOPE, []);
        });
    });

    describe("eks-node-groups", () => {
        it("flags desired outside min..max and a group above the environment's size", async () => {
            const s = edit(stack(), "noa-base", (p) => { p.scalingConfig = { minSize: 6, desiredSize: 4, maxSize: 10 }; });
            assertExactly(await judge(s, "prod"), SCOPE, [["eks-node-groups", /^EKS node group base has scalingConfig min 6, desired 4, max 10; it must satisfy min ≤ desired ≤ max/]]);
            const twelve = edit(stack(), "noa-base", (p) => { p.scalingConfig.maxSize = 12; });
            assertExactly(await judge(twelve, "prod"), SCOPE, []);
            assertExactly(await judge(twelve, "dev"), SCOPE, [["eks-node-groups", /EKS node group base may grow to 12 nodes, above the environment's 10 per group/]]);
            const big = edit(stack(), "noa-burst", (p) => { p.scalingConfig.maxSize = 60; });
            assertExactly(await judge(big, "prod"), SCOPE, [["eks-node-groups", /EKS node group burst may grow to 60 nodes, above the environment's 50 per group/]]);
        });

        it("requires enough on-demand nodes (prod 3, dev 1)", async () => {
            const s = edit(stack(), "noa-base", (p) => { p.scalingConfig = { minSize: 2, desiredSize: 2, maxSize: 4 }; });
            assertExactly(await judge(s, "prod"), SCOPE, [["eks-node-groups", /on-demand node groups guarantee 2 node\(s\), below the environment's 3/]]);
            assertExactly(await judge(s, "dev"), SCOPE, []);
        });

        it("requires IMDSv2 on the launch template (found by name or by dependency), and a launch template at all", async () => {
            const optional = edit(stack(), "noa-base-lt", (p) => { p.metadataOptions.httpTokens = "optional"; });
            const v = await judge(optional, "prod");
            assertExactly(v, SCOPE, [["eks-node-groups", /EKS node group base uses launch template noa-prod-base, which does not require IMDSv2 \(httpTokens "optional"\)/]]);
            assert.equal(v.find((x) => x.policy === "eks-node-groups")!.urn, named(optional, "noa-base-lt").urn, "reported on the launch template");
            const none = stack().filter((r) => r.name !== "noa-burst-lt");
            assertExactly(await judge(none, "dev"), SCOPE, [["eks-node-groups", /EKS node group burst has no launch template in this stack, so IMDSv2 cannot be required/]]);
        });
    });

    describe("s3-bucket-controls", () => {
        const without = (type: string) => stack().filter((r) => r.type !== type);

        it("flags a bucket without a public access block, or with one flag off", async () => {
            assertExactly(await judge(without(T.pab), "prod"), SCOPE, [["s3-bucket-controls", /^S3 bucket noa-prod-objects has no public access block, so it can be made public/]]);
            const partial = edit(stack(), "noa-prod-objects-pab", (p) => { p.restrictPublicBuckets = false; });
            assertExactly(await judge(partial, "dev"), SCOPE, [["s3-bucket-controls", /has a public access block with restrictPublicBuckets off/]]);
        });

        it("requires KMS default encryption", async () => {
            assertExactly(await judge(without(T.sse), "prod"), SCOPE, [["s3-bucket-controls", /declares no default encryption/]]);
            const aes = edit(stack(), "noa-prod-objects-sse", (p) => { p.rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "AES256" }; });
            assertExactly(await judge(aes, "prod"), SCOPE, [["s3-bucket-controls", /encrypts with AES256, not KMS/]]);
        });

        it("lets an ELB access-log bucket use SSE-S3 (ELB cannot deliver to SSE-KMS), and only that", async () => {
            const elbLogs = (principal: Record<string, string>) => {
                const aes = edit(stack(), "noa-prod-objects-sse", (p) => { p.rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "AES256" }; });
                return edit(aes, "noa-prod-objects-policy", (p) => {
                    const doc = JSON.parse(p.policy);
                    doc.Statement.push({ Effect: "Allow", Principal: principal, Action: "s3:PutObject", Resource: "arn:aws:s3:::noa-prod-objects/alb/AWSLogs/123456789012/*" });
                    p.policy = JSON.stringify(doc);
                });
            };
            assertExactly(await judge(elbLogs({ AWS: "arn:aws:iam::127311923021:root" }), "prod"), SCOPE, []);
            assertExactly(await judge(elbLogs({ Service: "logdelivery.elasticloadbalancing.amazonaws.com" }), "prod"), SCOPE, []);
            assertExactly(await judge(elbLogs({ Service: "cloudtrail.amazonaws.com" }), "prod"), SCOPE, [["s3-bucket-controls", /encrypts with AES256, not KMS/]]);
        });

        it("requires versioning in prod, not in dev", async () => {
            assertExactly(await judge(without(T.versioning), "prod"), SCOPE, [["s3-bucket-controls", /does not have versioning enabled/]]);
            assertExactly(await judge(without(T.versioning), "dev"), SCOPE, []);
            const suspended = edit(stack(), "noa-prod-objects-versioning", (p) => { p.versioningConfiguration.status = "Suspended"; });
            assertExactly(await judge(suspended, "prod"), SCOPE, [["s3-bucket-controls", /does not have versioning enabled/]]);
        });

        it("requires a policy denying plain HTTP, and flags public grants", async () => {
            assertExactly(await judge(without(T.bucketPolicy), "prod"), SCOPE, [["s3-bucket-controls", /has no policy denying requests without TLS/]]);
            const pub = edit(stack(), "noa-prod-objects-policy", (p) => {
                const doc = JSON.parse(p.policy);
                doc.Statement.push({ Effect: "Allow", Principal: { AWS: "*" }, Action: "s3:GetObject", Resource: "arn:aws:s3:::noa-prod-objects/*" });
                p.policy = JSON.stringify(doc);
            });
            assertExactly(await judge(pub, "prod"), SCOPE, [["s3-bucket-controls", /has a policy allowing "s3:GetObject" to everyone/]]);
            const acl = edit(stack(), "noa-prod-objects", (p) => { p.acl = "public-read"; });
            assertExactly(await judge(acl, "prod"), SCOPE, [["s3-bucket-controls", /has a public canned ACL \(public-read\)/]]);
        });

        it("still judges a new bucket during preview, when its id, inline settings and policy document are unknown", async () => {
            const preview = () => {
                const s = stack();
                const b = named(s, "noa-prod-objects");
                Object.assign(b.state, { serverSideEncryptionConfiguration: rpc.unknownValue, versioning: rpc.unknownValue, acl: rpc.unknownValue, policy: rpc.unknownValue });
                for (const c of s.filter((r) => r.name.startsWith("noa-prod-objects-"))) {
                    c.state.bucket = rpc.unknownValue;
                    if (c.type === T.bucketPolicy) c.state.policy = rpc.unknownValue;
                }
                return s;
            };
            const compliant = await judge(preview(), "prod");
            assertExactly(compliant, SCOPE, []);
            assert.deepEqual(compliant.filter((v) => /during preview/.test(v.message)), []);
            const noSse = preview().filter((r) => r.type !== T.sse);
            assertExactly(await judge(noSse, "prod"), SCOPE, [["s3-bucket-controls", /declares no default encryption/]]);
        });

        it("judges every bucket on its own controls", async () => {
            const second = bucket("noa-prod-logs").filter((r) => r.type !== T.pab);
            assertExactly(await judge([...stack(), ...second], "prod"), SCOPE, [["s3-bucket-controls", /^S3 bucket noa-prod-logs has no public access block/]]);
        });
    });

    describe("ecr-repositories", () => {
        it("flags mutable tags and no scan on push", async () => {
            const s = edit(stack(), "noa-gateway", (p) => { delete p.imageTagMutability; p.imageScanningConfiguration.scanOnPush = false; });
            assertExactly(await judge(s, "dev"), SCOPE, [
                ["ecr-repositories", /^ECR repository noa\/gateway has MUTABLE \(default\) tags/],
                ["ecr-repositories", /does not scan images on push/],
            ]);
        });
    });

    describe("alb-ingress", () => {
        it("requires the HTTP→HTTPS redirect and deletion protection in prod, not in dev", async () => {
            const s = edit(stack(), "noa-edge", (p) => {
                delete p.metadata.annotations["alb.ingress.kubernetes.io/ssl-redirect"];
                p.metadata.annotations["alb.ingress.kubernetes.io/load-balancer-attributes"] = "idle_timeout.timeout_seconds=60";
            });
            assertExactly(await judge(s, "prod"), SCOPE, [
                ["alb-ingress", /^Ingress istio-ingress\/noa-edge does not redirect HTTP to HTTPS \(no ssl-redirect annotation\)/],
                ["alb-ingress", /provisions an ALB without deletion protection/],
            ]);
            assertExactly(await judge(s, "dev"), SCOPE, []);
        });

        it("flags an HTTP-only listener set, ignores non-ALB Ingresses, and checks aws.lb load balancers", async () => {
            const httpOnly = edit(stack(), "noa-edge", (p) => { p.metadata.annotations["alb.ingress.kubernetes.io/listen-ports"] = '[{"HTTP":80}]'; });
            assertExactly(await judge(httpOnly, "prod"), SCOPE, [["alb-ingress", /does not redirect HTTP to HTTPS \(no HTTPS listener\)/]]);
            const nginx = edit(stack(), "noa-edge", (p) => { p.spec.ingressClassName = "nginx"; p.metadata.annotations = {}; });
            assertExactly(await judge(nginx, "prod"), SCOPE, []);
            const lb = res(T.lb, "noa-nlb", { name: "noa-nlb", loadBalancerType: "application" });
            assertExactly(await judge([...stack(), lb], "prod"), SCOPE, [["alb-ingress", /^Load balancer noa-nlb has deletion protection off/]]);
        });

        it("requires aws.lb HTTP listeners to redirect to HTTPS in prod", async () => {
            const listener = (action: Record<string, unknown>) => res("aws:lb/listener:Listener", "http", { loadBalancerArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1", port: 80, protocol: "HTTP", defaultActions: [action] });
            const forward = listener({ type: "forward", targetGroupArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1" });
            assertExactly(await judge([...stack(), forward], "prod"), SCOPE, [["alb-ingress", /^Listener http on port 80 serves plain HTTP instead of redirecting to HTTPS/]]);
            assertExactly(await judge([...stack(), forward], "dev"), SCOPE, []);
            const redirect = listener({ type: "redirect", redirect: { protocol: "HTTPS", port: "443", statusCode: "HTTP_301" } });
            assertExactly(await judge([...stack(), redirect], "prod"), SCOPE, []);
        });

        it("treats every configured ALB IngressClass as an ALB, not only one named alb", async () => {
            const other = edit(stack(), "noa-edge", (p) => { p.spec.ingressClassName = "public-alb"; p.metadata.annotations["alb.ingress.kubernetes.io/listen-ports"] = '[{"HTTP":80}]'; });
            assertExactly(await judge(other, "prod"), SCOPE, []);
            assertExactly(await judge(other, "prod", { "alb-ingress": { ingressClasses: ["alb", "public-alb"] } }), SCOPE, [["alb-ingress", /does not redirect HTTP to HTTPS \(no HTTPS listener\)/]]);
        });

        it("checks the same resources registered through the aws.alb module", async () => {
            const forward = res("aws:alb/listener:Listener", "http", { loadBalancerArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1", port: 80, protocol: "HTTP", defaultActions: [{ type: "forward", targetGroupArn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/x/1" }] });
            const lb = res("aws:alb/loadBalancer:LoadBalancer", "noa-alb", { name: "noa-alb", loadBalancerType: "application" });
            assertExactly(await judge([...stack(), forward, lb], "prod"), SCOPE, [
                ["alb-ingress", /^Listener http on port 80 serves plain HTTP instead of redirecting to HTTPS/],
                ["alb-ingress", /^Load balancer noa-alb has deletion protection off/],
            ]);
        });
    });

    describe("during preview (values computed by the deployment are unknown)", () => {
        const unknown = (resources: any[], name: string, change: (p: any) => void) => edit(resources, name, change);

        it("judges what is known and defers only what is not, instead of skipping whole policies", async () => {
            const s = stack();
            unknown(s, "noa-prod-eks", (p) => { p.encryptionConfig.provider.keyArn = rpc.unknownValue; p.name = rpc.unknownValue; });
            unknown(s, "noa-base", (p) => { p.nodeGroupName = rpc.unknownValue; p.launchTemplate.id = rpc.unknownValue; });
            unknown(s, "noa-gateway", (p) => { p.name = rpc.unknownValue; });
            unknown(s, "noa-edge", (p) => { p.metadata.annotations["alb.ingress.kubernetes.io/load-balancer-attributes"] = rpc.unknownValue; });
            const v = await judge(s, "prod");
            assertExactly(v, SCOPE, []);
            assert.deepEqual(v.filter((x) => /during preview/.test(x.message)), []);
            // What is known is still judged.
            unknown(s, "noa-prod-eks", (p) => { p.encryptionConfig.resources = []; });
            unknown(s, "noa-edge", (p) => { delete p.metadata.annotations["alb.ingress.kubernetes.io/ssl-redirect"]; });
            unknown(s, "noa-base", (p) => { p.scalingConfig.maxSize = 60; });
            assertExactly(await judge(s, "prod"), SCOPE, [
                ["eks-cluster-hardening", /^EKS cluster noa-prod-eks does not envelope-encrypt Kubernetes Secrets/],
                ["alb-ingress", /does not redirect HTTP to HTTPS/],
                ["eks-node-groups", /^EKS node group noa-base may grow to 60 nodes/],
            ]);
        });
    });

    describe("istio-strict-mtls", () => {
        it("requires a mesh-wide STRICT PeerAuthentication in prod, not in dev", async () => {
            const permissive = edit(stack(), "istio-system-default", (p) => { p.spec.mtls.mode = "PERMISSIVE"; });
            assertExactly(await judge(permissive, "prod"), SCOPE, [
                ["istio-strict-mtls", /^The mesh-wide PeerAuthentication in istio-system has mode PERMISSIVE, not STRICT/],
                ["istio-strict-mtls", /PeerAuthentication istio-system\/default sets mode PERMISSIVE, downgrading/],
            ]);
            assertExactly(await judge(permissive, "dev"), SCOPE, []);
            const missing = stack().filter((r) => r.type !== T.peerAuth);
            const v = await judge(missing, "prod");
            assertExactly(v, SCOPE, [["istio-strict-mtls", /^No mesh-wide PeerAuthentication in istio-system; sidecars accept plaintext/]]);
            assert.equal(v.find((x) => x.policy === "istio-strict-mtls")!.urn, undefined, "a stack-wide finding names no resource");
        });

        it("does not count a selector-scoped or non-root PeerAuthentication as mesh-wide, and flags downgrades", async () => {
            const scoped = [...stack().filter((r) => r.type !== T.peerAuth), peerAuth("gw", "istio-system", { selector: { matchLabels: { app: "gw" } }, mtls: { mode: "STRICT" } }), peerAuth("default", "noa", { mtls: { mode: "STRICT" } })];
            assertExactly(await judge(scoped, "prod"), SCOPE, [["istio-strict-mtls", /^No mesh-wide PeerAuthentication in istio-system/]]);
            const downgrade = [...stack(), peerAuth("legacy", "noa", { mtls: { mode: "DISABLE" } }), peerAuth("metrics", "noa", { portLevelMtls: { "9090": { mode: "PERMISSIVE" } } })];
            assertExactly(await judge(downgrade, "prod"), SCOPE, [
                ["istio-strict-mtls", /^PeerAuthentication noa\/legacy sets mode DISABLE/],
                ["istio-strict-mtls", /^PeerAuthentication noa\/metrics sets port 9090 to PERMISSIVE/],
            ]);
        });
    });
});
