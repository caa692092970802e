import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

/** Where the repository (and its Pulumi.<stack>.yaml files) lives. */
export const REPO_ROOT = path.resolve(__dirname, "../..");

export class StackFileError extends Error {}

/**
 * Reads `Pulumi.<stack>.yaml` into the raw config map the Pulumi runtime
 * would hold: namespaced keys (the project name is the default namespace),
 * scalars as strings, objects and lists as JSON strings. Secure values cannot
 * be decrypted offline and are replaced by a placeholder (listed in
 * `secretKeys`).
 */
export function readStackConfig(stack: string, root = REPO_ROOT): { config: Record<string, string>; secretKeys: string[] } {
    if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new StackFileError(`stack name ${JSON.stringify(stack)} is not valid`);
    const file = path.join(root, `Pulumi.${stack}.yaml`);
    let text: string;
    try {
        text = readFileSync(file, "utf8");
    } catch {
        throw new StackFileError(`no stack file ${path.relative(process.cwd(), file) || file} (stacks are Pulumi.<stack>.yaml at the repository root)`);
    }
    let doc: any;
    try {
        doc = parse(text) ?? {};
    } catch (err) {
        throw new StackFileError(`${path.basename(file)} is not valid YAML: ${(err as Error).message}`);
    }
    const project = (parse(readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) ?? {}).name ?? "noa";
    const config: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [rawKey, value] of Object.entries<any>(doc.config ?? {})) {
        const key = rawKey.includes(":") ? rawKey : `${project}:${rawKey}`;
        if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && "secure" in value) {
            config[key] = "offline-secret-placeholder";
            secretKeys.push(key);
        } else {
            config[key] = typeof value === "string" ? value : JSON.stringify(value);
        }
    }
    return { config, secretKeys };
}
