/**
 * A small toolkit for validating raw stack config: every reader records a
 * problem (with the full key path and the offending value) instead of
 * throwing, so `loadConfig` can report every mistake in one pass.
 */
// The components' own parsers: the stack config and the components that receive it agree on what a CIDR and a quantity are.
import { parseCidr } from "@noa/components/network";
import { parseQuantity } from "@noa/components/shared";

/** Thrown by `loadConfig` with every problem found, one per line. */
export class ConfigError extends Error {
    constructor(readonly problems: string[]) {
        super(`invalid stack config (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n  - ${problems.join("\n  - ")}`);
        this.name = "ConfigError";
    }
}

/** Renders a value for an error message. */
export function show(value: unknown): string {
    if (value === undefined) return "missing";
    if (typeof value === "string") return JSON.stringify(value);
    return JSON.stringify(value) ?? String(value);
}


/**
 * Reads one object of raw config at a key path. Each accessor returns the
 * value (or the default) and records a problem when it is wrong; callers
 * never need to check before using the result (a wrong value yields the
 * default or a harmless placeholder, and `loadConfig` throws at the end).
 */
export class Reader {
    constructor(
        readonly problems: string[],
        readonly path: string,
        readonly raw: Record<string, unknown>,
        private readonly known: Set<string> = new Set(),
        /** Between the path and a key: "." inside a section, ":" for the namespace's own keys (`noa:environment`). */
        private readonly separator: "." | ":" = ".",
    ) {}

    /** Builds a reader for the object at `path`; a non-object is a problem. */
    static of(problems: string[], path: string, value: unknown): Reader {
        if (value === undefined || value === null) return new Reader(problems, path, {});
        if (typeof value !== "object" || Array.isArray(value)) {
            problems.push(`${path} (${show(value)}) must be an object`);
            return new Reader(problems, path, {});
        }
        return new Reader(problems, path, value as Record<string, unknown>);
    }

    at(key: string): string {
        return `${this.path}${this.separator}${key}`;
    }

    problem(key: string, message: string): void {
        this.problems.push(`${this.at(key)} (${show(this.raw[key])}) ${message}`);
    }

    private take(key: string): unknown {
        this.known.add(key);
        return this.raw[key];
    }

    has(key: string): boolean {
        return this.raw[key] !== undefined;
    }

    /** A nested object reader. */
    object(key: string): Reader {
        return Reader.of(this.problems, this.at(key), this.take(key));
    }

    /** Every key of a map-shaped object (e.g. services by name). */
    entries(key: string): [string, Reader][] {
        const obj = this.object(key);
        return Object.keys(obj.raw).map((k) => [k, obj.object(k)]);
    }

    /** A whole number that may be absent (undefined then, not a default). */
    optionalInt(key: string, opts: { min?: number; max?: number } = {}): number | undefined {
        if (this.raw[key] === undefined) {
            this.known.add(key);
            return undefined;
        }
        return this.int(key, opts);
    }

    int(key: string, opts: { min?: number; max?: number; default?: number } = {}): number {
        const v = this.take(key);
        if (v === undefined) {
            if (opts.default !== undefined) return opts.default;
            this.problem(key, "is required");
            return opts.min ?? 0;
        }
        if (typeof v !== "number" || !Number.isInteger(v)) {
            this.problem(key, "must be a whole number");
            return opts.default ?? opts.min ?? 0;
        }
        if (opts.min !== undefined && v < opts.min) this.problem(key, `must be at least ${opts.min}`);
        if (opts.max !== undefined && v > opts.max) this.problem(key, `must be at most ${opts.max}`);
        return v;
    }

    bool(key: string, opts: { default?: boolean } = {}): boolean {
        const v = this.take(key);
        if (v === undefined) {
            if (opts.default !== undefined) return opts.default;
            this.problem(key, "is required");
            return false;
        }
        if (typeof v !== "boolean") {
            this.problem(key, "must be true or false");
            return opts.default ?? false;
        }
        return v;
    }

    string(key: string, opts: { default?: string; pattern?: RegExp; describe?: string } = {}): string {
        const v = this.take(key);
        if (v === undefined) {
            if (opts.default !== undefined) return opts.default;
            this.problem(key, "is required");
            return "";
        }
        if (typeof v !== "string" || v.length === 0) {
            this.problem(key, "must be a non-empty string");
            return opts.default ?? "";
        }
        if (opts.pattern && !opts.pattern.test(v)) {
            this.problem(key, `is not ${opts.describe ?? `of the form ${opts.pattern}`}`);
        }
        return v;
    }

    optionalString(key: string, opts: { pattern?: RegExp; describe?: string } = {}): string | undefined {
        if (this.raw[key] === undefined || this.raw[key] === null || this.raw[key] === "") {
            this.known.add(key);
            return undefined;
        }
        return this.string(key, opts);
    }

    oneOf<T extends string>(key: string, allowed: readonly T[], opts: { default?: T } = {}): T {
        const v = this.take(key);
        if (v === undefined && opts.default !== undefined) return opts.default;
        if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
            this.problem(key, `must be one of ${allowed.join(", ")}`);
            return opts.default ?? allowed[0];
        }
        return v as T;
    }

    stringList(key: string, opts: { default?: string[]; pattern?: RegExp; describe?: string; minLength?: number } = {}): string[] {
        const v = this.take(key);
        if (v === undefined) {
            if (opts.default !== undefined) return opts.default;
            this.problem(key, "is required");
            return [];
        }
        if (!Array.isArray(v) || v.some((e) => typeof e !== "string")) {
            this.problem(key, "must be a list of strings");
            return opts.default ?? [];
        }
        if (opts.minLength !== undefined && v.length < opts.minLength) {
            this.problem(key, `must have at least ${opts.minLength} entr${opts.minLength === 1 ? "y" : "ies"}`);
        }
        v.forEach((e, i) => {
            if (opts.pattern && !opts.pattern.test(e)) {
                this.problems.push(`${this.at(key)}[${i}] (${show(e)}) is not ${opts.describe ?? `of the form ${opts.pattern}`}`);
            }
        });
        return v as string[];
    }

    /** A Kubernetes quantity such as "250m", "512Mi" or "20Gi". */
    quantity(key: string, opts: { default?: string } = {}): string {
        const v = this.string(key, { default: opts.default });
        if (v && parseQuantity(v) === undefined) this.problem(key, "is not a Kubernetes quantity (e.g. 250m, 512Mi, 20Gi)");
        return v;
    }

    cidr(key: string, opts: { default?: string } = {}): string {
        const v = this.string(key, { default: opts.default });
        if (v && !parseCidr(v)) this.problem(key, "is not a valid IPv4 CIDR (a.b.c.d/n with no host bits set)");
        return v;
    }

    cidrList(key: string, opts: { default?: string[]; minLength?: number } = {}): string[] {
        const list = this.stringList(key, opts);
        list.forEach((c, i) => {
            if (!parseCidr(c)) this.problems.push(`${this.at(key)}[${i}] (${show(c)}) is not a valid IPv4 CIDR`);
        });
        return list;
    }

    /** Records every key of this object that no accessor read (typos, stale keys). */
    rejectUnknown(): void {
        for (const key of Object.keys(this.raw)) {
            if (!this.known.has(key)) this.problems.push(`${this.at(key)} is not a known setting`);
        }
    }
}

/** Checks `min <= max` for two already-read numbers and records the problem in the shape users expect. */
export function checkRange(r: Reader, minKey: string, min: number, maxKey: string, max: number): void {
    if (min > max) r.problems.push(`${r.at(minKey)} (${min}) exceeds ${maxKey} (${max})`);
}

/** Checks a request does not exceed its limit (both Kubernetes quantities). */
export function checkRequestWithinLimit(r: Reader, requestKey: string, request: string, limitKey: string, limit: string): void {
    const req = parseQuantity(request);
    const lim = parseQuantity(limit);
    if (req !== undefined && lim !== undefined && lim < req) {
        r.problems.push(`${r.at(limitKey)} (${show(limit)}) is below ${requestKey} (${show(request)})`);
    }
}
