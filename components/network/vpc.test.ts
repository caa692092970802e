import * as assert from "node:assert/strict";
import { childNames, harness, promiseOf } from "@noa/offline";

describe("Vpc", () => {
    before(() => harness.install());
    beforeEach(() => harness.reset());

    describe("subnetLayout", () => {
        const cases: [string, number, number, number, { public: string[]; private: string[] }][] = [
            ["10.20.0.0/16", 3, 24, 19, { private: ["10.20.0.0/19", "10.20.32.0/19", "10.20.64.0/19"], public: ["10.20.96.0/24", "10.20.97.0/24", "10.20.98.0/24"] }],
            ["10.10.0.0/16", 2, 24, 19, { private: ["10.10.0.0/19", "10.10.32.0/19"], public: ["10.10.64.0/24", "10.10.65.0/24"] }],
            ["10.0.0.0/24", 2, 28, 26, { private: ["10.0.0.0/26", "10.0.0.64/26"], public: ["10.0.0.128/28", "10.0.0.144/28"] }],
            // Public blocks larger than private ones still start on their own boundary.
            ["172.16.0.0/16", 3, 22, 24, { private: ["172.16.0.0/24", "172.16.1.0/24", "172.16.2.0/24"], public: ["172.16.4.0/22", "172.16.8.0/22", "172.16.12.0/22"] }],
        ];
        for (const [cidr, azs, pub, priv, expected] of cases) {
            it(`${cidr}: ${azs} AZs of /${pub} public and /${priv} private`, async () => {
                const { subnetLayout } = await import("./index.js");
                assert.deepEqual(subnetLayout(cidr, azs, pub, priv), expected);
            });
        }
        it("counts how many AZs fit", async () => {
            const { azsThatFit } = await import("./index.js");
            assert.equal(azsThatFit("10.0.0.0/16", 24, 19), 7);
            assert.equal(azsThatFit("10.0.0.0/20", 24, 22), 3);
            assert.equal(azsThatFit("10.0.0.0/24", 26, 26), 2);
        });
    });

    describe("normalizeVpcArgs", () => {
        it("applies defaults", async () => {
            const { normalizeVpcArgs } = await import("./index.js");
            assert.deepEqual(normalizeVpcArgs("v", { cidr: "10.0.0.0/16" }), {
                cidr: "10.0.0.0/16",
                azCount: 3,
                natGateways: "perAz",
                publicSubnetPrefixLength: 24,
                privateSubnetPrefixLength: 19,
                clusterName: undefined,
                s3GatewayEndpoint: true,
                flowLogs: { enabled: false, retentionDays: 30 },
                tags: {},
            });
        });
        it("keeps a configured 0-like value rather than replacing it (?? not ||)", async () => {
            const { normalizeVpcArgs } = await import("./index.js");
            assert.equal(normalizeVpcArgs("v", { cidr: "10.0.0.0/16", s3GatewayEndpoint: false }).s3GatewayEndpoint, false);
        });
        const bad: [string, Record<string, unknown>, string][] = [
            ["a malformed CIDR", { cidr: "10.0.0/16" }, `Vpc "v": cidr ("10.0.0/16") is not an IPv4 CIDR with its host bits zero (e.g. 10.0.0.0/16)`],
            ["host bits set", { cidr: "10.0.0.1/16" }, `Vpc "v": cidr ("10.0.0.1/16") is not an IPv4 CIDR with its host bits zero (e.g. 10.0.0.0/16)`],
            ["a VPC too large", { cidr: "10.0.0.0/8" }, `Vpc "v": cidr ("10.0.0.0/8") must have a prefix length between /16 and /24 (the VPC limits)`],
            [
                "more AZs than fit",
                { cidr: "10.0.0.0/24", azCount: 6, publicSubnetPrefixLength: 28, privateSubnetPrefixLength: 26 },
                `Vpc "v": azCount (6) exceeds the 3 AZs whose /28 public and /26 private subnets fit in 10.0.0.0/24`,
            ],
            ["subnets larger than the VPC", { cidr: "10.0.0.0/20", privateSubnetPrefixLength: 19 }, `Vpc "v": privateSubnetPrefixLength (19) is larger than the VPC 10.0.0.0/20`],
            [
                "several problems at once",
                { cidr: "10.0.0.0/16", azCount: 1, natGateways: "none", flowLogs: { enabled: true, retentionDays: 10 }, clusterName: "bad name" },
                `Vpc "v": azCount (1) must be a whole number from 2 to 6; natGateways ("none") must be "single" or "perAz"; ` +
                    `clusterName ("bad name") is not an EKS cluster name (letters, digits, - and _, up to 100); ` +
                    `flowLogs.retentionDays (10) is not a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)`,
            ],
        ];
        for (const [label, args, message] of bad) {
            it(`rejects ${label}`, async () => {
                const { normalizeVpcArgs } = await import("./index.js");
                assert.throws(() => normalizeVpcArgs("v", args as any), { message });
            });
        }
    });

    it("dev shape: 2 AZs, one shared NAT, no flow logs", async () => {
        const { Vpc } = await import("./index.js");
        const vpc = new Vpc("vdev", { cidr: "10.10.0.0/16", azCount: 2, natGateways: "single", clusterName: "noa-dev", flowLogs: { enabled: false } });
        await harness.settle();
        assert.deepEqual(await childNames(vpc), [
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup::vdev-default-sg",
            "aws:ec2/eip:Eip::vdev-nat-0",
            "aws:ec2/internetGateway:InternetGateway::vdev-igw",
            "aws:ec2/natGateway:NatGateway::vdev-nat-0",
            "aws:ec2/route:Route::vdev-private-default-0",
            "aws:ec2/route:Route::vdev-private-default-1",
            "aws:ec2/route:Route::vdev-public-default",
            "aws:ec2/routeTable:RouteTable::vdev-private-rt-0",
            "aws:ec2/routeTable:RouteTable::vdev-private-rt-1",
            "aws:ec2/routeTable:RouteTable::vdev-public-rt",
            "aws:ec2/routeTableAssociation:RouteTableAssociation::vdev-private-0",
            "aws:ec2/routeTableAssociation:RouteTableAssociation::vdev-private-1",
            "aws:ec2/routeTableAssociation:RouteTableAssociation::vdev-public-0",
            "aws:ec2/routeTableAssociation:RouteTableAssociation::vdev-public-1",
            "aws:ec2/subnet:Subnet::vdev-private-0",
            "aws:ec2/subnet:Subnet::vdev-private-1",
            "aws:ec2/subnet:Subnet::vdev-public-0",
            "aws:ec2/subnet:Subnet::vdev-public-1",
            "aws:ec2/vpc:Vpc::vdev-vpc",
            "aws:ec2/vpcEndpoint:VpcEndpoint::vdev-s3",
        ]);
        // Both private routes go through the single NAT.
        const nat = harness.one("aws:ec2/natGateway:NatGateway", "vdev-nat-0");
        for (const i of [0, 1]) assert.equal(harness.one("aws:ec2/route:Route", `vdev-private-default-${i}`).inputs.natGatewayId, nat.id);
        assert.deepEqual(await promiseOf(vpc.natGatewayIds), [nat.id]);
        assert.deepEqual(await promiseOf(vpc.availabilityZones), ["us-east-1a", "us-east-1b"]);
    });

    it("excludes the configured zone IDs", async () => {
        const { Vpc } = await import("./index.js");
        const vpc = new Vpc("vex", { cidr: "10.40.0.0/16", azCount: 2, excludeZoneIds: ["use1-az1"] });
        await harness.settle();
        assert.deepEqual(await promiseOf(vpc.availabilityZones), ["us-east-1b", "us-east-1c"]);
        assert.deepEqual(harness.invokesOf("aws:index/getAvailabilityZones:getAvailabilityZones")[0]!.inputs.excludeZoneIds, ["use1-az1"]);
    });

    it("names the usable AZs and the excluded zone IDs when too few are left", async () => {
        const { pickZones } = await import("./index.js");
        assert.deepEqual(pickZones("v", ["us-east-1a", "us-east-1b", "us-east-1d"], 2, ["use1-az3"]), ["us-east-1a", "us-east-1b"]);
        assert.throws(() => pickZones("v", ["us-east-1a", "us-east-1b"], 3, ["use1-az3"]), {
            message: `Vpc "v": azCount (3) exceeds the 2 usable AZs in this region (us-east-1a, us-east-1b; zone IDs use1-az3 excluded)`,
        });
    });

    it("prod shape: 3 AZs, NAT per AZ, subnets tagged for ELB discovery, S3 endpoint, flow logs", async () => {
        const { Vpc } = await import("./index.js");
        const vpc = new Vpc("vprod", {
            cidr: "10.20.0.0/16",
            azCount: 3,
            natGateways: "perAz",
            clusterName: "noa-prod",
            flowLogs: { enabled: true, retentionDays: 90 },
            tags: { "noa.io/stack": "prod" },
        });
        await harness.settle();
        const names = await childNames(vpc);
        const count = (type: string) => names.filter((n) => n.startsWith(`${type}::`)).length;
        assert.deepEqual(
            {
                subnets: count("aws:ec2/subnet:Subnet"),
                nats: count("aws:ec2/natGateway:NatGateway"),
                eips: count("aws:ec2/eip:Eip"),
                routeTables: count("aws:ec2/routeTable:RouteTable"),
                routes: count("aws:ec2/route:Route"),
                associations: count("aws:ec2/routeTableAssociation:RouteTableAssociation"),
                total: names.length,
            },
            { subnets: 6, nats: 3, eips: 3, routeTables: 4, routes: 4, associations: 6, total: 34 },
        );
        assert.ok(names.includes("aws:ec2/flowLog:FlowLog::vprod-flow-logs"));
        assert.ok(names.includes("aws:cloudwatch/logGroup:LogGroup::vprod-flow-logs"));
        assert.ok(names.includes("aws:iam/role:Role::vprod-flow-logs"));
        assert.ok(names.includes("aws:iam/rolePolicy:RolePolicy::vprod-flow-logs"));

        const v = harness.one("aws:ec2/vpc:Vpc", "vprod-vpc").inputs;
        assert.deepEqual([v.cidrBlock, v.enableDnsHostnames, v.enableDnsSupport], ["10.20.0.0/16", true, true]);

        const pub = harness.one("aws:ec2/subnet:Subnet", "vprod-public-1").inputs;
        assert.deepEqual(pub.tags, {
            "noa.io/stack": "prod",
            Name: "vprod-public-1",
            "noa.io/subnet-tier": "public",
            "kubernetes.io/role/elb": "1",
            "kubernetes.io/cluster/noa-prod": "shared",
        });
        assert.deepEqual([pub.cidrBlock, pub.availabilityZone, pub.mapPublicIpOnLaunch], ["10.20.97.0/24", "us-east-1b", false]);
        const priv = harness.one("aws:ec2/subnet:Subnet", "vprod-private-2").inputs;
        assert.equal(priv.tags["kubernetes.io/role/internal-elb"], "1");
        assert.equal(priv.tags["kubernetes.io/role/elb"], undefined);
        assert.equal(priv.tags["kubernetes.io/cluster/noa-prod"], "shared");
        // us-east-1c is use1-az3 in this account (the emulation's mapping): EKS refuses it, so the third AZ is d.
        assert.deepEqual([priv.cidrBlock, priv.availabilityZone], ["10.20.64.0/19", "us-east-1d"]);
        assert.deepEqual(await promiseOf(vpc.availabilityZones), ["us-east-1a", "us-east-1b", "us-east-1d"]);
        assert.deepEqual(harness.invokesOf("aws:index/getAvailabilityZones:getAvailabilityZones")[0]!.inputs.excludeZoneIds, ["use1-az3", "usw1-az2", "cac1-az3"]);

        // Each AZ's private route table uses the NAT in its own AZ.
        for (const i of [0, 1, 2]) {
            const nat = harness.one("aws:ec2/natGateway:NatGateway", `vprod-nat-${i}`);
            assert.equal(nat.inputs.subnetId, harness.one("aws:ec2/subnet:Subnet", `vprod-public-${i}`).id);
            assert.equal(harness.one("aws:ec2/route:Route", `vprod-private-default-${i}`).inputs.natGatewayId, nat.id);
            assert.equal(harness.one("aws:ec2/eip:Eip", `vprod-nat-${i}`).inputs.domain, "vpc");
        }
        assert.equal(harness.one("aws:ec2/route:Route", "vprod-public-default").inputs.gatewayId, harness.one("aws:ec2/internetGateway:InternetGateway", "vprod-igw").id);

        const s3 = harness.one("aws:ec2/vpcEndpoint:VpcEndpoint", "vprod-s3").inputs;
        assert.equal(s3.serviceName, "com.amazonaws.us-east-1.s3");
        assert.equal(s3.vpcEndpointType, "Gateway");
        assert.deepEqual(
            [...s3.routeTableIds].sort(),
            ["vprod-public-rt", "vprod-private-rt-0", "vprod-private-rt-1", "vprod-private-rt-2"].map((n) => harness.one("aws:ec2/routeTable:RouteTable", n).id).sort(),
        );

        const group = harness.one("aws:cloudwatch/logGroup:LogGroup", "vprod-flow-logs");
        assert.deepEqual([group.inputs.name, group.inputs.retentionInDays], ["/aws/vpc/vprod/flow-logs", 90]);
        const flow = harness.one("aws:ec2/flowLog:FlowLog", "vprod-flow-logs").inputs;
        assert.deepEqual([flow.trafficType, flow.logDestinationType, flow.logDestination], ["ALL", "cloud-watch-logs", group.state.arn]);
        const trust = JSON.parse(harness.one("aws:iam/role:Role", "vprod-flow-logs").inputs.assumeRolePolicy);
        assert.deepEqual(trust.Statement[0].Principal, { Service: "vpc-flow-logs.amazonaws.com" });
        assert.deepEqual(trust.Statement[0].Condition, { StringEquals: { "aws:SourceAccount": "123456789012" } });
        const policy = JSON.parse(harness.one("aws:iam/rolePolicy:RolePolicy", "vprod-flow-logs").inputs.policy);
        assert.deepEqual(policy.Statement[0].Resource, [group.state.arn, `${group.state.arn}:*`]);

        const sg = harness.one("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "vprod-default-sg").inputs;
        assert.equal(sg.ingress, undefined);
        assert.equal(sg.egress, undefined);

        assert.equal((await promiseOf(vpc.privateSubnetIds)).length, 3);
        assert.deepEqual(await promiseOf(vpc.publicSubnetIds), [0, 1, 2].map((i) => harness.one("aws:ec2/subnet:Subnet", `vprod-public-${i}`).id));
    });

    it("omits the S3 endpoint when switched off and the cluster tag without a cluster name", async () => {
        const { Vpc } = await import("./index.js");
        const vpc = new Vpc("vbare", { cidr: "10.30.0.0/16", azCount: 2, s3GatewayEndpoint: false });
        await harness.settle();
        assert.ok(!(await childNames(vpc)).some((n) => n.startsWith("aws:ec2/vpcEndpoint")));
        const tags = harness.one("aws:ec2/subnet:Subnet", "vbare-public-0").inputs.tags;
        assert.ok(!Object.keys(tags).some((k) => k.startsWith("kubernetes.io/cluster/")));
        // perAz is the default: one NAT per AZ.
        assert.equal(harness.byType("aws:ec2/natGateway:NatGateway").length, 2);
    });
});
