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
