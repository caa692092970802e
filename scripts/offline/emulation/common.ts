import { createHash } from "node:crypto";

export interface EmulationContext {
    stack: string;
    project: string;
}

export interface Emulated {
    id: string | undefined;
    state: Record<string, any>;
}

export const ACCOUNT_ID = "123456789012";
export const REGION = "us-east-1";
export const PARTITION = "aws";

/** A deterministic hex string derived from the given parts (stable across runs). */
export function stableHex(length: number, ...parts: string[]): string {
    let out = "";
    let counter = 0;
    while (out.length < length) {
        out += createHash("sha256").update(`${counter++}\0${parts.join("\0")}`).digest("hex");
    }
    return out.slice(0, length);
}

/** Pulumi's auto-naming: the logical name plus a 7-character suffix. */
export function autoName(name: string, ...salt: string[]): string {
    return `${name}-${stableHex(7, name, ...salt)}`;
}
