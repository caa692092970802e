import type { MockResourceArgs } from "@pulumi/pulumi/runtime";
import { ACCOUNT_ID, autoName, Emulated, EmulationContext, PARTITION, REGION, stableHex } from "./common";

/** EC2-style id prefixes, by resource type. */
const EC2_ID_PREFIX: Record<string, string> = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/route:Route": "r",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/flowLog:FlowLog": "fl",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr",
};

/**
 * `@pulumi/aws`: ids, names (auto-naming where the `name` input is absent) and
 * ARNs, plus the few outputs components read back (EKS endpoint, CA, OIDC
 * issuer; bucket and repository names; key ids).
 */
export function emulateAws(args: MockResourceArgs, ctx: EmulationContext): Emulated | undefined {
    if (args.type === "pulumi:providers:aws") return { id: `${args.name}-provider`, state: { ...args.inputs } };
    if (!args.type.startsWith("aws:")) return undefined;
    const inputs = args.inputs ?? {};
    const [, modulePath] = args.type.split(":");
    const service = modulePath.split("/")[0];
    const hex = (n: number) => stableHex(n, ctx.stack, args.type, args.name);
    const prefix = EC2_ID_PREFIX[args.type];
    const name: string = inputs.name ?? autoName(args.name, ctx.stack);
    let id: string = prefix ? `${prefix}-${hex(17)}` : name;
    const state: Record<string, any> = { ...inputs, tagsAll: { ...(inputs.tags ?? {}) } };
    const arn = (resource: string, svc = service, region: string = REGION) =>
        `arn:${PARTITION}:${svc}:${region}:${ACCOUNT_ID}:${resource}`;

    switch (args.type) {
        case "aws:eks/cluster:Cluster": {
            state.name = name;
            state.arn = arn(`cluster/${name}`);
            state.endpoint = `https://${hex(32).toUpperCase()}.gr7.${REGION}.eks.amazonaws.com`;
            state.certificateAuthority = { data: Buffer.from(`-----BEGIN CERTIFICATE-----\n${hex(64)}\n-----END CERTIFICATE-----\n`).toString("base64") };
            state.identities = [{ oidcs: [{ issuer: `https://oidc.eks.${REGION}.amazonaws.com/id/${hex(32).toUpperCase()}` }] }];
            state.status = "ACTIVE";
            state.platformVersion = "eks.1";
            state.vpcConfig = { ...(inputs.vpcConfig ?? {}), clusterSecurityGroupId: `sg-${hex(17)}`, vpcId: `vpc-${hex(17)}` };
            break;
        }
        case "aws:eks/nodeGroup:NodeGroup": {
            const ng = inputs.nodeGroupName ?? autoName(args.name, ctx.stack);
            state.nodeGroupName = ng;
            id = `${inputs.clusterName}:${ng}`;
            state.arn = arn(`nodegroup/${inputs.clusterName}/${ng}/${hex(8)}`);
            state.status = "ACTIVE";
            state.resources = [{ autoscalingGroups: [{ name: `eks-${ng}-${hex(8)}` }] }];
            break;
        }
        case "aws:eks/addon:Addon":
            id = `${inputs.clusterName}:${inputs.addonName}`;
            state.arn = arn(`addon/${inputs.clusterName}/${inputs.addonName}/${hex(8)}`);
            state.addonVersion = inputs.addonVersion ?? "v1.0.0-eksbuild.1";
            break;
        case "aws:eks/accessEntry:AccessEntry":
        case "aws:eks/accessPolicyAssociation:AccessPolicyAssociation":
            id = `${inputs.clusterName}#${inputs.principalArn}`;
            break;
        case "aws:iam/role:Role":
            state.name = name;
            state.arn = `arn:${PARTITION}:iam::${ACCOUNT_ID}:role/${inputs.path && inputs.path !== "/" ? inputs.path.replace(/^\/|\/$/g, "") + "/" : ""}${name}`;
            state.uniqueId = `AROA${hex(17).toUpperCase()}`;
            break;
        case "aws:iam/policy:Policy":
            state.name = name;
            state.arn = `arn:${PARTITION}:iam::${ACCOUNT_ID}:policy/${name}`;
            id = state.arn;
            break;
        case "aws:iam/instanceProfile:InstanceProfile":
            state.name = name;
            state.arn = `arn:${PARTITION}:iam::${ACCOUNT_ID}:instance-profile/${name}`;
            break;
        case "aws:iam/openIdConnectProvider:OpenIdConnectProvider": {
            const host = String(inputs.url ?? "").replace(/^https:\/\//, "");
            state.arn = `arn:${PARTITION}:iam::${ACCOUNT_ID}:oidc-provider/${host}`;
            id = state.arn;
            break;
        }
        case "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
        case "aws:iam/rolePolicy:RolePolicy":
            id = `${inputs.role}-${hex(8)}`;
            break;
        case "aws:kms/key:Key":
            id = `${hex(8)}-${hex(12).slice(0, 4)}-4${hex(15).slice(12, 15)}-a${hex(18).slice(15, 18)}-${hex(30).slice(18, 30)}`;
            state.keyId = id;
            state.arn = arn(`key/${id}`);
            break;
        case "aws:kms/alias:Alias":
            state.arn = arn(String(inputs.name ?? `alias/${name}`));
            break;
        case "aws:s3/bucket:Bucket":
        case "aws:s3/bucketV2:BucketV2": {
            const bucket = inputs.bucket ?? autoName(args.name, ctx.stack).toLowerCase();
            id = bucket;
            state.bucket = bucket;
            state.arn = `arn:${PARTITION}:s3:::${bucket}`;
            state.bucketDomainName = `${bucket}.s3.amazonaws.com`;
            state.bucketRegionalDomainName = `${bucket}.s3.${REGION}.amazonaws.com`;
            state.region = REGION;
            break;
        }
        case "aws:ecr/repository:Repository":
            state.name = name;
            state.arn = arn(`repository/${name}`);
            state.registryId = ACCOUNT_ID;
            state.repositoryUrl = `${ACCOUNT_ID}.dkr.ecr.${REGION}.amazonaws.com/${name}`;
            break;
        case "aws:cloudwatch/logGroup:LogGroup":
            state.name = name;
            state.arn = arn(`log-group:${name}`, "logs");
            break;
        case "aws:ec2/eip:Eip":
            state.publicIp = `3.${parseInt(hex(2), 16)}.${parseInt(hex(4).slice(2), 16)}.${parseInt(hex(6).slice(4), 16)}`;
            state.allocationId = id;
            break;
        case "aws:ec2/launchTemplate:LaunchTemplate":
            state.name = name;
            state.latestVersion = 1;
            state.defaultVersion = 1;
            break;
        case "aws:ec2/vpc:Vpc":
            state.defaultRouteTableId = `rtb-${hex(17)}`;
            state.defaultSecurityGroupId = `sg-${hex(17)}`;
            state.mainRouteTableId = state.defaultRouteTableId;
            break;
        case "aws:ec2/securityGroup:SecurityGroup":
            state.name = name;
            break;
        case "aws:acm/certificate:Certificate":
            state.arn = arn(`certificate/${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`);
            id = state.arn;
            break;
        default:
            break;
    }
    if (state.arn === undefined) {
        const kind = modulePath.split(":")[0].split("/")[1] ?? "resource";
        state.arn = arn(`${kind.toLowerCase()}/${id}`);
    }
    if (inputs.name === undefined && state.name === undefined && !prefix) state.name = name;
    return { id, state };
}

/** Converts `aws.iam.getPolicyDocument` arguments into the IAM JSON document. */
function policyDocument(inputs: Record<string, any>): string {
    const statements = (inputs.statements ?? []).map((s: any) => {
        const out: Record<string, any> = {};
        if (s.sid) out.Sid = s.sid;
        out.Effect = s.effect ?? "Allow";
        const one = (v: string[]) => (v.length === 1 ? v[0] : v);
        if (s.actions) out.Action = one(s.actions);
        if (s.notActions) out.NotAction = one(s.notActions);
        if (s.resources) out.Resource = one(s.resources);
        if (s.notResources) out.NotResource = one(s.notResources);
        if (s.principals) {
            out.Principal = {};
            for (const p of s.principals) out.Principal[p.type] = one(p.identifiers);
        }
        if (s.conditions) {
            out.Condition = {};
            for (const c of s.conditions) {
                out.Condition[c.test] = { ...(out.Condition[c.test] ?? {}), [c.variable]: one(c.values) };
            }
        }
        return out;
    });
    return JSON.stringify({ Version: inputs.version ?? "2012-10-17", Statement: statements });
}

/** Data sources the program may call. Anything else throws (see mocks.ts). */
export const awsInvokes: Record<string, (inputs: Record<string, any>) => Record<string, any>> = {
    "aws:index/getCallerIdentity:getCallerIdentity": () => ({
        accountId: ACCOUNT_ID,
        arn: `arn:${PARTITION}:iam::${ACCOUNT_ID}:user/offline`,
        userId: "AIDAOFFLINE",
        id: ACCOUNT_ID,
    }),
    "aws:index/getRegion:getRegion": () => ({ name: REGION, region: REGION, id: REGION, endpoint: `ec2.${REGION}.amazonaws.com`, description: "US East (N. Virginia)" }),
    "aws:index/getPartition:getPartition": () => ({ partition: PARTITION, dnsSuffix: "amazonaws.com", id: PARTITION, reverseDnsPrefix: "com.amazonaws" }),
    "aws:index/getAvailabilityZones:getAvailabilityZones": (inputs) => {
        // An account's name → ID mapping; here us-east-1c is use1-az3, the zone EKS refuses.
        const zones = ["a", "b", "c", "d", "e", "f"].map((s, i) => ({ name: `${REGION}${s}`, zoneId: `use1-az${i + 1}` }));
        const excluded = new Set<string>((inputs.excludeZoneIds as string[] | undefined) ?? []);
        const kept = zones.filter((z) => !excluded.has(z.zoneId));
        return { names: kept.map((z) => z.name), zoneIds: kept.map((z) => z.zoneId), id: REGION, groupNames: [REGION] };
    },
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": (inputs) => ({
        userName: "AWS",
        password: "offline-ecr-token",
        authorizationToken: Buffer.from("AWS:offline-ecr-token").toString("base64"),
        proxyEndpoint: `https://${inputs.registryId ?? ACCOUNT_ID}.dkr.ecr.${REGION}.amazonaws.com`,
        id: REGION,
        expiresAt: "2099-01-01T00:00:00Z",
    }),
    // The Elastic Load Balancing account that delivers access logs in us-east-1 (AWS-documented).
    "aws:elb/getServiceAccount:getServiceAccount": (inputs) => ({
        arn: `arn:${PARTITION}:iam::127311923021:root`,
        id: "127311923021",
        region: inputs.region ?? REGION,
    }),
    "aws:iam/getPolicyDocument:getPolicyDocument": (inputs) => ({ json: policyDocument(inputs), minifiedJson: policyDocument(inputs), id: stableHex(10, policyDocument(inputs)) }),
    "aws:eks/getAddonVersion:getAddonVersion": (inputs) => ({
        addonName: inputs.addonName,
        kubernetesVersion: inputs.kubernetesVersion,
        version: `v1.0.0-eksbuild.1`,
        id: inputs.addonName,
    }),
};
