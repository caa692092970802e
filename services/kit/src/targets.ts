import { BlockList, isIP } from 'node:net';

/**
 * Which hosts and addresses a user-supplied URL (a webhook) may point at: the
 * worker refuses the rest when it connects, and the workflows API when a
 * workflow names one, so the user hears of it as a 400 instead of a job that
 * dead-letters.
 */

/**
 * Addresses a webhook must never reach: this host, the VPC and the cluster's
 * pod and service networks (all in the private ranges EKS allows), link-local
 * (the instance metadata service), shared (CGNAT) and benchmarking space,
 * multicast and reserved ranges, and their IPv6 counterparts, including
 * NAT64 (which would reach IPv4 ones). IPv4-mapped IPv6 addresses are judged
 * by the IPv4 address inside.
 */
const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) BLOCKED.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
] as const) BLOCKED.addSubnet(network, prefix, 'ipv6');

/** True for an IP address in a range that a webhook must not reach. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return BLOCKED.check(address, 'ipv4');
  if (family !== 6) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return BLOCKED.check(mapped[1]!, 'ipv4');
  return BLOCKED.check(address, 'ipv6');
}

/**
 * True for a host that names this machine, the cluster or a private address
 * literally. A single-label name (`users`) or one the cluster's DNS search
 * path completes (`users.noa`) is only caught when it resolves: the address
 * check when the worker connects is the rule; this one fails the obvious
 * cases without a DNS query.
 */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.cluster.local') || host.endsWith('.internal')) return true;
  if (isIP(host) !== 0) return isPrivateAddress(host);
  return !host.includes('.');
}
