import * as assert from "node:assert/strict";
import { childNames, harness, promiseOf } from "@noa/offline";
import type { EksClusterArgs } from "./index.js";

const ADMIN = "arn:aws:iam::123456789012:role/noa-platform-admins";

/** A prod-like cluster's args (the shape infra builds from Pulumi.prod.yaml). */
function prodArgs(clusterName: string): EksClusterArgs {
    return {
        clusterName,
        kubernetesVersion: "1.33",
        subnetIds: ["subnet-a", "subnet-b", "subnet-c"],
        publicAccessCidrs: ["203.0.113.0/24"],
        adminPrincipalArns: [ADMIN],
        logTypes: ["api", "audit", "authenticator", "controllerManager", "scheduler"],
        logRetentionDays: 90,
        nodeGroups: {
            base: { instanceTypes: ["m6i.xlarge"], capacityType: "ON_DEMAND", minSize: 6, desiredSize: 6, maxSize: 12, diskSizeGiB: 100, labels: { "noa.io/pool": "base" } },
            burst: {
                instanceTypes: ["m6i.xlarge", "m6a.xlarge"],
                capacityType: "SPOT",
                minSize: 0,
                desiredSize: 0,
                maxSize: 20,
                diskSizeGiB: 100,
                labels: { "noa.io/pool": "burst" },
                taints: [{ key: "noa.io/spot", value: "true", effect: "PREFER_NO_SCHEDULE" }],
            },
        },
        protect: true,
        tags: { "noa.io/stack": "prod" },
    };
}

/** A dev-like cluster: public endpoint open, two log types, nothing protected, one add-on pinned. */
function devArgs(clusterName: string): EksClusterArgs {
    return {
        clusterName,
        kubernetesVersion: "1.33",
        subnetIds: ["subnet-a", "subnet-b"],
        publicAccessCidrs: ["0.0.0.0/0"],
        logTypes: ["api", "audit"],
        logRetentionDays: 7,
        nodeGroups: { base: { instanceTypes: ["t3.large"], minSize: 3, maxSize: 5, diskSizeGiB: 40 } },
        addonVersions: { coredns: "v1.12.1-eksbuild.2" },
        protect: false,
    };
}

describe("EksCluster", () => {
    before(() => harness.install());
    beforeEach(() => harness.reset());

    describe("normalizeEksClusterArgs", () => {
        it("applies defaults (?? keeps configured zeros)", async () => {
            const { normalizeEksClusterArgs } = await import("./index.js");
            const n = normalizeEksClusterArgs("c", {
                kubernetesVersion: "1.33",
                subnetIds: [],
                publicAccessCidrs: [],
                nodeGroups: { burst: { instanceTypes: ["m5.large"], capacityType: "SPOT", minSize: 0, maxSize: 3 } },
            });
            assert.equal(n.clusterName, "c");
            assert.deepEqual(n.logTypes, ["api", "audit", "authenticator", "controllerManager", "scheduler"]);
            assert.deepEqual([n.logRetentionDays, n.imdsHopLimit, n.protect, n.metricsServer, n.storageClass], [90, 1, false, true, true]);
            assert.deepEqual(n.clusterAutoscaler, { enabled: true, imageTag: "v1.33.0" });
            assert.deepEqual(n.nodeGroups.burst, {
                instanceTypes: ["m5.large"],
                capacityType: "SPOT",
                minSize: 0,
                desiredSize: 0,
                maxSize: 3,
                diskSizeGiB: 50,
                labels: {},
                taints: [],
                amiType: "AL2023_x86_64_STANDARD",
                maxUnavailablePercentage: 33,
                autoscalerPriority: 50,
                zonal: false,
            });
            assert.deepEqual(n.zoneSubnetIds, []);
        });

        const bad: [string, (a: any) => void, string][] = [
            ["node group min > max", (a) => (a.nodeGroups.base.minSize = 13), `nodeGroups.base.minSize (13) exceeds maxSize (12)`],
            ["desired outside min..max", (a) => (a.nodeGroups.burst.desiredSize = 21), `nodeGroups.burst.desiredSize (21) must be between minSize (0) and maxSize (20)`],
            ["an invalid public CIDR", (a) => (a.publicAccessCidrs = ["203.0.113.0/33"]), `publicAccessCidrs[0] ("203.0.113.0/33") is not an IPv4 CIDR`],
            ["an unknown log type", (a) => (a.logTypes = ["api", "kubelet"]), `logTypes[1] ("kubelet") must be one of api, audit, authenticator, controllerManager, scheduler`],
            ["a retention CloudWatch rejects", (a) => (a.logRetentionDays = 45), `logRetentionDays (45) is not a CloudWatch Logs retention`],
            ["a bad Kubernetes version", (a) => (a.kubernetesVersion = "1.33.2"), `kubernetesVersion ("1.33.2") is not a Kubernetes minor version like "1.33"`],
            ["an admin that is not an IAM principal", (a) => (a.adminPrincipalArns = ["arn:aws:iam::123456789012:group/admins"]), `adminPrincipalArns[0] ("arn:aws:iam::123456789012:group/admins") is not an IAM role or user ARN`],
            ["a duplicate admin", (a) => (a.adminPrincipalArns = [ADMIN, ADMIN]), `adminPrincipalArns[1] ("${ADMIN}") is listed twice`],
            ["no node groups", (a) => (a.nodeGroups = {}), `nodeGroups ({}) must define at least one node group`],
            ["a bad taint effect", (a) => (a.nodeGroups.burst.taints = [{ key: "x", effect: "NoSchedule" }]), `nodeGroups.burst.taints[0].effect ("NoSchedule") must be one of NO_SCHEDULE, NO_EXECUTE, PREFER_NO_SCHEDULE`],
            ["an empty instance list", (a) => (a.nodeGroups.base.instanceTypes = []), `nodeGroups.base.instanceTypes ([]) must list at least one instance type`],
            ["a bad IMDS hop limit", (a) => (a.imdsHopLimit = 3), `imdsHopLimit (3) must be 1 or 2`],
            ["an unknown add-on", (a) => (a.addonVersions = { "kube-dns": "v1.0.0-eksbuild.1" }), `addonVersions.kube-dns ("v1.0.0-eksbuild.1") is not a managed add-on (vpc-cni, kube-proxy, coredns, aws-ebs-csi-driver)`],
            ["a too-long node group name", (a) => (a.clusterName = "noa-production-cluster-us-east-1"), `nodeGroups.burst ("burst") makes the node group name prefix "noa-production-cluster-us-east-1-burst-" longer than 37 characters`],
            ["a zonal group without zone subnets", (a) => (a.nodeGroups.base.zonal = true), `nodeGroups.base.zonal (true) needs zoneSubnetIds: one private subnet per availability zone`],
            ["a zonal group whose sizes do not split over the zones", (a) => {
                a.zoneSubnetIds = ["subnet-a", "subnet-b", "subnet-c"];
                a.nodeGroups.base = { ...a.nodeGroups.base, zonal: true, minSize: 4, desiredSize: 6, maxSize: 11 };
            }, `nodeGroups.base.minSize (4) must divide evenly over the 3 zones of a zonal group; nodeGroups.base.maxSize (11) must divide evenly over the 3 zones of a zonal group`],
            ["a zonal group whose zone names get too long", (a) => {
                a.clusterName = "noa-production-cluster-east";
                a.zoneSubnetIds = ["subnet-a", "subnet-b", "subnet-c"];
                a.nodeGroups = { basepool: { ...a.nodeGroups.base, zonal: true } };
            }, `nodeGroups.basepool ("basepool") makes the node group name prefix "noa-production-cluster-east-basepool-z3-" longer than 37 characters`],
        ];
        for (const [label, mutate, message] of bad) {
            it(`rejects ${label}`, async () => {
                const { normalizeEksClusterArgs } = await import("./index.js");
                const args = structuredClone(prodArgs("noa-prod")) as any;
                mutate(args);
                assert.throws(() => normalizeEksClusterArgs("c", args), (e: Error) => e.message.startsWith(`EksCluster "c": `) && e.message.includes(message));
            });
        }
        it("reports every problem in one error", async () => {
            const { normalizeEksClusterArgs } = await import("./index.js");
            const args = structuredClone(prodArgs("noa-prod")) as any;
            args.nodeGroups.base.minSize = 20;
            args.logRetentionDays = 45;
            assert.throws(() => normalizeEksClusterArgs("c", args), {
                message: `EksCluster "c": logRetentionDays (45) is not a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653); nodeGroups.base.minSize (20) exceeds maxSize (12)`,
            });
        });
        it("names admin children after the principal", async () => {
            const { principalSlug } = await import("./index.js");
            assert.equal(principalSlug(ADMIN), "role-noa-platform-admins");
            assert.equal(principalSlug("arn:aws:iam::123456789012:user/ops/Jane.Doe"), "user-ops-jane-doe");
        });
    });

    it("prod: exact children, encryption, private endpoint, access entries, all logs, protection", async () => {
        const { EksCluster } = await import("./index.js");
        const c = new EksCluster("eprod", prodArgs("noa-eprod"));
        await harness.settle();
        assert.deepEqual(await childNames(c), [
            "aws:autoscaling/tag:Tag::eprod-base-label-noa-io-pool",
            "aws:autoscaling/tag:Tag::eprod-burst-label-noa-io-pool",
            "aws:autoscaling/tag:Tag::eprod-burst-taint-noa-io-spot",
            "aws:cloudwatch/logGroup:LogGroup::eprod-control-plane",
            "aws:ec2/launchTemplate:LaunchTemplate::eprod-base",
            "aws:ec2/launchTemplate:LaunchTemplate::eprod-burst",
            "aws:eks/accessEntry:AccessEntry::eprod-admin-role-noa-platform-admins",
            "aws:eks/accessPolicyAssociation:AccessPolicyAssociation::eprod-admin-role-noa-platform-admins",
            "aws:eks/addon:Addon::eprod-aws-ebs-csi-driver",
            "aws:eks/addon:Addon::eprod-coredns",
            "aws:eks/addon:Addon::eprod-kube-proxy",
            "aws:eks/addon:Addon::eprod-vpc-cni",
            "aws:eks/cluster:Cluster::eprod-eks",
            "aws:eks/nodeGroup:NodeGroup::eprod-base",
            "aws:eks/nodeGroup:NodeGroup::eprod-burst",
            "aws:iam/openIdConnectProvider:OpenIdConnectProvider::eprod-oidc",
            "aws:iam/role:Role::eprod-cluster",
            "aws:iam/role:Role::eprod-node",
            "aws:iam/rolePolicy:RolePolicy::eprod-cluster-encryption",
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment::eprod-cluster",
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment::eprod-node-AmazonEC2ContainerRegistryReadOnly",
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment::eprod-node-AmazonEKSWorkerNodePolicy",
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment::eprod-node-AmazonSSMManagedInstanceCore",
            "aws:kms/alias:Alias::eprod-secrets",
            "aws:kms/key:Key::eprod-secrets",
            "kubernetes:helm.sh/v3:Release::eprod-cluster-autoscaler",
            "kubernetes:helm.sh/v3:Release::eprod-metrics-server",
            "kubernetes:storage.k8s.io/v1:StorageClass::eprod-gp3-encrypted",
            "noa:cluster:IrsaRole::eprod-aws-node",
            "noa:cluster:IrsaRole::eprod-cluster-autoscaler",
            "noa:cluster:IrsaRole::eprod-ebs-csi-controller-sa",
            "pulumi:providers:kubernetes::eprod-k8s",
        ]);

        const key = harness.one("aws:kms/key:Key", "eprod-secrets");
        assert.deepEqual([key.inputs.enableKeyRotation, key.protect, key.retainOnDelete], [true, true, true]);
        const logGroup = harness.one("aws:cloudwatch/logGroup:LogGroup", "eprod-control-plane");
        assert.deepEqual([logGroup.inputs.name, logGroup.inputs.retentionInDays], ["/aws/eks/noa-eprod/cluster", 90]);

        const cluster = harness.one("aws:eks/cluster:Cluster", "eprod-eks");
        const i = cluster.inputs;
        assert.equal(i.name, "noa-eprod");
        assert.equal(i.version, "1.33");
        assert.deepEqual(i.upgradePolicy, { supportType: "STANDARD" });
        assert.deepEqual(i.encryptionConfig, { provider: { keyArn: key.state.arn }, resources: ["secrets"] });
        assert.deepEqual(i.vpcConfig, { subnetIds: ["subnet-a", "subnet-b", "subnet-c"], endpointPrivateAccess: true, endpointPublicAccess: true, publicAccessCidrs: ["203.0.113.0/24"] });
        assert.deepEqual(i.enabledClusterLogTypes, ["api", "audit", "authenticator", "controllerManager", "scheduler"]);
        assert.deepEqual(i.accessConfig, { authenticationMode: "API", bootstrapClusterCreatorAdminPermissions: true });
        assert.equal(i.bootstrapSelfManagedAddons, false);
        assert.equal(i.deletionProtection, true);
        // The log group exists before the cluster, or EKS creates it without retention.
        assert.ok(cluster.dependsOn.includes(logGroup.urn));

        const encryption = JSON.parse(harness.one("aws:iam/rolePolicy:RolePolicy", "eprod-cluster-encryption").inputs.policy);
        assert.deepEqual(encryption.Statement[0].Resource, key.state.arn);
        assert.deepEqual(JSON.parse(harness.one("aws:iam/role:Role", "eprod-cluster").inputs.assumeRolePolicy).Statement[0].Principal, { Service: "eks.amazonaws.com" });

        const entry = harness.one("aws:eks/accessEntry:AccessEntry", "eprod-admin-role-noa-platform-admins").inputs;
        assert.deepEqual([entry.clusterName, entry.principalArn, entry.type], ["noa-eprod", ADMIN, "STANDARD"]);
        const assoc = harness.one("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "eprod-admin-role-noa-platform-admins").inputs;
        assert.deepEqual(assoc, {
            clusterName: "noa-eprod",
            principalArn: ADMIN,
            policyArn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
            accessScope: { type: "cluster" },
        });

        const issuer = cluster.state.identities[0].oidcs[0].issuer;
        const oidc = harness.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "eprod-oidc");
        assert.deepEqual([oidc.inputs.url, oidc.inputs.clientIdLists], [issuer, ["sts.amazonaws.com"]]);
        assert.equal(await promiseOf(c.oidcIssuerUrl), issuer);
        assert.equal(await promiseOf(c.oidcProviderArn), oidc.state.arn);
        assert.equal(await promiseOf(c.clusterSecurityGroupId), cluster.state.vpcConfig.clusterSecurityGroupId);
        assert.equal(await promiseOf(c.clusterName), "noa-eprod");
    });

    it("prod: node groups — sizes, labels, taints, IMDSv2 launch templates, autoscaler ownership of desired size", async () => {
        const { EksCluster } = await import("./index.js");
        new EksCluster("eng", prodArgs("noa-eng"));
        await harness.settle();
        const base = harness.one("aws:eks/nodeGroup:NodeGroup", "eng-base");
        const burst = harness.one("aws:eks/nodeGroup:NodeGroup", "eng-burst");
        for (const ng of [base, burst]) assert.deepEqual(ng.ignoreChanges, ["scalingConfig.desiredSize"]);
        assert.deepEqual(base.inputs.scalingConfig, { minSize: 6, desiredSize: 6, maxSize: 12 });
        assert.deepEqual(burst.inputs.scalingConfig, { minSize: 0, desiredSize: 0, maxSize: 20 });
        assert.deepEqual([base.inputs.capacityType, burst.inputs.capacityType], ["ON_DEMAND", "SPOT"]);
        assert.deepEqual(burst.inputs.instanceTypes, ["m6i.xlarge", "m6a.xlarge"]);
        assert.deepEqual([base.inputs.labels, base.inputs.taints], [{ "noa.io/pool": "base" }, []]);
        assert.deepEqual(burst.inputs.taints, [{ key: "noa.io/spot", value: "true", effect: "PREFER_NO_SCHEDULE" }]);
        assert.deepEqual([burst.inputs.nodeGroupNamePrefix, burst.inputs.version, burst.inputs.amiType], ["noa-eng-burst-", "1.33", "AL2023_x86_64_STANDARD"]);
        assert.deepEqual(burst.inputs.subnetIds, ["subnet-a", "subnet-b", "subnet-c"]);
        assert.equal(burst.inputs.tags["k8s.io/cluster-autoscaler/enabled"], "true");
        assert.equal(burst.inputs.tags["k8s.io/cluster-autoscaler/noa-eng"], "owned");
        assert.equal(burst.inputs.diskSize, undefined, "disk size lives in the launch template");

        const lt = harness.one("aws:ec2/launchTemplate:LaunchTemplate", "eng-burst");
        assert.deepEqual(burst.inputs.launchTemplate, { id: lt.id, version: "1" });
        assert.deepEqual(lt.inputs.metadataOptions, { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1, instanceMetadataTags: "disabled" });
        assert.deepEqual(lt.inputs.blockDeviceMappings, [{ deviceName: "/dev/xvda", ebs: { volumeSize: 100, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" } }]);

        // Scale-from-zero hints go on the ASG EKS created for the group.
        const asg = burst.state.resources[0].autoscalingGroups[0].name;
        const taintTag = harness.one("aws:autoscaling/tag:Tag", "eng-burst-taint-noa-io-spot").inputs;
        assert.deepEqual(taintTag, { autoscalingGroupName: asg, tag: { key: "k8s.io/cluster-autoscaler/node-template/taint/noa.io/spot", value: "true:PreferNoSchedule", propagateAtLaunch: false } });

        // Nodes wait for their CNI; CoreDNS and the EBS driver wait for nodes.
        const addon = (n: string) => harness.one("aws:eks/addon:Addon", `eng-${n}`);
        for (const ng of [base, burst]) {
            assert.ok(ng.dependsOn.includes(addon("vpc-cni").urn) && ng.dependsOn.includes(addon("kube-proxy").urn));
        }
        for (const n of ["coredns", "aws-ebs-csi-driver"]) {
            assert.ok(addon(n).dependsOn.includes(base.urn) && addon(n).dependsOn.includes(burst.urn), `${n} waits for nodes`);
        }
        const nodeTrust = JSON.parse(harness.one("aws:iam/role:Role", "eng-node").inputs.assumeRolePolicy);
        assert.deepEqual(nodeTrust.Statement[0].Principal, { Service: "ec2.amazonaws.com" });
        // The CNI policy is on the aws-node IRSA role, not the node role.
        assert.ok(!harness.byType("aws:iam/rolePolicyAttachment:RolePolicyAttachment").some((r) => r.name.startsWith("eng-node-") && String(r.inputs.policyArn).endsWith("AmazonEKS_CNI_Policy")));
    });

    it("zonal: one managed group per zone with its share of the sizes, one launch template, the zone's subnet only", async () => {
        const { EksCluster } = await import("./index.js");
        const args = prodArgs("noa-zon");
        const c = new EksCluster("zon", {
            ...args,
            zoneSubnetIds: ["subnet-a", "subnet-b", "subnet-c"],
            nodeGroups: { ...args.nodeGroups, base: { ...args.nodeGroups.base, zonal: true } },
        });
        await harness.settle();
        assert.deepEqual(harness.byType("aws:eks/nodeGroup:NodeGroup").map((r) => r.name).sort(), ["zon-base-z1", "zon-base-z2", "zon-base-z3", "zon-burst"]);
        assert.deepEqual(Object.keys(c.nodeGroups).sort(), ["base-z1", "base-z2", "base-z3", "burst"]);
        const lt = harness.one("aws:ec2/launchTemplate:LaunchTemplate", "zon-base");
        assert.equal(harness.byType("aws:ec2/launchTemplate:LaunchTemplate").length, 2, "one template per group, shared by its zones");
        ["subnet-a", "subnet-b", "subnet-c"].forEach((subnet, i) => {
            const ng = harness.one("aws:eks/nodeGroup:NodeGroup", `zon-base-z${i + 1}`);
            assert.deepEqual(ng.inputs.subnetIds, [subnet]);
            assert.deepEqual(ng.inputs.scalingConfig, { minSize: 2, desiredSize: 2, maxSize: 4 });
            assert.equal(ng.inputs.nodeGroupNamePrefix, `noa-zon-base-z${i + 1}-`);
            assert.deepEqual(ng.inputs.labels, { "noa.io/pool": "base" });
            assert.deepEqual(ng.inputs.launchTemplate, { id: lt.id, version: "1" });
            assert.deepEqual(ng.ignoreChanges, ["scalingConfig.desiredSize"]);
            assert.equal(ng.inputs.tags["k8s.io/cluster-autoscaler/enabled"], "true");
            // Every zone's ASG gets the scale-from-zero label hint.
            const asg = ng.state.resources[0].autoscalingGroups[0].name;
            assert.equal(harness.one("aws:autoscaling/tag:Tag", `zon-base-z${i + 1}-label-noa-io-pool`).inputs.autoscalingGroupName, asg);
        });
        assert.deepEqual(harness.one("aws:eks/nodeGroup:NodeGroup", "zon-burst").inputs.subnetIds, ["subnet-a", "subnet-b", "subnet-c"]);
        // CoreDNS and the EBS driver wait for every zone's nodes.
        const coredns = harness.one("aws:eks/addon:Addon", "zon-coredns");
        for (const z of [1, 2, 3]) assert.ok(coredns.dependsOn.includes(harness.one("aws:eks/nodeGroup:NodeGroup", `zon-base-z${z}`).urn));
        // One autoscaler priority entry per group still matches all of its zones' ASGs.
        const release = harness.one("kubernetes:helm.sh/v3:Release", "zon-cluster-autoscaler");
        assert.deepEqual((release.inputs.values as any).expanderPriorities, { "10": ["^eks-noa-zon-base-.*"], "50": ["^eks-noa-zon-burst-.*"] });
        assert.match("eks-noa-zon-base-z2-20261122-abc", new RegExp("^eks-noa-zon-base-.*"));
        assert.equal((release.inputs.values as any).extraArgs["balance-similar-node-groups"], true);
    });

    it("prod: managed add-ons with IRSA, default versions, and the Kubernetes children through the cluster's provider", async () => {
        const { EksCluster } = await import("./index.js");
        const c = new EksCluster("ead", prodArgs("noa-ead"));
        await harness.settle();
        const cluster = harness.one("aws:eks/cluster:Cluster", "ead-eks");
        const issuerHost = String(cluster.state.identities[0].oidcs[0].issuer).replace("https://", "");
        const addon = (n: string) => harness.one("aws:eks/addon:Addon", `ead-${n}`).inputs;
        for (const n of ["vpc-cni", "kube-proxy", "coredns", "aws-ebs-csi-driver"]) {
            assert.deepEqual([addon(n).addonName, addon(n).clusterName, addon(n).addonVersion, addon(n).resolveConflictsOnCreate], [n, "noa-ead", "v1.0.0-eksbuild.1", "OVERWRITE"]);
        }
        const versions = harness.invokesOf("aws:eks/getAddonVersion:getAddonVersion").map((x) => x.inputs);
        assert.ok(versions.every((v) => v.kubernetesVersion === "1.33" && v.mostRecent === false));

        const roleOf = (irsa: string) => harness.one("aws:iam/role:Role", `ead-${irsa}-role`);
        const trustSub = (irsa: string) => JSON.parse(roleOf(irsa).inputs.assumeRolePolicy).Statement[0].Condition.StringEquals[`${issuerHost}:sub`];
        assert.equal(addon("aws-ebs-csi-driver").serviceAccountRoleArn, roleOf("ebs-csi-controller-sa").state.arn);
        assert.equal(trustSub("ebs-csi-controller-sa"), "system:serviceaccount:kube-system:ebs-csi-controller-sa");
        assert.equal(addon("vpc-cni").serviceAccountRoleArn, roleOf("aws-node").state.arn);
        assert.deepEqual(JSON.parse(addon("vpc-cni").configurationValues), { enableNetworkPolicy: "true" }, "NetworkPolicies are enforced");
        for (const n of ["kube-proxy", "coredns", "aws-ebs-csi-driver"]) assert.equal(addon(n).configurationValues, undefined);
        assert.equal(trustSub("aws-node"), "system:serviceaccount:kube-system:aws-node");
        assert.equal(trustSub("cluster-autoscaler"), "system:serviceaccount:kube-system:cluster-autoscaler");
        assert.equal(
            harness.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "ead-ebs-csi-controller-sa-managed-0").inputs.policyArn,
            "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
        );
        const caPolicy = JSON.parse(harness.one("aws:iam/rolePolicy:RolePolicy", "ead-cluster-autoscaler-cluster-autoscaler").inputs.policy);
        assert.equal(caPolicy.Statement[2].Condition.StringEquals["aws:ResourceTag/k8s.io/cluster-autoscaler/noa-ead"], "owned");

        const provider = harness.one("pulumi:providers:kubernetes", "ead-k8s");
        assert.deepEqual(provider.secretPaths, ["kubeconfig"]);
        const kc = JSON.parse(provider.inputs.kubeconfig);
        assert.equal(kc.clusters[0].cluster.server, cluster.state.endpoint);
        assert.deepEqual(kc.users[0].user.exec.args.slice(0, 4), ["eks", "get-token", "--cluster-name", "noa-ead"]);
        assert.ok(provider.dependsOn.includes(harness.one("aws:eks/addon:Addon", "ead-coredns").urn));
        assert.ok(provider.dependsOn.includes(harness.one("aws:eks/addon:Addon", "ead-aws-ebs-csi-driver").urn));
        assert.equal(await (c.kubeconfig as any).isSecret, true);

        const providerRef = `${provider.urn}::${provider.id}`;
        const sc = harness.one("kubernetes:storage.k8s.io/v1:StorageClass", "ead-gp3-encrypted");
        assert.equal(sc.provider, providerRef);
        assert.deepEqual(sc.inputs, {
            apiVersion: "storage.k8s.io/v1",
            kind: "StorageClass",
            metadata: { name: "gp3-encrypted", annotations: { "storageclass.kubernetes.io/is-default-class": "true" } },
            provisioner: "ebs.csi.aws.com",
            parameters: { type: "gp3", encrypted: "true", "csi.storage.k8s.io/fstype": "ext4", tagSpecification_1: "noa.io/snapshots=noa-ead" },
            volumeBindingMode: "WaitForFirstConsumer",
            allowVolumeExpansion: true,
            reclaimPolicy: "Retain",
        });
        assert.equal(c.storageClassName, "gp3-encrypted");

        const ms = harness.one("kubernetes:helm.sh/v3:Release", "ead-metrics-server");
        assert.deepEqual([ms.provider, ms.inputs.chart, ms.inputs.version, ms.inputs.namespace], [providerRef, "metrics-server", "3.13.0", "kube-system"]);
        const ca = harness.one("kubernetes:helm.sh/v3:Release", "ead-cluster-autoscaler");
        assert.deepEqual([ca.provider, ca.inputs.chart, ca.inputs.version, ca.inputs.repositoryOpts.repo], [providerRef, "cluster-autoscaler", "9.46.6", "https://kubernetes.github.io/autoscaler"]);
        assert.equal(ca.inputs.values.rbac.serviceAccount.annotations["eks.amazonaws.com/role-arn"], roleOf("cluster-autoscaler").state.arn);
        assert.deepEqual(ca.inputs.values.autoDiscovery, { clusterName: "noa-ead" });
        assert.deepEqual(ca.inputs.values.expanderPriorities, { "10": ["^eks-noa-ead-base-.*"], "50": ["^eks-noa-ead-burst-.*"] });
        assert.equal(ca.inputs.values.image.tag, "v1.33.0");
    });

    it("dev: no protection, two log types, open endpoint, pinned add-on, Delete reclaim, no admin entries", async () => {
        const { EksCluster } = await import("./index.js");
        const c = new EksCluster("edev", devArgs("noa-edev"));
        await harness.settle();
        const key = harness.one("aws:kms/key:Key", "edev-secrets");
        assert.deepEqual([key.inputs.enableKeyRotation, key.protect, key.retainOnDelete], [true, false, false]);
        const i = harness.one("aws:eks/cluster:Cluster", "edev-eks").inputs;
        assert.deepEqual(i.enabledClusterLogTypes, ["api", "audit"]);
        assert.equal(i.deletionProtection, false);
        assert.deepEqual(i.vpcConfig.publicAccessCidrs, ["0.0.0.0/0"]);
        assert.equal(harness.one("aws:cloudwatch/logGroup:LogGroup", "edev-control-plane").inputs.retentionInDays, 7);
        assert.equal(harness.one("aws:eks/addon:Addon", "edev-coredns").inputs.addonVersion, "v1.12.1-eksbuild.2");
        assert.equal(harness.invokesOf("aws:eks/getAddonVersion:getAddonVersion").some((x) => x.inputs.addonName === "coredns"), false);
        assert.equal(harness.one("kubernetes:storage.k8s.io/v1:StorageClass", "edev-gp3-encrypted").inputs.reclaimPolicy, "Delete");
        assert.equal(harness.byType("aws:eks/accessEntry:AccessEntry").length, 0);
        // A base group without labels or taints needs no scale-from-zero hints.
        assert.equal(harness.byType("aws:autoscaling/tag:Tag").length, 0);
        assert.deepEqual(harness.one("kubernetes:helm.sh/v3:Release", "edev-cluster-autoscaler").inputs.values.expanderPriorities, { "10": ["^eks-noa-edev-base-.*"] });
        assert.equal((await childNames(c)).length, 25);
    });

    it("switches: a private-only endpoint, no metrics-server, autoscaler or StorageClass, hop limit 2", async () => {
        const { EksCluster } = await import("./index.js");
        const c = new EksCluster("eoff", {
            ...devArgs("noa-eoff"),
            publicAccessCidrs: [],
            imdsHopLimit: 2,
            metricsServer: { enabled: false },
            clusterAutoscaler: { enabled: false },
            storageClass: { enabled: false },
        });
        await harness.settle();
        const names = await childNames(c);
        assert.ok(!names.some((n) => n.startsWith("kubernetes:")), "no Kubernetes children");
        assert.ok(!names.includes("noa:cluster:IrsaRole::eoff-cluster-autoscaler"));
        assert.equal(c.storageClassName, undefined);
        const vpc = harness.one("aws:eks/cluster:Cluster", "eoff-eks").inputs.vpcConfig;
        assert.deepEqual([vpc.endpointPrivateAccess, vpc.endpointPublicAccess, vpc.publicAccessCidrs], [true, false, undefined]);
        assert.equal(harness.one("aws:ec2/launchTemplate:LaunchTemplate", "eoff-base").inputs.metadataOptions.httpPutResponseHopLimit, 2);
    });

    it("snapshots the StorageClass's volumes daily through a lifecycle policy, copied to a second region", async () => {
        const { EksCluster } = await import("./index.js");
        new EksCluster("esnap", { ...prodArgs("noa-esnap"), volumeSnapshots: { enabled: true, time: "02:30", retainDays: 7, copyToRegion: "us-west-2" } });
        await harness.settle();
        const policy = harness.one("aws:dlm/lifecyclePolicy:LifecyclePolicy", "esnap-snapshots");
        const role = harness.one("aws:iam/role:Role", "esnap-snapshots");
        assert.equal(policy.inputs.executionRoleArn, role.state.arn);
        assert.equal(JSON.parse(role.inputs.assumeRolePolicy).Statement[0].Principal.Service, "dlm.amazonaws.com");
        assert.equal(harness.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "esnap-snapshots").inputs.policyArn, "arn:aws:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole");
        assert.equal(policy.inputs.state, "ENABLED");
        // The provider refuses any other character in a DLM description (^[0-9A-Za-z _-]+$), at preview.
        assert.match(policy.inputs.description, /^[0-9A-Za-z _-]{1,500}$/);
        assert.deepEqual(policy.inputs.policyDetails, {
            policyType: "EBS_SNAPSHOT_MANAGEMENT",
            resourceTypes: ["VOLUME"],
            // Exactly the volumes this cluster's StorageClass tags.
            targetTags: { "noa.io/snapshots": "noa-esnap" },
            schedules: [{
                name: "daily",
                createRule: { interval: 24, intervalUnit: "HOURS", times: "02:30" },
                retainRule: { count: 7 },
                copyTags: true,
                crossRegionCopyRules: [{ target: "us-west-2", encrypted: true, copyTags: true, retainRule: { interval: 7, intervalUnit: "DAYS" } }],
            }],
        });
        assert.equal(harness.one("kubernetes:storage.k8s.io/v1:StorageClass", "esnap-gp3-encrypted").inputs.parameters.tagSpecification_1, "noa.io/snapshots=noa-esnap");
    });

    it("takes no snapshots unless asked, and refuses bad snapshot settings", async () => {
        const { EksCluster, normalizeEksClusterArgs } = await import("./index.js");
        new EksCluster("enosnap", prodArgs("noa-enosnap"));
        await harness.settle();
        assert.equal(harness.byType("aws:dlm/lifecyclePolicy:LifecyclePolicy").length, 0);
        assert.throws(
            () => normalizeEksClusterArgs("x", { ...prodArgs("noa-x"), storageClass: { enabled: false }, volumeSnapshots: { enabled: true, time: "3am", retainDays: 0, copyToRegion: "west" } }),
            {
                message: 'EksCluster "x": volumeSnapshots.time ("3am") is not a UTC time like "03:00"; volumeSnapshots.retainDays (0) must be a whole number of days from 1 to 1000; ' +
                    'volumeSnapshots.copyToRegion ("west") is not an AWS region name; volumeSnapshots.enabled (true) needs the StorageClass (storageClass.enabled), whose volumes it snapshots',
            },
        );
    });

    it("fails before creating anything when args are bad", async () => {
        const { EksCluster } = await import("./index.js");
        const args = prodArgs("noa-ebad");
        assert.throws(() => new EksCluster("ebad", { ...args, nodeGroups: { base: { ...args.nodeGroups.base, minSize: 13 } } }), /nodeGroups\.base\.minSize \(13\) exceeds maxSize \(12\)/);
        await harness.settle();
        assert.equal(harness.byType("aws:eks/cluster:Cluster").length, 0);
    });
});
