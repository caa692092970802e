import * as assert from "node:assert/strict";
import { childNames, harness } from "@noa/offline";

describe("GeneratedSecret", () => {
    before(() => harness.install());
    beforeEach(() => harness.reset());

    it("one RandomPassword and one Secret holding it under the key, secret end to end", async () => {
        const { GeneratedSecret } = await import("./index.js");
        const s = new GeneratedSecret("g1", { namespace: "noa", secretName: "noa-jwt", key: "JWT_SECRET" });
        await harness.settle();
        assert.deepEqual(await childNames(s), ["kubernetes:core/v1:Secret::g1-secret", "random:index/randomPassword:RandomPassword::g1-value"]);
        const pw = harness.one("random:index/randomPassword:RandomPassword", "g1-value");
        assert.deepEqual([pw.inputs.length, pw.inputs.special], [64, false]);
        const secret = harness.one("kubernetes:core/v1:Secret", "g1-secret");
        assert.deepEqual(secret.inputs.metadata, { name: "noa-jwt", namespace: "noa", labels: { "app.kubernetes.io/part-of": "noa" } });
        assert.deepEqual(Object.keys(secret.inputs.stringData), ["JWT_SECRET"]);
        assert.equal(secret.inputs.stringData.JWT_SECRET, pw.state.result);
        assert.ok(secret.secretPaths.some((p) => p.startsWith("stringData")));
    });

    it("rejects a short key, a bad name and a bad key at once", async () => {
        const { normalizeGeneratedSecretArgs } = await import("./index.js");
        assert.throws(() => normalizeGeneratedSecretArgs("g2", { namespace: "noa", secretName: "Bad_Name", key: "a b", length: 16 }), {
            message: 'GeneratedSecret "g2": length (16) must be a whole number between 32 and 512; secretName ("Bad_Name") must be a Kubernetes object name; key ("a b") must be a valid Secret key',
        });
    });
});
