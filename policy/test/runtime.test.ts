/**
 * The in-process runtime drives policies through @pulumi/policy's own
 * analyzer handlers. These tests pin what that buys: schema defaults reach
 * getConfig, levels come from config, unknown values in preview downgrade to
 * an advisory "can't run during preview", secrets arrive unwrapped,
 * notApplicable is honoured, stack tags and typed isType/asType work.
 */
import * as assert from "node:assert/strict";
import * as k8s from "@pulumi/kubernetes";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import type { Policies, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { PolicyConfigError, reconcileConfig } from "../runtime/config";
import { runPolicyList } from "../runtime/run";
import { T, deployment, res } from "./fixtures";

const seen: any[] = [];

const probe: ResourceValidationPolicy = {
    name: "probe",
    description: "Records what the runtime hands a resource policy.",
    configSchema: { properties: { threshold: { type: "integer", default: 7 }, label: { type: "string" } } },
    validateResource: (args, report) => {
        if (!args.isType(k8s.apps.v1.Deployment)) return args.notApplicable("only Deployments");
        const typed = args.asType(k8s.apps.v1.Deployment);
        seen.push({ config: args.getConfig(), tags: Object.fromEntries(args.stackTags), replicas: typed?.spec?.replicas, secret: (args.props as any).spec?.template?.metadata?.annotations?.token });
        if ((typed?.spec?.replicas ?? 0) < args.getConfig<{ threshold: number }>().threshold) report(`replicas below threshold`);
    },
};

const stackProbe: StackValidationPolicy = {
    name: "stack-probe",
    description: "Records what the runtime hands a stack policy.",
    validateStack: (args, report) => {
        const d = args.resources.find((r) => r.isType(k8s.apps.v1.Deployment))!;
        seen.push({ stackName: d.props.metadata.name, parent: d.parent?.urn, deps: d.dependencies.map((x) => x.urn) });
        report("stack finding", d.urn);
    },
};

const list: Policies = [probe, stackProbe];
const run = (resources: any[], config: any = {}, tags: Record<string, string> = {}) => runPolicyList("runtime-test", list, resources, { config, stackTags: tags });

describe("in-process policy runtime", () => {
    beforeEach(() => { seen.length = 0; });

    it("applies the schema's defaults to getConfig, overlays the file and delivers stack tags", async () => {
        const d = deployment("web", { replicas: 2 });
        const v = await run([d], {}, { team: "platform" });
        assert.deepEqual(seen[0].config, { threshold: 7 });
        assert.deepEqual(seen[0].tags, { team: "platform" });
        assert.deepEqual(v.map((x) => [x.policy, x.level, x.urn, x.message]), [
            ["probe", "mandatory", d.urn, "replicas below threshold"],
            ["stack-probe", "mandatory", d.urn, "stack finding"],
        ]);
        seen.length = 0;
        assert.deepEqual(await run([d], { probe: { threshold: 1, label: "x" } }).then((x) => x.filter((y) => y.policy === "probe")), []);
        assert.deepEqual(seen[0].config, { threshold: 1, label: "x" });
    });

    it("takes enforcement levels from config, `all` first, and skips disabled policies", async () => {
        const d = deployment("web", { replicas: 2 });
        assert.deepEqual((await run([d], { probe: "advisory" })).map((x) => x.level), ["advisory", "mandatory"]);
        assert.deepEqual((await run([d], { all: "advisory", "stack-probe": "mandatory" })).map((x) => x.level), ["advisory", "mandatory"]);
        assert.deepEqual((await run([d], { probe: { enforcementLevel: "disabled" }, "stack-probe": "disabled" })), []);
    });

    it("hands resource policies the inputs and stack policies the outputs, parent and dependencies", async () => {
        const d = deployment("web", { replicas: 9 });
        d.state.metadata.name = "web-provider-named";
        d.dependsOn = ["urn:pulumi:test::noa::kubernetes:core/v1:Namespace::noa"];
        const ns = res("kubernetes:core/v1:Namespace", "noa", { metadata: { name: "noa" } });
        ns.urn = "urn:pulumi:test::noa::kubernetes:core/v1:Namespace::noa";
        const stackRoot = res("pulumi:pulumi:Stack", "noa-test", {}, { custom: false, parent: undefined });
        stackRoot.urn = d.parent!;
        await run([stackRoot, ns, d]);
        assert.equal(seen[0].replicas, 9);
        assert.deepEqual(seen[1], { stackName: "web-provider-named", parent: stackRoot.urn, deps: [ns.urn] });
    });

    it("unwraps secrets for policies", async () => {
        const d = deployment("web", { replicas: 9 });
        d.inputs.spec.template.metadata.annotations = { token: "s3cr3t" };
        d.secretPaths = ["spec.template.metadata.annotations.token"];
        await run([d]);
        assert.equal(seen[0].secret, "s3cr3t");
    });

    it("reports a policy that reads an unknown preview value as advisory \"can't run during preview\"", async () => {
        const d = deployment("web");
        d.inputs.spec.replicas = rpc.unknownValue;
        const v = await run([d]);
        const probeV = v.filter((x) => x.policy === "probe");
        assert.equal(probeV.length, 1);
        assert.equal(probeV[0].level, "advisory");
        assert.match(probeV[0].message, /can't run policy 'probe' from policy pack 'runtime-test@v\d+\.\d+\.\d+' during preview: \w+ value at \.spec\.replicas can't be known during preview/);
    });

    it("honours notApplicable (no violation for other types)", async () => {
        const cm = res(T.configMap, "cm", { metadata: { name: "cm" }, data: {} });
        const v = await run([cm, deployment("web", { replicas: 9 })]);
        assert.deepEqual(v.filter((x) => x.policy === "probe"), []);
        assert.equal(seen.filter((s) => "config" in s).length, 1, "the probe only ran for the Deployment");
    });
});

describe("policy config reconciliation", () => {
    it("rejects unknown policies, unknown keys, wrong types and bad levels, naming each path and value", () => {
        assert.throws(
            () => reconcileConfig(list, { probe: { threshold: "high", colour: 1, enforcementLevel: "loud" } as any, nope: "advisory" }, "mandatory", "x.json"),
            (err: unknown) => {
                assert.ok(err instanceof PolicyConfigError);
                assert.match(err.message, /^policy config x\.json is invalid:/);
                assert.deepEqual(err.problems, [
                    'probe.enforcementLevel ("loud") must be one of advisory, mandatory, remediate, disabled',
                    "nope is not a policy of this pack (policies: probe, stack-probe)",
                    'probe must NOT have additional properties ("colour")',
                    "probe.threshold must be integer",
                ]);
                return true;
            },
        );
    });

    it("starts from schema defaults and the policy's own level", () => {
        assert.deepEqual(reconcileConfig(list, {}), {
            probe: { enforcementLevel: "mandatory", properties: { threshold: 7 } },
            "stack-probe": { enforcementLevel: "mandatory", properties: {} },
        });
    });
});
