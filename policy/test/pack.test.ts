/**
 * The pack as the Pulumi CLI meets it: `index.ts` started in its own process
 * serves the analyzer over gRPC and prints its port; the CLI then asks for
 * the pack's metadata, configures it and sends resources. This test plays
 * the CLI's part over the wire.
 */
import * as assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { policies } from "../policies";
import { analyzerProto, structProto } from "../runtime/analyzer";
import { reconcileConfig } from "../runtime/config";
import { readPolicyConfig } from "../offline";
import { analyzeRequest } from "../runtime/requests";
import { deployment } from "./fixtures";

const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const fromPulumi = (id: string) => require(require.resolve(id, { paths: [pulumiDir] }));
const grpc = fromPulumi("@grpc/grpc-js");
const { AnalyzerClient } = fromPulumi("@pulumi/pulumi/proto/analyzer_grpc_pb");
const { Empty } = fromPulumi("google-protobuf/google/protobuf/empty_pb");

describe("the pack served by index.ts", function () {
    this.timeout(60_000);
    let child: ChildProcess;
    let client: any;
    const rpc = (method: string, request: unknown): Promise<any> =>
        new Promise((resolve, reject) => client[method](request, (err: unknown, res: unknown) => (err ? reject(err) : resolve(res))));

    before(async () => {
        // The CLI starts the pack in its own folder (PolicyPack reads ./package.json for the version).
        child = spawn(process.execPath, ["--import", "tsx", "index.ts"], { cwd: path.join(__dirname, ".."), stdio: ["ignore", "pipe", "pipe"] });
        let stderr = "";
        child.stderr!.on("data", (d) => { stderr += d; });
        const port = await new Promise<string>((resolve, reject) => {
            let out = "";
            child.stdout!.on("data", (d) => {
                out += d;
                const m = /^(\d+)\n/.exec(out);
                if (m) resolve(m[1]);
            });
            child.on("exit", (code) => reject(new Error(`pack exited ${code}: ${stderr}`)));
        });
        client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    });

    after(() => {
        client?.close();
        if (child?.pid && child.exitCode === null) child.kill();
    });

    it("describes every policy with its level, schema, severity and remediation", async () => {
        const info = await rpc("getAnalyzerInfo", new Empty());
        assert.equal(info.getName(), "noa");
        assert.equal(info.getVersion(), require("../package.json").version);
        assert.equal(info.getSupportsconfig(), true);
        const served = info.getPoliciesList();
        assert.deepEqual(served.map((p: any) => p.getName()), policies.map((p) => p.name));
        for (const p of served) {
            const level = p.getName() === "read-only-root-filesystem" ? analyzerProto.EnforcementLevel.ADVISORY : analyzerProto.EnforcementLevel.MANDATORY;
            assert.equal(p.getEnforcementlevel(), level, `${p.getName()} default level`);
            assert.ok(p.getConfigschema(), `${p.getName()} publishes its config schema`);
            assert.ok(p.getRemediationSteps().length > 0, `${p.getName()} publishes remediation steps`);
            assert.notEqual(p.getSeverity(), analyzerProto.PolicySeverity.POLICY_SEVERITY_UNSPECIFIED);
        }
    });

    it("takes the prod config and reports a violation over the wire", async () => {
        const req = new analyzerProto.ConfigureAnalyzerRequest();
        for (const [name, c] of Object.entries(reconcileConfig(policies, readPolicyConfig("prod")))) {
            const pc = new analyzerProto.PolicyConfig();
            pc.setEnforcementlevel(c.enforcementLevel === "advisory" ? analyzerProto.EnforcementLevel.ADVISORY : analyzerProto.EnforcementLevel.MANDATORY);
            pc.setProperties(structProto.Struct.fromJavaScript(c.properties));
            req.getPolicyconfigMap().set(name, pc);
        }
        await rpc("configure", req);
        const d = deployment("gateway", { replicas: 2 });
        d.inputs.spec.template.spec.containers[0].image = "redis:latest";
        const res = await rpc("analyze", analyzeRequest(d, new Map()));
        const got = res.getDiagnosticsList().map((x: any) => [x.getPolicyname(), x.getEnforcementlevel()]);
        assert.deepEqual(got, [["container-images", analyzerProto.EnforcementLevel.MANDATORY]]);
        assert.match(res.getDiagnosticsList()[0].getMessage(), /whose tag "latest" is not an exact version/);
    });
});
