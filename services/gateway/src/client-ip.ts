import { isIP } from "node:net";

/**
 * The client address behind a known number of proxies.
 *
 * `trustedHops` counts the proxies between the client and this process that
 * add an X-Forwarded-For entry, including the one that connects to us. On EKS
 * that is 2: the ALB appends the client's address, the Istio ingress gateway
 * appends the ALB's (Istio's `numTrustedProxies: 1`), and the gateway pod's own
 * sidecar appends nothing. The client is then the entry `trustedHops` places
 * left of the connecting peer; anything further left was written by the client
 * and is ignored, so a forged X-Forwarded-For cannot choose its own rate-limit
 * key. With 0 (local runs) the connecting peer is the client.
 *
 * Hop counting is only safe because nothing reaches the gateway except
 * through that chain (mesh mTLS); fastify's numeric `trustProxy` refuses to
 * assume that, so the rule lives here, explicit.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, trustedHops: number): string {
  const socket = peer ?? "unknown";
  if (trustedHops === 0 || forwardedFor === undefined) return socket;
  const entries = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor)
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  if (entries.length === 0) return socket;
  // chain = [...entries, socket]; the client sits trustedHops left of the socket, or as far left as the chain goes.
  const index = entries.length - trustedHops;
  return entries[Math.max(0, index)];
}

/**
 * The key a client's rate limits are counted under: an IPv4 address as it
 * is (an IPv4-mapped IPv6 one as its IPv4 address), an IPv6 address by its
 * /64. One IPv6 subscriber usually holds a whole /64 (often more), so
 * counting single addresses would give each client 2^64 budgets; the /64 is
 * the usual unit. Anything that is not an address (say `unknown`) is used
 * as it is.
 */
export function rateLimitSubject(address: string): string {
  // IPv4, nearly every request: no work on the hot path.
  if (!address.includes(":")) return address;
  const text = address.trim().toLowerCase().replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (mapped) return mapped[1]!;
  if (isIP(text) !== 6) return address;
  return `${expandIPv6(text).slice(0, 4).join(":")}::/64`;
}

/** The eight hextets of a valid IPv6 address, without leading zeros. */
function expandIPv6(address: string): string[] {
  let text = address;
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const middle = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill("0");
  return [...left, ...middle, ...right].map((hextet) => parseInt(hextet, 16).toString(16));
}
