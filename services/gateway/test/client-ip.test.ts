import assert from "node:assert/strict";
import { clientAddress, rateLimitSubject } from "../src/client-ip";

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

describe("rateLimitSubject", () => {
  const cases: Array<[string, string]> = [
    ["198.51.100.7", "198.51.100.7"],
    ["::ffff:198.51.100.7", "198.51.100.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:0DB8:0001:0002::7", "2001:db8:1:2::/64"],
    ["[2001:db8:a:b::1]", "2001:db8:a:b::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["64:ff9b::198.51.100.7", "64:ff9b:0:0::/64"],
    ["unknown", "unknown"],
  ];
  for (const [address, subject] of cases) {
    it(`${address} → ${subject}`, () => assert.equal(rateLimitSubject(address), subject));
  }
});
