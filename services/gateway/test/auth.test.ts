import assert from "node:assert/strict";
import { createSigner } from "fast-jwt";
import { createTokenVerifier } from "../src/auth";

const secret = "s".repeat(40);
const verify = createTokenVerifier({ secret, issuer: "noa", audience: "noa" });
const sign = (claims: Record<string, unknown>, options: Record<string, unknown> = {}, key = secret) =>
  createSigner({ key, algorithm: "HS256", ...options })(claims);
const now = () => Math.floor(Date.now() / 1000);
const valid = { sub: "user-1", iss: "noa", aud: "noa", exp: now() + 60 };

describe("createTokenVerifier", () => {
  it("accepts a valid HS256 token and returns its subject", () => {
    assert.deepEqual(verify(`Bearer ${sign(valid)}`), { ok: true, userId: "user-1" });
  });

  it("answers the same from its cache", () => {
    const token = sign({ ...valid, sub: "user-cached" });
    assert.deepEqual(verify(`Bearer ${token}`), verify(`bearer  ${token}`));
  });

  const failures: Array<[string, string | undefined, string]> = [
    ["no header", undefined, "missing_token"],
    ["not a Bearer scheme", "Basic dXNlcjpwYXNz", "malformed_token"],
    ["garbage token", "Bearer not.a.jwt", "malformed_token"],
    ["expired", `Bearer ${sign({ ...valid, exp: now() - 5 })}`, "expired_token"],
    ["wrong signature", `Bearer ${sign(valid, {}, "other-secret-other-secret-other-secret")}`, "invalid_token"],
    ["wrong issuer", `Bearer ${sign({ ...valid, iss: "evil" })}`, "invalid_token"],
    ["wrong audience", `Bearer ${sign({ ...valid, aud: "other" })}`, "invalid_token"],
    ["no expiry", `Bearer ${sign({ sub: "user-1", iss: "noa", aud: "noa" })}`, "invalid_token"],
    ["no subject", `Bearer ${sign({ iss: "noa", aud: "noa", exp: now() + 60 })}`, "invalid_token"],
    ["alg none", `Bearer ${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${Buffer.from(JSON.stringify(valid)).toString("base64url")}.`, "invalid_token"],
  ];
  for (const [name, header, reason] of failures) {
    it(`rejects ${name} as ${reason}`, () => {
      const result = verify(header);
      assert.equal(result.ok, false);
      assert.equal(!result.ok && result.reason, reason);
    });
  }
});
