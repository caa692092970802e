import assert from "node:assert/strict";
import { clientAddress } from "../src/client-ip";

describe("clientAddress", () => {
  const cases: Array<[string, string | undefined, string | string[] | undefined, number, string]> = [
    ["no proxies: the peer is the client, whatever X-Forwarded-For says", "10.0.0.9", "1.2.3.4", 0, "10.0.0.9"],
    ["ALB + Istio: client appended by the ALB, ALB appended by Istio", "127.0.0.6", "203.0.113.7, 10.0.1.20", 2, "203.0.113.7"],
    ["a forged entry left of the real client is ignored", "127.0.0.6", "6.6.6.6, 203.0.113.7, 10.0.1.20", 2, "203.0.113.7"],
    ["one trusted hop takes the rightmost entry", "10.0.0.9", "6.6.6.6, 198.51.100.4", 1, "198.51.100.4"],
    ["a shorter chain than configured falls back to its leftmost entry", "10.0.0.9", "198.51.100.4", 2, "198.51.100.4"],
    ["repeated headers are one list", "10.0.0.9", ["6.6.6.6", "198.51.100.4, 10.0.1.20"], 2, "198.51.100.4"],
    ["no header behind trusted proxies: the peer", "10.0.0.9", undefined, 2, "10.0.0.9"],
    ["an empty header: the peer", "10.0.0.9", " , ", 2, "10.0.0.9"],
  ];
  for (const [name, peer, xff, hops, expected] of cases) {
    it(name, () => assert.equal(clientAddress(peer, xff, hops), expected));
  }
});
