import { parseCidr } from "@noa/components/network";
import { Reader } from "./validate";

/** `noa:network` — the VPC. */
export interface NetworkConfig {
    /** VPC CIDR (IPv4, /16 to /24). */
    cidr: string;
    /** Availability zones to spread over (2–6; dev 2, prod 3). */
    azCount: number;
    /** NAT strategy: one shared gateway (cheap) or one per AZ (no cross-AZ dependency). */
    natGateways: "single" | "perAz";
    /** Prefix length of each public subnet (default 24). */
    publicSubnetPrefixLength: number;
    /** Prefix length of each private subnet (default 19: room for pod IPs with the VPC CNI). */
    privateSubnetPrefixLength: number;
    /** VPC flow logs to CloudWatch. */
    flowLogs: { enabled: boolean; retentionDays: number };
}

/** Retention values CloudWatch Logs accepts (any other number is rejected by the API at deploy time). */
export const CLOUDWATCH_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/** Records a problem when `days` is not a retention CloudWatch Logs accepts. */
export function checkRetention(r: Reader, key: string, days: number): void {
    if (!CLOUDWATCH_RETENTION_DAYS.includes(days)) r.problem(key, `is not a CloudWatch Logs retention (${CLOUDWATCH_RETENTION_DAYS.join(", ")})`);
}

export function readNetwork(r: Reader): NetworkConfig {
    const cidr = r.cidr("cidr");
    const azCount = r.int("azCount", { min: 2, max: 6 });
    const natGateways = r.oneOf("natGateways", ["single", "perAz"] as const);
    const publicSubnetPrefixLength = r.int("publicSubnetPrefixLength", { min: 16, max: 28, default: 24 });
    const privateSubnetPrefixLength = r.int("privateSubnetPrefixLength", { min: 16, max: 28, default: 19 });
    const fl = r.object("flowLogs");
    const flowLogs = { enabled: fl.bool("enabled", { default: false }), retentionDays: fl.int("retentionDays", { min: 1, default: 30 }) };
    checkRetention(fl, "retentionDays", flowLogs.retentionDays);
    fl.rejectUnknown();
    const parsed = parseCidr(cidr);
    if (parsed) {
        if (parsed.prefix < 16 || parsed.prefix > 24) r.problem("cidr", "must have a prefix length between /16 and /24");
        const vpcSize = 2 ** (32 - parsed.prefix);
        const needed = azCount * (2 ** (32 - publicSubnetPrefixLength) + 2 ** (32 - privateSubnetPrefixLength));
        if (publicSubnetPrefixLength < parsed.prefix || privateSubnetPrefixLength < parsed.prefix) {
            r.problems.push(`${r.at("cidr")} (${JSON.stringify(cidr)}) is smaller than its subnets (/${publicSubnetPrefixLength} public, /${privateSubnetPrefixLength} private)`);
        } else if (needed > vpcSize) {
            r.problems.push(
                `${r.at("azCount")} (${azCount}) does not fit: ${azCount} public /${publicSubnetPrefixLength} and ${azCount} private /${privateSubnetPrefixLength} subnets need ${needed} addresses but ${cidr} has ${vpcSize}`,
            );
        }
    }
    r.rejectUnknown();
    return { cidr, azCount, natGateways, publicSubnetPrefixLength, privateSubnetPrefixLength, flowLogs };
}
