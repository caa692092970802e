import type { MockResourceArgs } from "@pulumi/pulumi/runtime";
import { Emulated, EmulationContext, stableHex } from "./common";

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function randomText(length: number, seed: string): string {
    const hex = stableHex(length * 2, seed);
    let out = "";
    for (let i = 0; i < length; i++) out += ALPHANUMERIC[parseInt(hex.slice(i * 2, i * 2 + 2), 16) % ALPHANUMERIC.length];
    return out;
}

/** `@pulumi/random`: deterministic results of the requested shape. */
export function emulateRandom(args: MockResourceArgs, ctx: EmulationContext): Emulated | undefined {
    const seed = `${ctx.stack}/${args.type}/${args.name}`;
    const inputs = args.inputs ?? {};
    switch (args.type) {
        case "random:index/randomPassword:RandomPassword":
        case "random:index/randomString:RandomString": {
            const result = randomText(Number(inputs.length ?? 16), seed);
            return { id: args.name, state: { ...inputs, result, ...(args.type.endsWith("Password") ? { bcryptHash: `$2a$10$${stableHex(53, seed)}` } : {}) } };
        }
        case "random:index/randomId:RandomId": {
            const bytes = Number(inputs.byteLength ?? 8);
            const hex = stableHex(bytes * 2, seed);
            const b64 = Buffer.from(hex, "hex").toString("base64");
            return {
                id: b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""),
                state: { ...inputs, hex: (inputs.prefix ?? "") + hex, b64Std: (inputs.prefix ?? "") + b64, b64Url: (inputs.prefix ?? "") + b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""), dec: BigInt(`0x${hex}`).toString() },
            };
        }
        case "random:index/randomUuid:RandomUuid": {
            const h = stableHex(32, seed);
            const result = `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
            return { id: result, state: { ...inputs, result } };
        }
        case "random:index/randomInteger:RandomInteger": {
            const min = Number(inputs.min ?? 0);
            const max = Number(inputs.max ?? 100);
            const result = min + (parseInt(stableHex(8, seed), 16) % (max - min + 1));
            return { id: String(result), state: { ...inputs, result } };
        }
        default:
            return undefined;
    }
}
