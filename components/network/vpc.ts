import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export type NatGatewayStrategy = "single" | "perAz";

export interface VpcFlowLogsArgs {
    /** Send VPC flow logs (all traffic) to a CloudWatch log group. Default: false. */
    readonly enabled?: boolean;
    /** Retention of the flow-log group in days. Default: 30. */
    readonly retentionDays?: number;
}

export interface VpcArgs {
    /** IPv4 CIDR of the VPC, /16 to /24 (e.g. "10.20.0.0/16"). Required. */
    readonly cidr: string;
    /** Availability zones to spread subnets over (2–6). Default: 3. */
    readonly azCount?: number;
    /**
     * NAT gateways: "single" shares one (cheap; private subnets lose egress if its AZ fails),
     * "perAz" gives each AZ its own (no cross-AZ dependency or data charge). Default: "perAz".
     */
    readonly natGateways?: NatGatewayStrategy;
    /** Prefix length of each public subnet (load balancers and NAT only). Default: 24. */
    readonly publicSubnetPrefixLength?: number;
    /** Prefix length of each private subnet (nodes and, with the VPC CNI, every pod IP). Default: 19. */
    readonly privateSubnetPrefixLength?: number;
    /**
     * Name of the EKS cluster that uses these subnets: tags them
     * `kubernetes.io/cluster/<name>: shared` for load-balancer subnet discovery.
     * Default: none (only the `kubernetes.io/role/*` tags are set).
     */
    readonly clusterName?: string;
    /** A gateway endpoint for S3 on every route table (S3 traffic bypasses NAT, free). Default: true. */
    readonly s3GatewayEndpoint?: boolean;
    /** VPC flow logs. Default: disabled. */
    readonly flowLogs?: VpcFlowLogsArgs;
    /** Tags on every child that takes tags. Default: none. */
    readonly tags?: Record<string, string>;
    /**
     * AZ IDs never to place subnets in. AZ names map to physical zones
     * differently in every account, so zones are excluded by ID.
     * Default: {@link EKS_UNSUPPORTED_ZONE_IDS}.
     */
    readonly excludeZoneIds?: readonly string[];
}

/**
 * AZ IDs whose subnets EKS refuses for a cluster (UnsupportedAvailabilityZoneException),
 * and which lack current (Nitro) instance types: us-east-1's use1-az3, us-west-1's usw1-az2,
 * ca-central-1's cac1-az3 (EKS user guide, "VPC and subnet requirements").
 */
export const EKS_UNSUPPORTED_ZONE_IDS: readonly string[] = ["use1-az3", "usw1-az2", "cac1-az3"];

export interface NormalizedVpcArgs {
    readonly cidr: string;
    readonly azCount: number;
    readonly natGateways: NatGatewayStrategy;
    readonly publicSubnetPrefixLength: number;
    readonly privateSubnetPrefixLength: number;
    readonly clusterName: string | undefined;
    readonly s3GatewayEndpoint: boolean;
    readonly flowLogs: { enabled: boolean; retentionDays: number };
    readonly tags: Record<string, string>;
}

/** Retention values CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/** Parses an IPv4 CIDR; undefined if malformed or if host bits are set. */
export function parseCidr(cidr: string): { base: number; prefix: number } | undefined {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
    if (!m) return undefined;
    const octets = m.slice(1, 5).map(Number);
    const prefix = Number(m[5]);
    if (octets.some((o) => o > 255) || prefix > 32) return undefined;
    const base = octets.reduce((acc, o) => acc * 256 + o, 0);
    if (base % 2 ** (32 - prefix) !== 0) return undefined;
    return { base, prefix };
}

function formatCidr(base: number, prefix: number): string {
    return `${[24, 16, 8, 0].map((s) => Math.floor(base / 2 ** s) % 256).join(".")}/${prefix}`;
}

/** How many AZs' worth of one public and one private subnet fit in the VPC CIDR. */
export function azsThatFit(cidr: string, publicPrefix: number, privatePrefix: number): number {
    const parsed = parseCidr(cidr);
    if (!parsed) return 0;
    const perAz = 2 ** (32 - publicPrefix) + 2 ** (32 - privatePrefix);
    return Math.floor(2 ** (32 - parsed.prefix) / perAz);
}

/**
 * Carves the VPC CIDR into one private and one public subnet per AZ. Private
 * (larger) blocks come first so every block stays aligned: private AZ i is the
 * i-th private-sized block, public blocks follow the last private one. Adding an
 * AZ later only appends blocks when private and public sizes are unchanged.
 */
export function subnetLayout(cidr: string, azCount: number, publicPrefix: number, privatePrefix: number): { public: string[]; private: string[] } {
    const parsed = parseCidr(cidr);
    if (!parsed) throw new Error(`subnetLayout: ${JSON.stringify(cidr)} is not an IPv4 CIDR`);
    const privateSize = 2 ** (32 - privatePrefix);
    const publicSize = 2 ** (32 - publicPrefix);
    const privateBlocks = Array.from({ length: azCount }, (_, i) => formatCidr(parsed.base + i * privateSize, privatePrefix));
    // Public blocks start at the next boundary after the private blocks, aligned to their own size.
    const afterPrivate = parsed.base + azCount * privateSize;
    const publicStart = Math.ceil(afterPrivate / publicSize) * publicSize;
    const publicBlocks = Array.from({ length: azCount }, (_, i) => formatCidr(publicStart + i * publicSize, publicPrefix));
    return { public: publicBlocks, private: privateBlocks };
}

/** Applies defaults and validates every field; throws one error listing each problem with its key and value. */
export function normalizeVpcArgs(name: string, args: VpcArgs): NormalizedVpcArgs {
    const problems: string[] = [];
    const at = (key: string, value: unknown, message: string) => problems.push(`${key} (${JSON.stringify(value)}) ${message}`);
    const azCount = args.azCount ?? 3;
    const natGateways = args.natGateways ?? "perAz";
    const publicSubnetPrefixLength = args.publicSubnetPrefixLength ?? 24;
    const privateSubnetPrefixLength = args.privateSubnetPrefixLength ?? 19;
    const flowLogs = { enabled: args.flowLogs?.enabled ?? false, retentionDays: args.flowLogs?.retentionDays ?? 30 };

    const parsed = typeof args.cidr === "string" ? parseCidr(args.cidr) : undefined;
    if (!parsed) at("cidr", args.cidr, "is not an IPv4 CIDR with its host bits zero (e.g. 10.0.0.0/16)");
    else if (parsed.prefix < 16 || parsed.prefix > 24) at("cidr", args.cidr, "must have a prefix length between /16 and /24 (the VPC limits)");
    if (!Number.isInteger(azCount) || azCount < 2 || azCount > 6) at("azCount", azCount, "must be a whole number from 2 to 6");
    if (natGateways !== "single" && natGateways !== "perAz") at("natGateways", natGateways, "must be \"single\" or \"perAz\"");
    for (const [key, value] of [["publicSubnetPrefixLength", publicSubnetPrefixLength], ["privateSubnetPrefixLength", privateSubnetPrefixLength]] as const) {
        if (!Number.isInteger(value) || value < 16 || value > 28) at(key, value, "must be a whole number from 16 to 28 (the subnet limits)");
        else if (parsed && value < parsed.prefix) at(key, value, `is larger than the VPC ${args.cidr}`);
    }
    if (parsed && problems.length === 0) {
        const fit = azsThatFit(args.cidr, publicSubnetPrefixLength, privateSubnetPrefixLength);
        if (azCount > fit) {
            at("azCount", azCount, `exceeds the ${fit} AZ${fit === 1 ? "" : "s"} whose /${publicSubnetPrefixLength} public and /${privateSubnetPrefixLength} private subnets fit in ${args.cidr}`);
        }
    }
    if (args.clusterName !== undefined && !/^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/.test(args.clusterName)) {
        at("clusterName", args.clusterName, "is not an EKS cluster name (letters, digits, - and _, up to 100)");
    }
    if (!(LOG_RETENTION_DAYS as readonly number[]).includes(flowLogs.retentionDays)) {
        at("flowLogs.retentionDays", flowLogs.retentionDays, `is not a CloudWatch Logs retention (${LOG_RETENTION_DAYS.join(", ")})`);
    }
    if (problems.length > 0) throw new Error(`Vpc "${name}": ${problems.join("; ")}`);
    return {
        cidr: args.cidr,
        azCount,
        natGateways,
        publicSubnetPrefixLength,
        privateSubnetPrefixLength,
        clusterName: args.clusterName,
        s3GatewayEndpoint: args.s3GatewayEndpoint ?? true,
        flowLogs,
        tags: args.tags ?? {},
    };
}

/** Tags for a subnet: its name, the ELB role the AWS Load Balancer Controller discovers, the cluster it serves. */
export function subnetTags(kind: "public" | "private", subnetName: string, clusterName: string | undefined, tags: Record<string, string>): Record<string, string> {
    return {
        ...tags,
        Name: subnetName,
        "noa.io/subnet-tier": kind,
        [kind === "public" ? "kubernetes.io/role/elb" : "kubernetes.io/role/internal-elb"]: "1",
        ...(clusterName ? { [`kubernetes.io/cluster/${clusterName}`]: "shared" } : {}),
    };
}

/** The first `azCount` of the region's usable AZ names; an error naming them when there are too few. */
export function pickZones(name: string, names: readonly string[], azCount: number, excludedZoneIds: readonly string[]): string[] {
    if (names.length < azCount) {
        throw new Error(
            `Vpc "${name}": azCount (${azCount}) exceeds the ${names.length} usable AZs in this region (${names.join(", ")}; zone IDs ${excludedZoneIds.join(", ")} excluded)`,
        );
    }
    return names.slice(0, azCount);
}

/**
 * A multi-AZ VPC for EKS: per AZ one public subnet (load balancers, NAT) and
 * one private subnet (nodes, pods), an internet gateway, NAT gateways (one
 * shared or one per AZ), a private route table per AZ, an S3 gateway endpoint,
 * optional flow logs, and a default security group stripped of every rule.
 */
export class Vpc extends pulumi.ComponentResource {
    public readonly vpc: aws.ec2.Vpc;
    public readonly vpcId: pulumi.Output<string>;
    public readonly cidrBlock: pulumi.Output<string>;
    /** The AZ of each subnet index. */
    public readonly availabilityZones: pulumi.Output<string[]>;
    public readonly publicSubnetIds: pulumi.Output<string[]>;
    public readonly privateSubnetIds: pulumi.Output<string[]>;
    public readonly natGatewayIds: pulumi.Output<string[]>;
    public readonly privateRouteTableIds: pulumi.Output<string[]>;

    constructor(name: string, args: VpcArgs, opts?: pulumi.ComponentResourceOptions) {
        super("noa:network:Vpc", name, {}, opts);
        const a = normalizeVpcArgs(name, args);
        const layout = subnetLayout(a.cidr, a.azCount, a.publicSubnetPrefixLength, a.privateSubnetPrefixLength);
        const tagged = (n: string) => ({ ...a.tags, Name: n });

        const excluded = [...(args.excludeZoneIds ?? EKS_UNSUPPORTED_ZONE_IDS)];
        const zones = aws.getAvailabilityZonesOutput(
            { state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }], excludeZoneIds: excluded },
            { parent: this },
        );
        const azs = zones.names.apply((names) => pickZones(name, names, a.azCount, excluded));

        this.vpc = new aws.ec2.Vpc(
            `${name}-vpc`,
            { cidrBlock: a.cidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tagged(`${name}-vpc`) },
            { parent: this },
        );
        // CIS: the default security group must allow nothing; Pulumi owning it removes AWS's allow-all rules.
        new aws.ec2.DefaultSecurityGroup(`${name}-default-sg`, { vpcId: this.vpc.id, tags: tagged(`${name}-default-sg`) }, { parent: this });

        const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: this.vpc.id, tags: tagged(`${name}-igw`) }, { parent: this });

        const publicSubnets = layout.public.map(
            (cidr, i) =>
                new aws.ec2.Subnet(
                    `${name}-public-${i}`,
                    {
                        vpcId: this.vpc.id,
                        cidrBlock: cidr,
                        availabilityZone: azs.apply((z) => z[i]),
                        // Only load balancers and NAT live here; nothing needs an automatic public IP.
                        mapPublicIpOnLaunch: false,
                        tags: subnetTags("public", `${name}-public-${i}`, a.clusterName, a.tags),
                    },
                    { parent: this },
                ),
        );
        const privateSubnets = layout.private.map(
            (cidr, i) =>
                new aws.ec2.Subnet(
                    `${name}-private-${i}`,
                    {
                        vpcId: this.vpc.id,
                        cidrBlock: cidr,
                        availabilityZone: azs.apply((z) => z[i]),
                        mapPublicIpOnLaunch: false,
                        tags: subnetTags("private", `${name}-private-${i}`, a.clusterName, a.tags),
                    },
                    { parent: this },
                ),
        );

        const publicRt = new aws.ec2.RouteTable(`${name}-public-rt`, { vpcId: this.vpc.id, tags: tagged(`${name}-public-rt`) }, { parent: this });
        new aws.ec2.Route(`${name}-public-default`, { routeTableId: publicRt.id, destinationCidrBlock: "0.0.0.0/0", gatewayId: igw.id }, { parent: this });
        publicSubnets.forEach((s, i) => {
            new aws.ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: s.id, routeTableId: publicRt.id }, { parent: this });
        });

        const natCount = a.natGateways === "perAz" ? a.azCount : 1;
        const nats = Array.from({ length: natCount }, (_, i) => {
            const eip = new aws.ec2.Eip(`${name}-nat-${i}`, { domain: "vpc", tags: tagged(`${name}-nat-${i}`) }, { parent: this, dependsOn: [igw] });
            return new aws.ec2.NatGateway(
                `${name}-nat-${i}`,
                { allocationId: eip.allocationId, subnetId: publicSubnets[i].id, connectivityType: "public", tags: tagged(`${name}-nat-${i}`) },
                { parent: this, dependsOn: [igw] },
            );
        });

        const privateRts = privateSubnets.map((s, i) => {
            const rt = new aws.ec2.RouteTable(`${name}-private-rt-${i}`, { vpcId: this.vpc.id, tags: tagged(`${name}-private-rt-${i}`) }, { parent: this });
            new aws.ec2.Route(
                `${name}-private-default-${i}`,
                { routeTableId: rt.id, destinationCidrBlock: "0.0.0.0/0", natGatewayId: nats[a.natGateways === "perAz" ? i : 0].id },
                { parent: this },
            );
            new aws.ec2.RouteTableAssociation(`${name}-private-${i}`, { subnetId: s.id, routeTableId: rt.id }, { parent: this });
            return rt;
        });

        if (a.s3GatewayEndpoint) {
            const region = aws.getRegionOutput({}, { parent: this }).region;
            new aws.ec2.VpcEndpoint(
                `${name}-s3`,
                {
                    vpcId: this.vpc.id,
                    serviceName: pulumi.interpolate`com.amazonaws.${region}.s3`,
                    vpcEndpointType: "Gateway",
                    routeTableIds: [publicRt.id, ...privateRts.map((rt) => rt.id)],
                    tags: tagged(`${name}-s3`),
                },
                { parent: this },
            );
        }

        if (a.flowLogs.enabled) this.createFlowLogs(name, a);

        this.vpcId = this.vpc.id;
        this.cidrBlock = this.vpc.cidrBlock;
        this.availabilityZones = azs;
        this.publicSubnetIds = pulumi.all(publicSubnets.map((s) => s.id));
        this.privateSubnetIds = pulumi.all(privateSubnets.map((s) => s.id));
        this.natGatewayIds = pulumi.all(nats.map((n) => n.id));
        this.privateRouteTableIds = pulumi.all(privateRts.map((rt) => rt.id));
        this.registerOutputs({
            vpcId: this.vpcId,
            availabilityZones: this.availabilityZones,
            publicSubnetIds: this.publicSubnetIds,
            privateSubnetIds: this.privateSubnetIds,
            natGatewayIds: this.natGatewayIds,
            privateRouteTableIds: this.privateRouteTableIds,
        });
    }

    private createFlowLogs(name: string, a: NormalizedVpcArgs): void {
        const tagged = (n: string) => ({ ...a.tags, Name: n });
        const group = new aws.cloudwatch.LogGroup(
            `${name}-flow-logs`,
            { name: `/aws/vpc/${name}/flow-logs`, retentionInDays: a.flowLogs.retentionDays, tags: tagged(`${name}-flow-logs`) },
            { parent: this },
        );
        const account = aws.getCallerIdentityOutput({}, { parent: this }).accountId;
        const role = new aws.iam.Role(
            `${name}-flow-logs`,
            {
                description: `VPC flow logs of ${name} to CloudWatch`,
                // Confused-deputy guard: only the flow-logs service acting for this account.
                assumeRolePolicy: pulumi.jsonStringify({
                    Version: "2012-10-17",
                    Statement: [
                        {
                            Effect: "Allow",
                            Principal: { Service: "vpc-flow-logs.amazonaws.com" },
                            Action: "sts:AssumeRole",
                            Condition: { StringEquals: { "aws:SourceAccount": account } },
                        },
                    ],
                }),
                tags: tagged(`${name}-flow-logs`),
            },
            { parent: this },
        );
        new aws.iam.RolePolicy(
            `${name}-flow-logs`,
            {
                role: role.name,
                policy: pulumi.jsonStringify({
                    Version: "2012-10-17",
                    Statement: [
                        {
                            Effect: "Allow",
                            Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                            Resource: [group.arn, pulumi.interpolate`${group.arn}:*`],
                        },
                    ],
                }),
            },
            { parent: this },
        );
        new aws.ec2.FlowLog(
            `${name}-flow-logs`,
            {
                vpcId: this.vpc.id,
                trafficType: "ALL",
                logDestinationType: "cloud-watch-logs",
                logDestination: group.arn,
                iamRoleArn: role.arn,
                maxAggregationInterval: 60,
                tags: tagged(`${name}-flow-logs`),
            },
            { parent: this },
        );
    }
}
