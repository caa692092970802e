import * as assert from "node:assert/strict";
import type * as Pulumi from "@pulumi/pulumi";
import { harness, promiseOf, childNames } from "../index";

describe("offline harness", () => {
    let pulumi: typeof import("@pulumi/pulumi");
    let aws: typeof import("@pulumi/aws");
    let k8s: typeof import("@pulumi/kubernetes");
    let random: typeof import("@pulumi/random");

    before(async () => {
        harness.install({ stack: "harness" });
        pulumi = await import("@pulumi/pulumi");
        aws = await import("@pulumi/aws");
        k8s = await import("@pulumi/kubernetes");
        random = await import("@pulumi/random");
    });
    beforeEach(() => harness.reset());

    it("records parents, options and secret inputs of every registration", async () => {
        class Box extends pulumi.ComponentResource {
            constructor(name: string, opts?: Pulumi.ComponentResourceOptions) {
                super("test:index:Box", name, {}, opts);
                const password = new random.RandomPassword(`${name}-pw`, { length: 24 }, { parent: this });
                new k8s.core.v1.Secret(`${name}-secret`, { stringData: { password: password.result } }, { parent: this, protect: true });
                this.registerOutputs({});
            }
        }
        const box = new Box("b1");
        await harness.settle();
        assert.deepEqual(await childNames(box), [
            "kubernetes:core/v1:Secret::b1-secret",
            "random:index/randomPassword:RandomPassword::b1-pw",
        ]);
        const secret = harness.one("kubernetes:core/v1:Secret", "b1-secret");
        assert.equal(secret.protect, true);
        // Pulumi lifts secretness to the top-level input that contains a secret.
        assert.deepEqual(secret.secretPaths, ["stringData"]);
        assert.equal(secret.inputs.stringData.password.length, 24);
        // Kubernetes auto-naming: logical name plus a suffix, default namespace.
        assert.match(secret.state.metadata.name, /^b1-secret-[0-9a-f]{8}$/);
        assert.equal(secret.state.metadata.namespace, "default");
        assert.equal(harness.one("random:index/randomPassword:RandomPassword", "b1-pw").protect, false);
    });

    it("emulates AWS names, ARNs and EKS outputs deterministically", async () => {
        const role = new aws.iam.Role("r1", { assumeRolePolicy: "{}" });
        const cluster = new aws.eks.Cluster("c1", { roleArn: role.arn, vpcConfig: { subnetIds: ["subnet-1"] } });
        const [roleArn, issuer, endpoint] = await Promise.all([
            promiseOf(role.arn),
            promiseOf(cluster.identities[0].oidcs[0].issuer),
            promiseOf(cluster.endpoint),
        ]);
        assert.match(roleArn, /^arn:aws:iam::123456789012:role\/r1-[0-9a-f]{7}$/);
        assert.match(issuer, /^https:\/\/oidc\.eks\.us-east-1\.amazonaws\.com\/id\/[0-9A-F]{32}$/);
        assert.match(endpoint, /^https:\/\/[0-9A-F]{32}\.gr7\.us-east-1\.eks\.amazonaws\.com$/);
        await harness.settle();
        assert.equal(harness.one("aws:eks/cluster:Cluster", "c1").inputs.roleArn, roleArn);
    });

    it("computes IAM policy documents and records invokes", async () => {
        const doc = await aws.iam.getPolicyDocument({
            statements: [{ actions: ["s3:GetObject"], resources: ["arn:aws:s3:::b/*"], conditions: [{ test: "Bool", variable: "aws:SecureTransport", values: ["true"] }] }],
        });
        assert.deepEqual(JSON.parse(doc.json), {
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*", Condition: { Bool: { "aws:SecureTransport": "true" } } }],
        });
        assert.equal(harness.invokesOf("aws:iam/getPolicyDocument:getPolicyDocument").length, 1);
    });

    it("throws on an invoke it does not emulate instead of returning {}", async () => {
        await assert.rejects(aws.ec2.getAmi({ owners: ["amazon"], mostRecent: true }), /no emulation for invoke "aws:ec2\/getAmi:getAmi"/);
    });
});
