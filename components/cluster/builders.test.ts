import * as assert from "node:assert/strict";

describe("cluster builders", () => {
    it("kubeconfig authenticates with aws eks get-token and embeds only the public CA", async () => {
        const { kubeconfig } = await import("./index.js");
        const cfg = JSON.parse(kubeconfig("noa-prod", "https://ABC.gr7.us-east-1.eks.amazonaws.com", "Q0E=", "eu-west-1"));
        assert.equal(cfg["current-context"], "noa-prod");
        assert.deepEqual(cfg.clusters, [{ name: "noa-prod", cluster: { server: "https://ABC.gr7.us-east-1.eks.amazonaws.com", "certificate-authority-data": "Q0E=" } }]);
        assert.deepEqual(cfg.contexts, [{ name: "noa-prod", context: { cluster: "noa-prod", user: "noa-prod" } }]);
        assert.deepEqual(cfg.users[0].user, {
            exec: {
                apiVersion: "client.authentication.k8s.io/v1beta1",
                command: "aws",
                args: ["eks", "get-token", "--cluster-name", "noa-prod", "--region", "eu-west-1", "--output", "json"],
                interactiveMode: "Never",
            },
        });
        assert.ok(!JSON.stringify(cfg).includes("token\":"), "no static token");
    });

    for (const hop of [1, 2]) {
        it(`launch template metadata requires IMDSv2 (hop limit ${hop})`, async () => {
            const { launchTemplateMetadataOptions } = await import("./index.js");
            assert.deepEqual(launchTemplateMetadataOptions(hop), { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: hop, instanceMetadataTags: "disabled" });
        });
    }

    const templateCases: [string, Record<string, string>, { key: string; value?: string; effect: "NO_SCHEDULE" | "NO_EXECUTE" | "PREFER_NO_SCHEDULE" }[], Record<string, string>][] = [
        ["nothing", {}, [], {}],
        ["a label", { "noa.io/pool": "base" }, [], { "k8s.io/cluster-autoscaler/node-template/label/noa.io/pool": "base" }],
        [
            "labels and taints of every effect",
            { "noa.io/pool": "burst" },
            [
                { key: "noa.io/spot", value: "true", effect: "PREFER_NO_SCHEDULE" },
                { key: "dedicated", effect: "NO_SCHEDULE" },
                { key: "evict", value: "x", effect: "NO_EXECUTE" },
            ],
            {
                "k8s.io/cluster-autoscaler/node-template/label/noa.io/pool": "burst",
                "k8s.io/cluster-autoscaler/node-template/taint/noa.io/spot": "true:PreferNoSchedule",
                "k8s.io/cluster-autoscaler/node-template/taint/dedicated": ":NoSchedule",
                "k8s.io/cluster-autoscaler/node-template/taint/evict": "x:NoExecute",
            },
        ],
    ];
    for (const [label, labels, taints, expected] of templateCases) {
        it(`node-template tags: ${label}`, async () => {
            const { nodeTemplateTags } = await import("./index.js");
            assert.deepEqual(nodeTemplateTags(labels, taints), expected);
        });
    }

    it("autoscaler policy: discovery on *, scaling only on this cluster's owned ASGs, DescribeNodegroup only on its node groups", async () => {
        const { clusterAutoscalerPolicy } = await import("./index.js");
        const doc = JSON.parse(clusterAutoscalerPolicy("noa-prod", "aws", "us-east-1", "123456789012"));
        const [discover, nodegroups, scale] = doc.Statement;
        assert.equal(doc.Statement.length, 3);
        assert.equal(discover.Resource, "*");
        assert.ok(discover.Action.every((x: string) => /^(autoscaling|ec2):(Describe|Get)/.test(x)), "discovery is read-only");
        assert.deepEqual(nodegroups, { Sid: "DescribeOwnNodegroups", Effect: "Allow", Action: "eks:DescribeNodegroup", Resource: "arn:aws:eks:us-east-1:123456789012:nodegroup/noa-prod/*" });
        assert.deepEqual(scale.Action, ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]);
        assert.deepEqual(scale.Condition, { StringEquals: { "aws:ResourceTag/k8s.io/cluster-autoscaler/noa-prod": "owned" } });
    });

    it("priority expander ranks node groups by their ASG name prefix, escaping regex characters", async () => {
        const { expanderPriorities } = await import("./index.js");
        assert.deepEqual(
            expanderPriorities([
                { nodeGroupNamePrefix: "noa-prod-base-", priority: 10 },
                { nodeGroupNamePrefix: "noa-prod-burst-", priority: 50 },
                { nodeGroupNamePrefix: "noa.x-gpu-", priority: 50 },
            ]),
            { "10": ["^eks-noa-prod-base-.*"], "50": ["^eks-noa-prod-burst-.*", "^eks-noa\\.x-gpu-.*"] },
        );
    });

    it("autoscaler values: auto-discovery, IRSA service account, priority then least-waste, spot fallback timeout", async () => {
        const { clusterAutoscalerValues } = await import("./index.js");
        const v = clusterAutoscalerValues({ clusterName: "noa-dev", region: "us-east-1", roleArn: "arn:aws:iam::123456789012:role/ca", imageTag: "v1.33.0", priorities: { "50": ["^eks-x.*"] } }) as any;
        assert.deepEqual(v.autoDiscovery, { clusterName: "noa-dev" });
        assert.equal(v.awsRegion, "us-east-1");
        assert.equal(v.image.tag, "v1.33.0");
        assert.deepEqual(v.rbac.serviceAccount, { create: true, name: "cluster-autoscaler", annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/ca" } });
        assert.deepEqual(v.extraArgs, {
            expander: "priority,least-waste",
            "balance-similar-node-groups": true,
            "skip-nodes-with-local-storage": false,
            "skip-nodes-with-system-pods": false,
            "max-node-provision-time": "5m0s",
            "scale-down-unneeded-time": "10m0s",
        });
        assert.deepEqual(v.expanderPriorities, { "50": ["^eks-x.*"] });
        assert.equal(v.replicaCount, 2);
    });

    it("metrics-server values: two replicas behind a PDB", async () => {
        const { metricsServerValues } = await import("./index.js");
        const v = metricsServerValues() as any;
        assert.equal(v.replicas, 2);
        assert.deepEqual(v.podDisruptionBudget, { enabled: true, minAvailable: 1 });
    });

    it("pins chart versions", async () => {
        const { CHARTS } = await import("./index.js");
        assert.match(CHARTS.metricsServer.version, /^\d+\.\d+\.\d+$/);
        assert.match(CHARTS.clusterAutoscaler.version, /^\d+\.\d+\.\d+$/);
    });
});
