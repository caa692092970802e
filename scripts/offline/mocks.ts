/**
 * The offline harness: Pulumi runtime mocks shared by every infrastructure
 * test, the policy tests and the offline plan (`npm run plan`).
 *
 * It follows Pulumi's documented unit-testing approach
 * (`pulumi.runtime.setMocks`) and adds what tests need on top:
 *
 * - every registration is recorded — type, name, URN, parent URN, inputs
 *   (secrets unwrapped, their paths listed in `secretPaths`), the state the
 *   emulated provider returned, and the options that matter (`protect`,
 *   `retainOnDelete`, `dependsOn`, `provider`, `ignoreChanges`, aliases,
 *   `additionalSecretOutputs`);
 * - every invoke is recorded, and an invoke without an emulation THROWS, so a
 *   new data source fails loudly instead of silently returning `{}`;
 * - provider-computed values are emulated (see `emulation/`): Kubernetes
 *   `metadata.name` auto-naming, AWS ids/ARNs/names, the EKS endpoint,
 *   certificate authority and OIDC issuer, `docker.Image` `repoDigest`,
 *   `random` results. Values are deterministic (derived from the URN), so
 *   two runs of a plan print the same thing.
 *
 * Use in a test (set the mocks first, then import the code under test):
 *
 *     import { harness, promiseOf } from "@noa/offline";
 *     before(() => harness.install());                 // once per file
 *     beforeEach(() => harness.reset());               // forget earlier registrations
 *     it("...", async () => {
 *       const { Vpc } = await import("@noa/components/network");
 *       const vpc = new Vpc("t1", { ... });
 *       await harness.settle();                        // wait for every registration
 *       harness.one("aws:ec2/vpc:Vpc", "t1-vpc").inputs.cidrBlock;
 *       harness.byType("aws:ec2/subnet:Subnet").length;
 *       harness.childrenOf(vpc);                       // direct children, by parent URN
 *       await promiseOf(vpc.vpcId);
 *     });
 *
 * `install()` takes `{ stack, project, config, preview }`; `config` is the
 * raw stack config (`{"noa:network": "{...}"}`), as Pulumi passes it.
 */
import * as pulumi from "@pulumi/pulumi";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import * as settings from "@pulumi/pulumi/runtime/settings";
import { emulateInvoke, emulateResource } from "./emulation";

/** One resource registration as the engine would have received it. */
export interface Registration {
    urn: string;
    type: string;
    name: string;
    /** URN of the parent (the stack for top-level resources). */
    parent: string | undefined;
    /** `true` for provider resources, `false` for components. */
    custom: boolean;
    /** Inputs with secrets unwrapped. */
    inputs: Record<string, any>;
    /** Dotted paths of inputs that were secret (`data.password`, `stringData`). */
    secretPaths: string[];
    /** What the emulated provider returned as the resource's state. */
    state: Record<string, any>;
    id: string | undefined;
    provider: string | undefined;
    protect: boolean;
    retainOnDelete: boolean;
    dependsOn: string[];
    ignoreChanges: string[];
    additionalSecretOutputs: string[];
    aliases: unknown[];
    deleteBeforeReplace: boolean;
    /** `customTimeouts` as registered (`{ create: "21m", ... }`; empty strings dropped). */
    customTimeouts: { create?: string; update?: string; delete?: string };
}

function customTimeoutsOf(t: { getCreate(): string; getUpdate(): string; getDelete(): string } | undefined): Registration["customTimeouts"] {
    if (!t) return {};
    return Object.fromEntries(Object.entries({ create: t.getCreate(), update: t.getUpdate(), delete: t.getDelete() }).filter(([, v]) => v !== ""));
}

export interface InvokeRecord {
    token: string;
    inputs: Record<string, any>;
}

export interface InstallOptions {
    project?: string;
    stack?: string;
    preview?: boolean;
    /** Raw stack config, keys namespaced (`aws:region`, `noa:network`), values as strings. */
    config?: Record<string, string>;
    /** Config keys whose values are secret. */
    secretKeys?: string[];
}

const SECRET_SIG = rpc.specialSigKey;

/** Unwraps Pulumi's secret envelopes and returns the dotted paths that were secret. */
function unwrapSecrets(value: any, path: string, secrets: string[]): any {
    if (value && typeof value === "object") {
        if (value[SECRET_SIG] === rpc.specialSecretSig) {
            secrets.push(path || "<root>");
            return unwrapSecrets(value.value, path, []);
        }
        if (Array.isArray(value)) {
            return value.map((v, i) => unwrapSecrets(v, `${path}[${i}]`, secrets));
        }
        const out: Record<string, any> = {};
        for (const [k, v] of Object.entries(value)) {
            out[k] = unwrapSecrets(v, path ? `${path}.${k}` : k, secrets);
        }
        return out;
    }
    return value;
}

class Harness {
    readonly registrations: Registration[] = [];
    readonly invokes: InvokeRecord[] = [];
    private pendingState = new Map<string, { id: string | undefined; state: Record<string, any> }>();
    private stack = "test";
    private project = "noa";

    /** Installs the mocks. Call before importing any code that creates resources. */
    install(options: InstallOptions = {}): void {
        this.stack = options.stack ?? "test";
        this.project = options.project ?? "noa";
        pulumi.runtime.setAllConfig(
            { "aws:region": "us-east-1", ...(options.config ?? {}) },
            options.secretKeys ?? [],
        );
        const self = this;
        pulumi.runtime.setMocks(
            {
                newResource(args: pulumi.runtime.MockResourceArgs) {
                    const result = emulateResource(args, { stack: self.stack, project: self.project });
                    // The monitor wrapper below pairs this state with the request's options.
                    self.pendingState.set(`${args.type}::${args.name}`, result);
                    return result;
                },
                call(args: pulumi.runtime.MockCallArgs) {
                    const inputs = unwrapSecrets(args.inputs, "", []);
                    self.invokes.push({ token: args.token, inputs });
                    return emulateInvoke(args.token, inputs);
                },
            },
            this.project,
            this.stack,
            options.preview ?? false,
        );
        this.wrapMonitor();
    }

    /**
     * `newResource` does not see a resource's parent or options, but the mock
     * monitor's request does: wrap `registerResource` to record them.
     */
    private wrapMonitor(): void {
        const monitor = settings.getMonitor() as any;
        const original = monitor.registerResource.bind(monitor);
        monitor.registerResource = (req: any, callback: (err: any, resp: any) => void) => {
            original(req, (err: any, resp: any) => {
                if (!err && resp) {
                    const secretPaths: string[] = [];
                    const raw = rpc.deserializeProperties(req.getObject(), true);
                    const inputs = unwrapSecrets(raw, "", secretPaths);
                    const key = `${req.getType()}::${req.getName()}`;
                    const emulated = this.pendingState.get(key);
                    this.pendingState.delete(key);
                    this.registrations.push({
                        urn: resp.getUrn(),
                        type: req.getType(),
                        name: req.getName(),
                        parent: req.getParent() || undefined,
                        custom: req.getCustom(),
                        inputs,
                        secretPaths,
                        state: emulated?.state ?? {},
                        id: emulated?.id,
                        provider: req.getProvider() || undefined,
                        protect: Boolean(req.getProtect()),
                        retainOnDelete: Boolean(req.getRetainondelete()),
                        dependsOn: req.getDependenciesList(),
                        ignoreChanges: req.getIgnorechangesList(),
                        additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
                        aliases: req.getAliasesList(),
                        deleteBeforeReplace: Boolean(req.getDeletebeforereplace()),
                        customTimeouts: customTimeoutsOf(req.getCustomtimeouts()),
                    });
                }
                callback(err, resp);
            });
        };
    }

    /** Forgets every registration and invoke recorded so far. */
    reset(): void {
        this.registrations.length = 0;
        this.invokes.length = 0;
        this.pendingState.clear();
    }

    /** Waits until every outstanding registration and invoke has completed. */
    async settle(): Promise<Registration[]> {
        // `waitForRPCs` is what the SDK's own `disconnect()` awaits; it is marked
        // internal, so it is absent from the typings of the pinned SDK.
        await (settings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
        return this.registrations;
    }

    /** Every registration of a type (`aws:ec2/subnet:Subnet`). */
    byType(type: string): Registration[] {
        return this.registrations.filter((r) => r.type === type);
    }

    /** Registrations matching a predicate. */
    find(predicate: (r: Registration) => boolean): Registration[] {
        return this.registrations.filter(predicate);
    }

    /** The single registration with this type and name; throws, listing what exists, otherwise. */
    one(type: string, name: string): Registration {
        const matches = this.registrations.filter((r) => r.type === type && r.name === name);
        if (matches.length !== 1) {
            const names = this.byType(type).map((r) => r.name);
            throw new Error(
                `expected exactly one ${type} named "${name}", found ${matches.length}; ` +
                    `registered ${type} names: [${names.join(", ")}]`,
            );
        }
        return matches[0];
    }

    /** The registration of a resource object (matched by URN). */
    async of(resource: pulumi.Resource): Promise<Registration> {
        const urn = await promiseOf(resource.urn);
        const match = this.registrations.find((r) => r.urn === urn);
        if (!match) throw new Error(`no registration recorded for ${urn}`);
        return match;
    }

    /** Direct children of a resource (or of a URN). */
    async childrenOf(parent: pulumi.Resource | string): Promise<Registration[]> {
        const urn = typeof parent === "string" ? parent : await promiseOf(parent.urn);
        return this.registrations.filter((r) => r.parent === urn);
    }

    /** Every invoke of a token. */
    invokesOf(token: string): InvokeRecord[] {
        return this.invokes.filter((i) => i.token === token);
    }
}

/** The one harness of this process (Pulumi's runtime state is process-global). */
export const harness = new Harness();

/** Resolves an Output (known values only; mocks run with preview off by default). */
export function promiseOf<T>(output: pulumi.Output<T> | pulumi.Input<T>): Promise<T> {
    return new Promise<T>((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));
}

/** The names of the direct children of `parent`, sorted (for exact-children assertions). */
export async function childNames(parent: pulumi.Resource): Promise<string[]> {
    return (await harness.childrenOf(parent)).map((r) => `${r.type}::${r.name}`).sort();
}
