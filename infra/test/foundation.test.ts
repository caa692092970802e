import * as assert from "node:assert/strict";
import { Evaluation, evaluateStack, readStackConfig } from "../../scripts/offline/evaluate";
import { Registration } from "../../scripts/offline/mocks";

/** The program's foundation (VPC + EKS) for each stack, wired from Pulumi.<stack>.yaml. */
describe("foundation wiring", () => {
    const runs: Record<string, Evaluation> = {};
    before(async () => {
        runs.dev = await evaluateStack("dev");
        runs.prod = await evaluateStack("prod");
    });
    const all = (stack: string, type: string) => runs[stack].resources.filter((r) => r.type === type);
    const one = (stack: string, type: string, name: string): Registration => {
        const found = all(stack, type).filter((r) => r.name === name);
        assert.equal(found.length, 1, `${type} ${name} in ${stack}: [${all(stack, type).map((r) => r.name).join(", ")}]`);
        return found[0];
    };

    it("exports the cluster name, VPC id and a secret kubeconfig", () => {
        for (const stack of ["dev", "prod"]) {
            const { outputs } = runs[stack];
            assert.equal(outputs.clusterName, `noa-${stack}`);
            assert.equal(outputs.vpcId, one(stack, "aws:ec2/vpc:Vpc", `noa-${stack}-net-vpc`).id);
            assert.equal(outputs.kubeconfig, "[secret]");
        }
    });

    it("prod: 3 AZs with a NAT each, flow logs kept 90 days, subnets tagged for the cluster", () => {
        assert.equal(all("prod", "aws:ec2/subnet:Subnet").filter((s) => s.name.startsWith("noa-prod-net-")).length, 6);
        assert.equal(all("prod", "aws:ec2/natGateway:NatGateway").length, 3);
        assert.equal(one("prod", "aws:cloudwatch/logGroup:LogGroup", "noa-prod-net-flow-logs").inputs.retentionInDays, 90);
        assert.equal(one("prod", "aws:ec2/vpc:Vpc", "noa-prod-net-vpc").inputs.cidrBlock, "10.20.0.0/16");
        const priv = one("prod", "aws:ec2/subnet:Subnet", "noa-prod-net-private-0").inputs.tags;
        assert.deepEqual([priv["kubernetes.io/cluster/noa-prod"], priv["kubernetes.io/role/internal-elb"]], ["shared", "1"]);
    });

    it("dev: 2 AZs sharing one NAT, no flow logs", () => {
        assert.equal(all("dev", "aws:ec2/subnet:Subnet").filter((s) => s.name.startsWith("noa-dev-net-")).length, 4);
        assert.equal(all("dev", "aws:ec2/natGateway:NatGateway").length, 1);
        assert.equal(all("dev", "aws:ec2/flowLog:FlowLog").length, 0);
    });

    it("the cluster runs in the VPC's private subnets", () => {
        for (const stack of ["dev", "prod"]) {
            const privateIds = all(stack, "aws:ec2/subnet:Subnet").filter((s) => /-net-private-\d$/.test(s.name)).map((s) => s.id);
            const cluster = one(stack, "aws:eks/cluster:Cluster", `noa-${stack}-eks`).inputs;
            assert.deepEqual(cluster.vpcConfig.subnetIds, privateIds);
            // Spanning groups take every private subnet; prod's zonal base group is one group per AZ, each in its own.
            const spanning = stack === "prod" ? ["burst"] : ["base", "burst"];
            for (const group of spanning) assert.deepEqual(one(stack, "aws:eks/nodeGroup:NodeGroup", `noa-${stack}-${group}`).inputs.subnetIds, privateIds);
            if (stack === "prod") {
                privateIds.forEach((id, i) => assert.deepEqual(one(stack, "aws:eks/nodeGroup:NodeGroup", `noa-prod-base-z${i + 1}`).inputs.subnetIds, [id]));
                assert.equal(privateIds.length, 3);
            }
        }
    });

    it("prod vs dev: logs, endpoint CIDRs, admin access, protection, node group sizes from the stack files", () => {
        const prod = one("prod", "aws:eks/cluster:Cluster", "noa-prod-eks").inputs;
        const dev = one("dev", "aws:eks/cluster:Cluster", "noa-dev-eks").inputs;
        assert.deepEqual(prod.enabledClusterLogTypes, ["api", "audit", "authenticator", "controllerManager", "scheduler"]);
        assert.deepEqual(dev.enabledClusterLogTypes, ["api", "audit"]);
        assert.deepEqual([prod.vpcConfig.publicAccessCidrs, prod.vpcConfig.endpointPrivateAccess], [["203.0.113.0/24"], true]);
        assert.deepEqual([prod.deletionProtection, dev.deletionProtection], [true, false]);
        assert.deepEqual([prod.upgradePolicy, dev.upgradePolicy], [{ supportType: "STANDARD" }, { supportType: "STANDARD" }]);
        assert.equal(one("prod", "aws:cloudwatch/logGroup:LogGroup", "noa-prod-control-plane").inputs.retentionInDays, 90);
        assert.equal(one("dev", "aws:cloudwatch/logGroup:LogGroup", "noa-dev-control-plane").inputs.retentionInDays, 7);

        const prodKey = one("prod", "aws:kms/key:Key", "noa-prod-secrets");
        const devKey = one("dev", "aws:kms/key:Key", "noa-dev-secrets");
        assert.deepEqual([prodKey.protect, prodKey.retainOnDelete, devKey.protect, devKey.retainOnDelete], [true, true, false, false]);

        assert.deepEqual(all("prod", "aws:eks/accessEntry:AccessEntry").map((r) => r.inputs.principalArn), ["arn:aws:iam::123456789012:role/noa-platform-admins"]);
        assert.equal(all("dev", "aws:eks/accessEntry:AccessEntry").length, 0);

        const sizes = (stack: string, group: string) => {
            const ng = one(stack, "aws:eks/nodeGroup:NodeGroup", `noa-${stack}-${group}`);
            return [ng.inputs.capacityType, ng.inputs.scalingConfig, ng.ignoreChanges];
        };
        // prod's base (6/6/12, zonal) is three groups of 2/2/4.
        for (const z of [1, 2, 3]) assert.deepEqual(sizes("prod", `base-z${z}`), ["ON_DEMAND", { minSize: 2, desiredSize: 2, maxSize: 4 }, ["scalingConfig.desiredSize"]]);
        assert.deepEqual(sizes("prod", "burst"), ["SPOT", { minSize: 0, desiredSize: 0, maxSize: 20 }, ["scalingConfig.desiredSize"]]);
        assert.deepEqual(sizes("dev", "base"), ["ON_DEMAND", { minSize: 3, desiredSize: 3, maxSize: 5 }, ["scalingConfig.desiredSize"]]);
        assert.equal(one("prod", "aws:ec2/launchTemplate:LaunchTemplate", "noa-prod-base").inputs.blockDeviceMappings[0].ebs.volumeSize, 100);
        assert.equal(one("prod", "kubernetes:storage.k8s.io/v1:StorageClass", "noa-prod-gp3-encrypted").inputs.reclaimPolicy, "Retain");
        assert.equal(one("dev", "kubernetes:storage.k8s.io/v1:StorageClass", "noa-dev-gp3-encrypted").inputs.reclaimPolicy, "Delete");
    });

    it("prod snapshots the stores' volumes daily (7 days, copied to us-west-2); dev takes none", () => {
        const policy = one("prod", "aws:dlm/lifecyclePolicy:LifecyclePolicy", "noa-prod-snapshots").inputs.policyDetails;
        assert.deepEqual(policy.targetTags, { "noa.io/snapshots": "noa-prod" });
        assert.deepEqual(policy.schedules[0].createRule, { interval: 24, intervalUnit: "HOURS", times: "03:00" });
        assert.deepEqual(policy.schedules[0].retainRule, { count: 7 });
        assert.deepEqual(policy.schedules[0].crossRegionCopyRules.map((r: any) => [r.target, r.retainRule]), [["us-west-2", { interval: 7, intervalUnit: "DAYS" }]]);
        assert.equal(one("prod", "kubernetes:storage.k8s.io/v1:StorageClass", "noa-prod-gp3-encrypted").inputs.parameters.tagSpecification_1, "noa.io/snapshots=noa-prod");
        assert.equal(all("dev", "aws:dlm/lifecyclePolicy:LifecyclePolicy").length, 0);
    });

    it("refuses a snapshot copy to the stack's own region, or a bad snapshot time, before any resource", async () => {
        const { config } = readStackConfig("prod");
        const cluster = JSON.parse(config["noa:cluster"]);
        cluster.volumeSnapshots = { enabled: true, time: "25:00", copyToRegion: "us-east-1" };
        await assert.rejects(
            evaluateStack("prod", { ...config, "noa:cluster": JSON.stringify(cluster) }),
            (err: Error) =>
                err.name === "ConfigError" &&
                err.message.includes(`noa:cluster.volumeSnapshots.time ("25:00") is not a UTC time like "03:00"`) &&
                err.message.includes(`noa:cluster.volumeSnapshots.copyToRegion ("us-east-1") is the stack's own aws:region`),
        );
    });

    it("turns the public API endpoint off for an empty publicAccessCidrs (deploys then run inside the VPC)", async () => {
        const { config } = readStackConfig("prod");
        const cluster = JSON.parse(config["noa:cluster"]);
        cluster.publicAccessCidrs = [];
        const { resources } = await evaluateStack("prod", { ...config, "noa:cluster": JSON.stringify(cluster) });
        const eks = resources.find((r) => r.type === "aws:eks/cluster:Cluster")!.inputs.vpcConfig;
        assert.deepEqual([eks.endpointPublicAccess, eks.endpointPrivateAccess, eks.publicAccessCidrs], [false, true, undefined]);
    });

    it("rejects a node group whose minSize exceeds maxSize, and a retention CloudWatch does not accept, before any resource", async () => {
        const { config } = readStackConfig("prod");
        const cluster = JSON.parse(config["noa:cluster"]);
        cluster.nodeGroups.burst.minSize = 25;
        cluster.logRetentionDays = 45;
        const network = JSON.parse(config["noa:network"]);
        network.cidr = "10.20.0.0/33";
        await assert.rejects(
            evaluateStack("prod", { ...config, "noa:cluster": JSON.stringify(cluster), "noa:network": JSON.stringify(network) }),
            (err: Error) =>
                err.name === "ConfigError" &&
                err.message.includes("noa:cluster.nodeGroups.burst.minSize (25) exceeds maxSize (20)") &&
                err.message.includes("noa:cluster.logRetentionDays (45) is not a CloudWatch Logs retention") &&
                err.message.includes(`noa:network.cidr ("10.20.0.0/33")`),
        );
    });
});
