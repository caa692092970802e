import assert from "node:assert/strict";
import { clientResponseHeaders, upstreamRequestHeaders } from "../src/headers";

describe("upstreamRequestHeaders", () => {
  it("drops hop-by-hop, Connection-listed and gateway-owned headers, and sets the gateway's own", () => {
    const out = upstreamRequestHeaders(
      {
        host: "api.example.com",
        connection: "keep-alive, x-secret-hop",
        "keep-alive": "timeout=5",
        "transfer-encoding": "chunked",
        te: "trailers",
        upgrade: "websocket",
        "proxy-authorization": "Basic abc",
        "x-secret-hop": "1",
        "content-length": "12",
        "x-user-id": "someone-else",
        "x-request-id": "client-chosen",
        expect: "100-continue",
        authorization: "Bearer t",
        "content-type": "application/json",
        "x-forwarded-for": "203.0.113.7",
        traceparent: "00-abc-def-01",
      },
      { requestId: "req-1", peerAddress: "10.0.0.5", protocol: "https", userId: "user-42" },
    );
    assert.deepEqual(out, {
      authorization: "Bearer t",
      "content-type": "application/json",
      traceparent: "00-abc-def-01",
      "x-request-id": "req-1",
      "x-user-id": "user-42",
      "x-forwarded-for": "203.0.113.7, 10.0.0.5",
      "x-forwarded-proto": "https",
      "x-forwarded-host": "api.example.com",
    });
  });

  it("never forwards a client x-user-id on a public route", () => {
    const out = upstreamRequestHeaders({ "x-user-id": "admin" }, { requestId: "r", peerAddress: undefined, protocol: "http" });
    assert.equal(out["x-user-id"], undefined);
    assert.equal(out["x-forwarded-for"], undefined);
  });
});

describe("clientResponseHeaders", () => {
  it("drops hop-by-hop headers from the upstream's answer and keeps the rest", () => {
    const out = clientResponseHeaders({
      connection: "close, x-internal",
      "x-internal": "1",
      "keep-alive": "timeout=5",
      "transfer-encoding": "chunked",
      "content-type": "application/json",
      "set-cookie": ["a=1", "b=2"],
      "content-length": "2",
    });
    assert.deepEqual(out, { "content-type": "application/json", "set-cookie": ["a=1", "b=2"], "content-length": "2" });
  });
});
