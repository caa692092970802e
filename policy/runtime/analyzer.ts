/**
 * The policy pack's own analyzer, driven in process.
 *
 * `pulumi preview --policy-pack` talks to the pack over gRPC: `Configure`
 * (the reconciled config), `ConfigureStack` (stack tags), then `Analyze` per
 * resource (its inputs) and `AnalyzeStack` once (every resource's outputs).
 * Those handlers live in `@pulumi/policy/server`; they deserialize the
 * protobuf properties, wrap them in the unknown-value proxy, build
 * `isType`/`asType`/`getConfig`/`notApplicable`/`stackTags`, resolve
 * enforcement levels and turn violations into diagnostics. Running our
 * policies through those handlers — with real protobuf requests — means a
 * test exercises exactly what CI runs, rather than args built by hand.
 *
 * `Analyze`/`AnalyzeStack` are exported by the package (`makeAnalyzeRpcFun`,
 * `makeAnalyzeStackRpcFun`); `Configure`/`ConfigureStack` are not, so they
 * are taken from the service `serve()` registers, with the gRPC server's
 * `bindAsync` suppressed (nothing listens; the pack prints no port).
 */
import type { EnforcementLevel, Policies } from "@pulumi/policy";
import * as path from "node:path";
import type { ReconciledConfig } from "./config";

type Handler = (call: { request: unknown }, callback: (err: unknown, response?: any) => void) => void;

interface ServerModule {
    serve(name: string, version: string, level: EnforcementLevel, args: { policies: Policies }, initialConfig?: unknown): void;
    makeAnalyzeRpcFun(name: string, version: string, level: EnforcementLevel, policies: Policies): Handler;
    makeAnalyzeStackRpcFun(name: string, version: string, level: EnforcementLevel, policies: Policies): Handler;
}

const policyDir = path.dirname(require.resolve("@pulumi/policy/package.json"));
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
/** Resolved the way the package resolves them, so protobuf classes are the very ones it checks against. */
const fromPolicy = (id: string) => require(require.resolve(id, { paths: [policyDir] }));
export const server: ServerModule = fromPolicy("@pulumi/policy/server");
export const analyzerProto = require(require.resolve("@pulumi/pulumi/proto/analyzer_pb", { paths: [pulumiDir] }));
export const structProto = require(require.resolve("google-protobuf/google/protobuf/struct_pb", { paths: [pulumiDir] }));

export const PACK_VERSION: string = require("../package.json").version;

const LEVEL_TO_PROTO: Record<EnforcementLevel, number> = {
    advisory: analyzerProto.EnforcementLevel.ADVISORY,
    mandatory: analyzerProto.EnforcementLevel.MANDATORY,
    disabled: analyzerProto.EnforcementLevel.DISABLED,
    remediate: analyzerProto.EnforcementLevel.REMEDIATE,
};
export const PROTO_TO_LEVEL: Record<number, EnforcementLevel> = Object.fromEntries(Object.entries(LEVEL_TO_PROTO).map(([k, v]) => [v, k as EnforcementLevel]));

interface ConfigHandlers {
    configure: Handler;
    configureStack: Handler;
}

let configHandlers: ConfigHandlers | undefined;

/**
 * The package's `Configure`/`ConfigureStack` handlers. `serve()` runs once
 * per process (the package allows one pack per process), always with the
 * real pack, so its start-up checks (reserved names, schemas that declare
 * `enforcementLevel`) hold for what CI serves.
 */
function sharedConfigHandlers(): ConfigHandlers {
    if (configHandlers) return configHandlers;
    const grpc = fromPolicy("@grpc/grpc-js");
    const proto = grpc.Server.prototype;
    const { addService, bindAsync } = proto;
    let impl: any;
    proto.addService = function (_definition: unknown, implementation: unknown) { impl = implementation; };
    proto.bindAsync = function () { /* served in process: no port */ };
    try {
        // Loaded here, not at the top: the pack's modules import this runtime's siblings.
        const pack: { PACK_NAME: string; policies: Policies } = require("../policies");
        server.serve(pack.PACK_NAME, PACK_VERSION, "mandatory", { policies: pack.policies });
    } finally {
        proto.addService = addService;
        proto.bindAsync = bindAsync;
    }
    if (!impl?.configure || !impl?.configureStack) throw new Error("@pulumi/policy's analyzer service no longer registers configure/configureStack; update policy/runtime/analyzer.ts");
    configHandlers = { configure: impl.configure, configureStack: impl.configureStack };
    return configHandlers;
}

export function call(handler: Handler, request: unknown): Promise<any> {
    return new Promise((resolve, reject) => handler({ request }, (err, response) => (err ? reject(err) : resolve(response))));
}

/** One pack as the engine sees it: configure it, then analyze resources and the stack. */
export class InProcessAnalyzer {
    readonly analyze: Handler;
    readonly analyzeStack: Handler;
    private readonly handlers: ConfigHandlers;

    constructor(readonly packName: string, readonly policies: Policies, packLevel: EnforcementLevel = "mandatory") {
        this.handlers = sharedConfigHandlers();
        this.analyze = server.makeAnalyzeRpcFun(packName, PACK_VERSION, packLevel, policies);
        this.analyzeStack = server.makeAnalyzeStackRpcFun(packName, PACK_VERSION, packLevel, policies);
    }

    /** `Configure` with a reconciled config (levels and properties per policy). */
    async configure(config: ReconciledConfig): Promise<void> {
        const req = new analyzerProto.ConfigureAnalyzerRequest();
        const map = req.getPolicyconfigMap();
        for (const [name, c] of Object.entries(config)) {
            const pc = new analyzerProto.PolicyConfig();
            pc.setEnforcementlevel(LEVEL_TO_PROTO[c.enforcementLevel]);
            pc.setProperties(structProto.Struct.fromJavaScript(c.properties));
            map.set(name, pc);
        }
        await call(this.handlers.configure, req);
    }

    /** `ConfigureStack`: the stack's tags (what `args.stackTags` returns). */
    async configureStack(stack: string, project: string, tags: Record<string, string>): Promise<void> {
        const req = new analyzerProto.AnalyzerStackConfigureRequest();
        req.setStack(stack);
        req.setProject(project);
        for (const [k, v] of Object.entries(tags)) req.getTagsMap().set(k, v);
        await call(this.handlers.configureStack, req);
    }
}
