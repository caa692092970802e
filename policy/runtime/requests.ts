/**
 * Planned resources → the analyzer's protobuf requests, as the engine builds
 * them: `Analyze` gets a resource's inputs, `AnalyzeStack` every resource's
 * outputs with parent, dependencies and provider. Secret values travel in
 * Pulumi's secret envelope (the package unwraps them); unknown values in
 * preview keep their sentinel (the package's proxy turns a read into
 * "can't run during preview").
 */
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import { analyzerProto, structProto } from "./analyzer";

/**
 * What a plan knows about one resource. `@noa/offline`'s `Registration`
 * has this shape; declared here so the pack does not depend on the harness.
 */
export interface PlannedResource {
    urn: string;
    type: string;
    name: string;
    parent: string | undefined;
    custom: boolean;
    /** Inputs, secrets unwrapped. */
    inputs: Record<string, any>;
    /** Dotted paths (`stringData`, `data.password`, `a[0].b`) whose values were secret. */
    secretPaths: string[];
    /** What the provider returned (outputs). */
    state: Record<string, any>;
    /** Provider reference `urn::id`. */
    provider: string | undefined;
    protect: boolean;
    dependsOn: string[];
    ignoreChanges: string[];
    additionalSecretOutputs: string[];
    deleteBeforeReplace: boolean;
}

/** Plain JSON (what a protobuf Struct holds): undefined and functions dropped, as the engine's serialization drops them. */
function toJson(value: unknown): any {
    return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "function" || typeof v === "bigint" ? undefined : v)));
}

const PATH_PART = /([^.[\]]+)|\[(\d+)\]/g;

/** Re-wraps the values at `paths` in Pulumi's secret envelope. */
function withSecrets(props: Record<string, any>, paths: string[]): Record<string, any> {
    for (const p of paths) {
        if (p === "<root>") continue;
        const parts = [...p.matchAll(PATH_PART)].map((m) => m[1] ?? Number(m[2]));
        let node: any = props;
        for (let i = 0; i < parts.length - 1 && node !== undefined; i++) node = node?.[parts[i]];
        const last = parts[parts.length - 1];
        if (node && typeof node === "object" && last in node) node[last] = { [rpc.specialSigKey]: rpc.specialSecretSig, value: node[last] };
    }
    return props;
}

function options(r: PlannedResource): any {
    const o = new analyzerProto.AnalyzerResourceOptions();
    o.setProtect(r.protect);
    o.setIgnorechangesList(r.ignoreChanges);
    o.setAdditionalsecretoutputsList(r.additionalSecretOutputs);
    o.setDeletebeforereplace(r.deleteBeforeReplace);
    o.setDeletebeforereplacedefined(true);
    if (r.parent) o.setParent(r.parent);
    o.setCustomtimeouts(new analyzerProto.AnalyzerResourceOptions.CustomTimeouts());
    return o;
}

/** Provider messages, built once per provider per plan (every Kubernetes resource shares one, kubeconfig and all). */
const providerMessages = new WeakMap<PlannedResource, any>();

function providerOf(r: PlannedResource, byUrn: Map<string, PlannedResource>): any {
    if (!r.provider) return undefined;
    const urn = r.provider.split("::").slice(0, -1).join("::");
    const p = byUrn.get(urn);
    if (!p) return undefined;
    let pr = providerMessages.get(p);
    if (!pr) {
        pr = new analyzerProto.AnalyzerProviderResource();
        pr.setType(p.type);
        pr.setName(p.name);
        pr.setUrn(p.urn);
        pr.setProperties(structProto.Struct.fromJavaScript(withSecrets(toJson(p.state ?? {}), p.secretPaths)));
        providerMessages.set(p, pr);
    }
    return pr;
}

/** The `Analyze` request for one resource (its inputs). */
export function analyzeRequest(r: PlannedResource, byUrn: Map<string, PlannedResource>): any {
    const req = new analyzerProto.AnalyzeRequest();
    req.setType(r.type);
    req.setName(r.name);
    req.setUrn(r.urn);
    req.setProperties(structProto.Struct.fromJavaScript(withSecrets(toJson(r.inputs ?? {}), r.secretPaths)));
    req.setOptions(options(r));
    const provider = providerOf(r, byUrn);
    if (provider) req.setProvider(provider);
    return req;
}

/** The `AnalyzeStack` request (every resource's outputs, parents and dependencies). */
export function analyzeStackRequest(resources: PlannedResource[], byUrn: Map<string, PlannedResource>): any {
    const req = new analyzerProto.AnalyzeStackRequest();
    req.setResourcesList(resources.map((r) => {
        const ar = new analyzerProto.AnalyzerResource();
        ar.setType(r.type);
        ar.setName(r.name);
        ar.setUrn(r.urn);
        ar.setProperties(structProto.Struct.fromJavaScript(withSecrets(toJson(r.state ?? {}), r.secretPaths)));
        ar.setOptions(options(r));
        if (r.parent) ar.setParent(r.parent);
        ar.setDependenciesList(r.dependsOn);
        const provider = providerOf(r, byUrn);
        if (provider) ar.setProvider(provider);
        return ar;
    }));
    return req;
}
