import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";
import { USER_ID_HEADER } from "@noa/kit";

/**
 * Header rules at the proxy hop (RFC 9110 §7.6.1): hop-by-hop headers belong
 * to one connection and are never forwarded, in either direction, nor is any
 * header the `Connection` header names.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Headers the gateway owns towards upstreams: `host` and `content-length` are
 * set by the HTTP client for the upstream connection and body; `x-user-id` is
 * the verified token's subject and must never come from a client; `expect`
 * would make the upstream wait for a 100-continue the gateway never relays.
 */
const GATEWAY_OWNED = new Set(["host", "content-length", USER_ID_HEADER, "expect", "x-request-id"]);

/** The identity and origin of one request, as the gateway established them. */
export interface ForwardContext {
  /** Request id (from `x-request-id` when the client or the mesh sent a valid one). */
  requestId: string;
  /** Address of the peer that connected to the gateway (appended to X-Forwarded-For). */
  peerAddress: string | undefined;
  /** `http` or `https`, as the edge saw it. */
  protocol: string;
  /** Subject of the verified token; absent on public routes. */
  userId?: string;
}

function connectionListed(headers: IncomingHttpHeaders): Set<string> | undefined {
  const connection = headers.connection;
  // Nearly every message says just keep-alive or close: hop-by-hop already, nothing more to drop.
  if (!connection || connection === "keep-alive" || connection === "close") return undefined;
  return new Set(connection.split(",").map((name) => name.trim().toLowerCase()));
}

/** Headers for the upstream request: client headers minus hop-by-hop and gateway-owned ones, plus the gateway's own. */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, context: ForwardContext): Record<string, string | string[]> {
  const listed = connectionListed(incoming);
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    if (HOP_BY_HOP.has(name) || GATEWAY_OWNED.has(name) || listed?.has(name)) continue;
    const value = incoming[name];
    if (value !== undefined) out[name] = value;
  }
  out["x-request-id"] = context.requestId;
  if (context.userId !== undefined) out[USER_ID_HEADER] = context.userId;
  if (context.peerAddress) {
    const prior = incoming["x-forwarded-for"];
    out["x-forwarded-for"] = prior ? `${prior}, ${context.peerAddress}` : context.peerAddress;
  }
  if (!incoming["x-forwarded-proto"]) out["x-forwarded-proto"] = context.protocol;
  if (incoming.host && !incoming["x-forwarded-host"]) out["x-forwarded-host"] = incoming.host;
  return out;
}

/** Headers for the client: the upstream's response headers minus hop-by-hop ones. */
export function clientResponseHeaders(upstream: IncomingHttpHeaders): OutgoingHttpHeaders {
  const listed = connectionListed(upstream);
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    if (HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    const value = upstream[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
