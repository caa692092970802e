import * as assert from "node:assert/strict";
import { evaluateStack, readStackConfig } from "../../scripts/offline/evaluate";
import { harness } from "../../scripts/offline/mocks";

describe("the program", () => {
    for (const stack of ["dev", "prod"]) {
        it(`evaluates for ${stack} inside a pulumi:pulumi:Stack root and exports its environment`, async () => {
            const { resources, outputs } = await evaluateStack(stack);
            assert.equal(resources[0].type, "pulumi:pulumi:Stack");
            assert.equal(resources[0].name, `noa-${stack}`);
            assert.equal(outputs.environment, stack);
            for (const r of resources.slice(1)) {
                assert.ok(r.parent, `${r.urn} has a parent (everything hangs off the stack)`);
            }
        });
    }

    it("rejects a broken config before registering any resource", async () => {
        const { config } = readStackConfig("prod");
        const services = JSON.parse(config["noa:services"]);
        services.gateway.minReplicas = 30;
        await assert.rejects(
            evaluateStack("prod", { ...config, "noa:services": JSON.stringify(services) }),
            (err: Error) => err.name === "ConfigError" && /noa:services\.gateway\.minReplicas \(30\) exceeds maxReplicas \(20\)/.test(err.message),
        );
        const registered = (await harness.settle()).filter((r) => r.type !== "pulumi:pulumi:Stack");
        assert.deepEqual(registered.map((r) => r.urn), []);
    });
});
