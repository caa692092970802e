import type { MockResourceArgs } from "@pulumi/pulumi/runtime";
import { awsInvokes, emulateAws } from "./aws";
import { Emulated, EmulationContext } from "./common";
import { emulateDocker } from "./docker";
import { emulateKubernetes } from "./kubernetes";
import { emulateRandom } from "./random";

export type { EmulationContext, Emulated } from "./common";

/**
 * What a provider would compute for a new resource. Providers are emulated in
 * their own files; anything unknown (a component, another provider) echoes its
 * inputs with an id derived from its name.
 */
export function emulateResource(args: MockResourceArgs, ctx: EmulationContext): Emulated {
    return (
        emulateAws(args, ctx) ??
        emulateKubernetes(args, ctx) ??
        emulateDocker(args, ctx) ??
        emulateRandom(args, ctx) ?? { id: args.custom ? `${args.name}-id` : undefined, state: { ...(args.inputs ?? {}) } }
    );
}

const INVOKES: Record<string, (inputs: Record<string, any>) => Record<string, any>> = {
    ...awsInvokes,
};

/** An invoke's result; an invoke without an emulation is an error, never `{}`. */
export function emulateInvoke(token: string, inputs: Record<string, any>): Record<string, any> {
    const emulate = INVOKES[token];
    if (!emulate) {
        const error = new Error(
            `offline harness: no emulation for invoke "${token}" (inputs ${JSON.stringify(inputs)}); ` +
                `add one in scripts/offline/emulation/ rather than letting it return {}`,
        );
        // The SDK rebuilds invoke failures from gRPC-style `details`; without it the message is lost.
        (error as Error & { details?: string }).details = error.message;
        throw error;
    }
    return emulate(inputs);
}
