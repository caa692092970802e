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

    describe("rejects, before registering any resource, a config only a later component would refuse", () => {
        const cases: Array<{ what: string; key: string; change: (v: any) => void; services?: (s: any) => void; message: RegExp }> = [
            { what: "a node group label Kubernetes refuses", key: "noa:cluster", change: (c) => { c.nodeGroups.burst.labels["noa.io/pool"] = "burst pool"; }, message: /noa:cluster: EksCluster "noa-prod": nodeGroups\.burst\.labels\.noa\.io\/pool \("burst pool"\) is not a valid Kubernetes label/ },
            { what: "an admin ARN listed twice", key: "noa:cluster", change: (c) => { c.adminPrincipalArns = ["arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/a"]; }, message: /noa:cluster: EksCluster "noa-prod": adminPrincipalArns\[1\] \("arn:aws:iam::123456789012:role\/a"\) is listed twice/ },
            { what: "more PgBouncer replicas than Citus allows", key: "noa:citus", change: (c) => { c.pgbouncerReplicas = 25; }, message: /noa:citus: CitusCluster "noa-citus" has invalid arguments:[\s\S]*pgbouncerReplicas \(25\) must be at most 20/ },
            { what: "a Redis node below its minimum memory", key: "noa:redis", change: (c) => { c.node.memoryRequest = "32Mi"; c.node.memoryLimit = "32Mi"; }, message: /noa:redis: RedisCluster "noa-redis" has invalid arguments:[\s\S]*node\.memoryLimit \("32Mi"\) must be at least 64Mi/ },
            { what: "a Prometheus volume size in decimal units", key: "noa:observability", change: (o) => { o.prometheusStorage = "200G"; }, message: /noa:observability: Observability "noa-prod-observability": prometheusStorage \("200G"\) must be a size like 50Gi/ },
            { what: "a force-destroyed bucket on a protected stack", key: "noa:storage", change: (b) => { b.forceDestroy = true; }, message: /noa:storage: AppBucket "noa-prod-objects": forceDestroy \(true\) contradicts protect \(true\)/ },
            { what: "a web ACL ARN without its id", key: "noa:ingress", change: (i) => { i.wafAclArn = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/noa-acl"; }, message: /noa:ingress: AlbIngress "noa-prod-alb": wafAclArn \("arn:aws:wafv2:us-east-1:123456789012:regional\/webacl\/noa-acl"\) is not a regional WAFv2 web ACL ARN/ },
            { what: "a certificate from another region", key: "noa:ingress", change: (i) => { i.certificateArn = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789"; }, message: /noa:ingress\.certificateArn \("arn:aws:acm:eu-west-1:[^"]+"\) is in eu-west-1, not in the stack's aws:region \(us-east-1\)/ },
            { what: "a requests-per-second HPA without monitoring", key: "noa:observability", change: (o) => { o.monitoring = false; }, services: (s) => { s.gateway.targetRequestsPerSecond = 500; }, message: /noa:services\.gateway\.targetRequestsPerSecond \(500\) needs noa:observability\.monitoring \(false\) to be true/ },
        ];
        for (const c of cases) {
            it(c.what, async () => {
                const { config } = readStackConfig("prod");
                const value = JSON.parse(config[c.key]);
                c.change(value);
                const mutated = { ...config, [c.key]: JSON.stringify(value) };
                if (c.services) {
                    const services = JSON.parse(config["noa:services"]);
                    c.services(services);
                    mutated["noa:services"] = JSON.stringify(services);
                }
                await assert.rejects(evaluateStack("prod", mutated), (err: Error) => err.name === "ConfigError" && c.message.test(err.message));
                const registered = (await harness.settle()).filter((r) => r.type !== "pulumi:pulumi:Stack");
                assert.deepEqual(registered.map((r) => r.urn), []);
            });
        }
    });
});
