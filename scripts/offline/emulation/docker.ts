import type { MockResourceArgs } from "@pulumi/pulumi/runtime";
import { Emulated, EmulationContext, stableHex } from "./common";

/**
 * `@pulumi/docker`: an Image's `repoDigest` is the pushed digest; it is derived
 * from the build inputs so that a changed Dockerfile/context yields a new digest
 * (which is what rolls the pods on a real deploy).
 */
export function emulateDocker(args: MockResourceArgs, ctx: EmulationContext): Emulated | undefined {
    const inputs = args.inputs ?? {};
    switch (args.type) {
        case "docker:index/image:Image": {
            const imageName: string = inputs.imageName ?? args.name;
            const repo = imageName.replace(/:[^/:]+$/, "");
            const digest = `sha256:${stableHex(64, ctx.stack, args.name, JSON.stringify(inputs.build ?? {}))}`;
            return {
                id: `${imageName}-${digest.slice(7, 19)}`,
                state: { ...inputs, imageName, repoDigest: `${repo}@${digest}`, baseImageName: imageName, registryServer: repo.split("/")[0] },
            };
        }
        case "docker:index/remoteImage:RemoteImage": {
            return { id: args.name, state: { ...inputs, repoDigest: `${inputs.name}@sha256:${stableHex(64, args.name)}` } };
        }
        default:
            return undefined;
    }
}
