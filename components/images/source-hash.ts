/**
 * A content hash of everything a Docker build reads: the files of the build
 * context that `.dockerignore` lets through, the Dockerfile, and the build
 * settings. `ServiceImage` tags images with it, so a tag names exactly one
 * build — which is what an ECR repository with IMMUTABLE tags requires.
 */
import ignore from "@balena/dockerignore";
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import * as path from "node:path";

/** Build settings that change the image without changing any file. */
export interface BuildSettings {
    /** Target platform (`linux/amd64`). */
    readonly platform: string;
    /** `--build-arg` values. */
    readonly buildArgs: Readonly<Record<string, string>>;
    /** Multi-stage target, if any. */
    readonly target: string | undefined;
}

/**
 * The files Docker would send as the build context, as paths relative to the
 * context with `/` separators, sorted. `.git` is never included (Docker sends
 * it unless ignored, but it changes on every commit without changing the
 * image). An ignored directory is skipped unless an `!exception` could
 * re-include something inside it (Docker allows that), so `node_modules`
 * is never walked.
 */
export function contextFiles(context: string): string[] {
    const ignoreFile = path.join(context, ".dockerignore");
    let rules: string[] = [];
    try {
        rules = readFileSync(ignoreFile, "utf8").split(/\r?\n/);
    } catch {
        // No .dockerignore: Docker sends everything, and so do we.
    }
    const ig = ignore().add(rules);
    // The literal part (before any wildcard) of each `!exception`: an ignored
    // directory is walked only if an exception could re-include something in it.
    const exceptionPrefixes = rules
        .map((r) => r.trim())
        .filter((r) => r.startsWith("!"))
        .map((r) => r.slice(1).replace(/^\/+/, "").split(/[*?[]/)[0]);
    const mayReinclude = (dir: string) => exceptionPrefixes.some((lit) => lit.startsWith(`${dir}/`) || `${dir}/`.startsWith(lit));
    const out: string[] = [];
    const walk = (relDir: string) => {
        const entries = readdirSync(path.join(context, relDir), { withFileTypes: true })
            .map((e) => e.name)
            .sort();
        for (const entry of entries) {
            const rel = relDir ? `${relDir}/${entry}` : entry;
            if (rel === ".git") continue;
            const stat = lstatSync(path.join(context, rel));
            const ignored = ig.ignores(rel);
            if (stat.isDirectory()) {
                if (ignored && !mayReinclude(rel)) continue;
                walk(rel);
            } else if (!ignored) {
                out.push(rel);
            }
        }
    };
    walk("");
    return out.sort();
}

const contextCache = new Map<string, string>();

/**
 * sha256 over the context's files (path, permission bits and content; a
 * symlink hashes as its target path, which is what Docker copies). The mode
 * counts because COPY keeps it, and because the Docker provider's own context
 * digest includes it: a mode-only change (an exec bit, another umask's
 * checkout) rebuilds the image, and with the mode in the tag the rebuild gets
 * a tag of its own instead of being refused by the immutable repository.
 * Cached per absolute context within one process: six services share the
 * repository root as context.
 */
export function contextHash(context: string): string {
    const abs = path.resolve(context);
    const cached = contextCache.get(abs);
    if (cached) return cached;
    const hash = createHash("sha256");
    for (const rel of contextFiles(abs)) {
        const file = path.join(abs, rel);
        const stat = lstatSync(file);
        hash.update(`${rel}\0${stat.isSymbolicLink() ? "" : (stat.mode & 0o7777).toString(8)}\0`);
        hash.update(stat.isSymbolicLink() ? `link:${readlinkSync(file)}` : readFileSync(file));
        hash.update("\0");
    }
    const digest = hash.digest("hex");
    contextCache.set(abs, digest);
    return digest;
}

/** Forgets cached context hashes (tests that edit a context between builds). */
export function clearContextHashCache(): void {
    contextCache.clear();
}

/**
 * The image tag for a build: `src-` plus 24 hex characters of the hash over
 * the context, the Dockerfile and the build settings. Same inputs, same tag
 * (no rebuild, no push); any change, a new tag (a push that IMMUTABLE allows).
 */
export function sourceTag(context: string, dockerfile: string, settings: BuildSettings): string {
    const hash = createHash("sha256");
    hash.update(`context\0${contextHash(context)}\0`);
    hash.update("dockerfile\0");
    hash.update(readFileSync(dockerfile));
    hash.update(`\0platform\0${settings.platform}\0target\0${settings.target ?? ""}\0`);
    for (const key of Object.keys(settings.buildArgs).sort()) {
        hash.update(`arg\0${key}\0${settings.buildArgs[key]}\0`);
    }
    return `src-${hash.digest("hex").slice(0, 24)}`;
}
