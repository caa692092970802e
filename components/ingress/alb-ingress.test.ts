import * as assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as k8s from "@pulumi/kubernetes";
import { childNames, harness, promiseOf } from "@noa/offline";

const PROVIDER_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC123";
const ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC123";
const HOST = "oidc.eks.us-east-1.amazonaws.com/id/ABC123";
const CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789";
const WAF = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/noa/0a1b2c3d-4e5f-6789-abcd-ef0123456789";
const A = "alb.ingress.kubernetes.io";

describe("AlbIngress", () => {
    let provider: k8s.Provider;
    before(() => harness.install({ stack: "ingress" }));
    beforeEach(() => {
        harness.reset();
        provider = new k8s.Provider("k8s", { kubeconfig: "{}" });
    });

    const base = { clusterName: "noa-test", region: "us-east-1", vpcId: "vpc-0123456789abcdef0", oidcProviderArn: PROVIDER_ARN, oidcIssuerUrl: ISSUER };
    const dev = { ...base, inboundCidrs: ["0.0.0.0/0"], idleTimeoutSeconds: 60, deletionProtection: false, accessLogs: false };
    const prod = { ...base, inboundCidrs: ["203.0.113.0/24", "198.51.100.0/24"], idleTimeoutSeconds: 120, deletionProtection: true, accessLogs: true, protect: true, certificateArn: CERT };

    async function annotationsOf(name: string) {
        return harness.one("kubernetes:networking.k8s.io/v1:Ingress", `${name}-ingress`).inputs.metadata.annotations as Record<string, string>;
    }

    it("dev: exactly the controller (policy, IRSA role, Helm release) and the Ingress; no log bucket", async () => {
        const { AlbIngress } = await import("./index.js");
        const alb = new AlbIngress("ai1", dev, { providers: { kubernetes: provider } });
        await harness.settle();
        assert.deepEqual(await childNames(alb), [
            "aws:iam/policy:Policy::ai1-controller-policy",
            "kubernetes:helm.sh/v3:Release::ai1-controller",
            "kubernetes:networking.k8s.io/v1:Ingress::ai1-ingress",
            "noa:cluster:IrsaRole::ai1-controller-irsa",
        ]);
        assert.equal(alb.accessLogBucket, undefined);
    });

    it("prod: adds the access-log bucket with its controls and delivery policy", async () => {
        const { AlbIngress } = await import("./index.js");
        const alb = new AlbIngress("ai2", prod, { providers: { kubernetes: provider } });
        await harness.settle();
        assert.deepEqual(await childNames(alb), [
            "aws:iam/policy:Policy::ai2-controller-policy",
            "aws:s3/bucket:Bucket::ai2-logs",
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration::ai2-logs-lifecycle",
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls::ai2-logs-ownership",
            "aws:s3/bucketPolicy:BucketPolicy::ai2-logs-policy",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock::ai2-logs-public-access",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration::ai2-logs-encryption",
            "aws:s3/bucketVersioning:BucketVersioning::ai2-logs-versioning",
            "kubernetes:helm.sh/v3:Release::ai2-controller",
            "kubernetes:networking.k8s.io/v1:Ingress::ai2-ingress",
            "noa:cluster:IrsaRole::ai2-controller-irsa",
        ]);
    });

    it("installs the pinned controller chart with cluster, region, VPC and its IRSA-annotated service account", async () => {
        const { AlbIngress, CONTROLLER_CHART_VERSION } = await import("./index.js");
        const alb = new AlbIngress("ai3", dev, { providers: { kubernetes: provider } });
        await harness.settle();
        const release = harness.one("kubernetes:helm.sh/v3:Release", "ai3-controller");
        assert.equal(CONTROLLER_CHART_VERSION, "1.14.1");
        assert.equal(release.inputs.chart, "aws-load-balancer-controller");
        assert.equal(release.inputs.version, "1.14.1");
        assert.deepEqual(release.inputs.repositoryOpts, { repo: "https://aws.github.io/eks-charts" });
        assert.equal(release.inputs.namespace, "kube-system");
        const roleArn = await promiseOf(alb.controllerRole.roleArn);
        assert.deepEqual(release.inputs.values, {
            clusterName: "noa-test",
            region: "us-east-1",
            vpcId: "vpc-0123456789abcdef0",
            replicaCount: 2,
            serviceAccount: { create: true, name: "aws-load-balancer-controller", annotations: { "eks.amazonaws.com/role-arn": roleArn } },
            enableServiceMutatorWebhook: false,
            podDisruptionBudget: { maxUnavailable: 1 },
            resources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "256Mi" } },
        });
        assert.ok(release.provider?.includes("k8s"), `the release uses the given Kubernetes provider (${release.provider})`);
    });

    it("gives the controller's service account the published IAM policy, trusted only for kube-system/aws-load-balancer-controller", async () => {
        const { AlbIngress } = await import("./index.js");
        new AlbIngress("ai4", dev, { providers: { kubernetes: provider } });
        await harness.settle();
        const policy = harness.one("aws:iam/policy:Policy", "ai4-controller-policy");
        const file = readFileSync(path.join(__dirname, "aws-load-balancer-controller-iam-policy.json"), "utf8");
        assert.equal(policy.inputs.policy, file, "the policy is the repository's JSON file, unchanged");
        const doc = JSON.parse(file);
        assert.equal(doc.Version, "2012-10-17");
        const actions = doc.Statement.flatMap((s: any) => [s.Action].flat());
        for (const needed of ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:DescribeListenerAttributes", "ec2:GetSecurityGroupsForVpc", "wafv2:AssociateWebACL", "acm:DescribeCertificate"]) {
            assert.ok(actions.includes(needed), `published policy includes ${needed}`);
        }
        // Mutating ELB/SG actions are fenced by the controller's cluster tag, as published.
        const create = doc.Statement.find((s: any) => [s.Action].flat().includes("elasticloadbalancing:CreateLoadBalancer"));
        assert.deepEqual(create.Condition, { Null: { "aws:RequestTag/elbv2.k8s.aws/cluster": "false" } });
        assert.ok(JSON.stringify(doc).replace(/\s/g, "").length <= 6144, "fits the managed policy size limit");
        const attachment = harness.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ai4-controller-irsa-managed-0");
        assert.equal(attachment.inputs.policyArn, policy.state.arn);
        const trust = JSON.parse(harness.one("aws:iam/role:Role", "ai4-controller-irsa-role").inputs.assumeRolePolicy);
        assert.equal(trust.Statement[0].Condition.StringEquals[`${HOST}:sub`], "system:serviceaccount:kube-system:aws-load-balancer-controller");
    });

    it("routes the ALB to the Istio ingress gateway Service by pod IP, health-checked on 15021 /healthz/ready, after the controller", async () => {
        const { AlbIngress } = await import("./index.js");
        const alb = new AlbIngress("ai5", dev, { providers: { kubernetes: provider } });
        await harness.settle();
        const ingress = harness.one("kubernetes:networking.k8s.io/v1:Ingress", "ai5-ingress");
        assert.equal(ingress.inputs.metadata.name, "noa-alb");
        assert.equal(ingress.inputs.metadata.namespace, "istio-ingress");
        assert.equal(ingress.inputs.spec.ingressClassName, "alb");
        assert.deepEqual(ingress.inputs.spec.rules, [
            { http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "istio-ingressgateway", port: { number: 80 } } } }] } },
        ]);
        const ann = await annotationsOf("ai5");
        assert.equal(ann[`${A}/target-type`], "ip");
        assert.equal(ann[`${A}/scheme`], "internet-facing");
        assert.equal(ann[`${A}/healthcheck-port`], "15021");
        assert.equal(ann[`${A}/healthcheck-path`], "/healthz/ready");
        assert.equal(ann[`${A}/group.name`], "noa");
        assert.ok(ingress.dependsOn.includes(harness.one("kubernetes:helm.sh/v3:Release", "ai5-controller").urn));
        assert.equal(await promiseOf(alb.hostname), ingress.state.status.loadBalancer.ingress[0].hostname);
        assert.match(await promiseOf(alb.hostname), /\.elb\.amazonaws\.com$/);
    });

    it("dev without a certificate: HTTP only, no redirect, no TLS policy, no deletion protection, no access logs", async () => {
        const { AlbIngress } = await import("./index.js");
        new AlbIngress("ai6", dev, { providers: { kubernetes: provider } });
        await harness.settle();
        const ann = await annotationsOf("ai6");
        assert.deepEqual(JSON.parse(ann[`${A}/listen-ports`]), [{ HTTP: 80 }]);
        for (const absent of ["certificate-arn", "ssl-redirect", "ssl-policy", "wafv2-acl-arn"]) assert.equal(ann[`${A}/${absent}`], undefined, absent);
        assert.equal(ann[`${A}/inbound-cidrs`], "0.0.0.0/0");
        assert.equal(
            ann[`${A}/load-balancer-attributes`],
            "idle_timeout.timeout_seconds=60,deletion_protection.enabled=false,routing.http.drop_invalid_header_fields.enabled=true,access_logs.s3.enabled=false",
        );
    });

    it("prod: HTTPS with the certificate and a TLS 1.2+ policy, HTTP redirected, deletion protection and access logs to its bucket", async () => {
        const { AlbIngress } = await import("./index.js");
        const alb = new AlbIngress("ai7", { ...prod, wafAclArn: WAF, groupName: "noa-prod" }, { providers: { kubernetes: provider } });
        await harness.settle();
        const ann = await annotationsOf("ai7");
        const bucket = harness.one("aws:s3/bucket:Bucket", "ai7-logs").state.bucket;
        assert.deepEqual(JSON.parse(ann[`${A}/listen-ports`]), [{ HTTP: 80 }, { HTTPS: 443 }]);
        assert.equal(ann[`${A}/certificate-arn`], CERT);
        assert.equal(ann[`${A}/ssl-redirect`], "443");
        assert.equal(ann[`${A}/ssl-policy`], "ELBSecurityPolicy-TLS13-1-2-2021-06");
        assert.equal(ann[`${A}/wafv2-acl-arn`], WAF);
        assert.equal(ann[`${A}/group.name`], "noa-prod");
        assert.equal(ann[`${A}/inbound-cidrs`], "203.0.113.0/24,198.51.100.0/24");
        assert.equal(
            ann[`${A}/load-balancer-attributes`],
            `idle_timeout.timeout_seconds=120,deletion_protection.enabled=true,routing.http.drop_invalid_header_fields.enabled=true,access_logs.s3.enabled=true,access_logs.s3.bucket=${bucket},access_logs.s3.prefix=alb`,
        );
        assert.equal(await promiseOf(alb.accessLogBucket!.bucket), bucket);
    });

    it("prod log bucket: private, SSE-S3 (ALB delivery refuses SSE-KMS), versioned, expiring, protected, writable only by the region's ELB account under this account's prefix", async () => {
        const { AlbIngress } = await import("./index.js");
        new AlbIngress("ai8", prod, { providers: { kubernetes: provider } });
        await harness.settle();
        const logs = harness.one("aws:s3/bucket:Bucket", "ai8-logs");
        assert.deepEqual([logs.protect, logs.retainOnDelete, logs.inputs.forceDestroy], [true, true, false]);
        const pab = harness.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "ai8-logs-public-access").inputs;
        assert.deepEqual([pab.blockPublicAcls, pab.blockPublicPolicy, pab.ignorePublicAcls, pab.restrictPublicBuckets], [true, true, true, true]);
        assert.deepEqual(harness.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "ai8-logs-ownership").inputs.rule, { objectOwnership: "BucketOwnerEnforced" });
        assert.deepEqual(harness.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "ai8-logs-encryption").inputs.rules, [
            { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } },
        ]);
        const rules = harness.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "ai8-logs-lifecycle").inputs.rules;
        assert.deepEqual(rules[0], { id: "expire-access-logs", status: "Enabled", filter: {}, expiration: { days: 90 }, noncurrentVersionExpiration: { noncurrentDays: 1 } });
        assert.deepEqual(harness.one("aws:s3/bucketVersioning:BucketVersioning", "ai8-logs-versioning").inputs.versioningConfiguration, { status: "Enabled" });
        const policy = harness.one("aws:s3/bucketPolicy:BucketPolicy", "ai8-logs-policy");
        const arn = logs.state.arn;
        assert.deepEqual(JSON.parse(policy.inputs.policy).Statement, [
            { Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [arn, `${arn}/*`], Condition: { Bool: { "aws:SecureTransport": "false" } } },
            { Sid: "AllowElbLogDelivery", Effect: "Allow", Principal: { AWS: "arn:aws:iam::127311923021:root" }, Action: "s3:PutObject", Resource: `${arn}/alb/AWSLogs/123456789012/*` },
        ]);
        assert.deepEqual(harness.invokesOf("aws:elb/getServiceAccount:getServiceAccount").map((i) => i.inputs.region), ["us-east-1"]);
        assert.ok(harness.one("kubernetes:networking.k8s.io/v1:Ingress", "ai8-ingress").dependsOn.includes(policy.urn), "logs are switched on only once the ALB may write them");
    });

    it("targets another gateway Service when given (R's mesh outputs)", async () => {
        const { AlbIngress } = await import("./index.js");
        new AlbIngress("ai9", { ...dev, gatewayNamespace: "edge", gatewayServiceName: "gw", gatewayServicePort: 8080, healthCheckPort: 15020 }, { providers: { kubernetes: provider } });
        await harness.settle();
        const ingress = harness.one("kubernetes:networking.k8s.io/v1:Ingress", "ai9-ingress").inputs;
        assert.equal(ingress.metadata.namespace, "edge");
        assert.deepEqual(ingress.spec.rules[0].http.paths[0].backend, { service: { name: "gw", port: { number: 8080 } } });
        assert.equal(ingress.metadata.annotations[`${A}/healthcheck-port`], "15020");
    });

    describe("bad args fail up front, naming the key and value", () => {
        it("a certificate ARN that is not an ACM ARN", async () => {
            const { AlbIngress } = await import("./index.js");
            const iamCert = "arn:aws:iam::123456789012:server-certificate/noa";
            assert.throws(() => new AlbIngress("bad1", { ...dev, certificateArn: iamCert }, { providers: { kubernetes: provider } }), {
                message: `AlbIngress "bad1": certificateArn (${JSON.stringify(iamCert)}) is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)`,
            });
            await harness.settle();
            assert.deepEqual(harness.byType("kubernetes:helm.sh/v3:Release"), []);
        });
        it("every other problem at once", async () => {
            const { normalizeAlbIngressArgs } = await import("./index.js");
            assert.throws(
                () =>
                    normalizeAlbIngressArgs("bad2", {
                        ...dev,
                        region: "mars-1",
                        inboundCidrs: ["10.0.0.1/8"],
                        idleTimeoutSeconds: 0,
                        sslPolicy: "ELBSecurityPolicy-2016-08",
                        wafAclArn: "arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
                        groupName: "Noa_Prod",
                        healthCheckPort: 70000,
                        protect: true,
                        forceDestroyLogs: true,
                    }),
                {
                    message:
                        `AlbIngress "bad2": region ("mars-1") is not an AWS region name; ` +
                        `healthCheckPort (70000) is not a port number (1–65535); ` +
                        `sslPolicy ("ELBSecurityPolicy-2016-08") is not a TLS 1.2+ ELB security policy (e.g. ELBSecurityPolicy-TLS13-1-2-2021-06); ` +
                        `sslPolicy ("ELBSecurityPolicy-2016-08") has no effect without certificateArn (there is no HTTPS listener); ` +
                        `inboundCidrs[0] ("10.0.0.1/8") is not a valid IPv4 CIDR; ` +
                        `idleTimeoutSeconds (0) must be a whole number from 1 to 4000; ` +
                        `wafAclArn ("arn:aws:wafv2:us-east-1:123456789012:global/webacl/x/0a1b2c3d-4e5f-6789-abcd-ef0123456789") is not a regional WAFv2 web ACL ARN (arn:aws:wafv2:<region>:<account>:regional/webacl/<name>/<id>); ` +
                        `groupName ("Noa_Prod") is not an ALB group name (lowercase letters, digits, - and ., at most 63); ` +
                        `forceDestroyLogs (true) contradicts protect (true)`,
                },
            );
        });
        it("no inbound CIDRs", async () => {
            const { normalizeAlbIngressArgs } = await import("./index.js");
            assert.throws(() => normalizeAlbIngressArgs("bad3", { ...dev, inboundCidrs: [] }), { message: `AlbIngress "bad3": inboundCidrs ([]) must list at least one CIDR` });
        });
    });
});
