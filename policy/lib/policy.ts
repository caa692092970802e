/**
 * What every noa policy shares: the message shape (problem, then the fix) and
 * small schema builders, so each policy module reads as its rule.
 */
import { type PolicyConfigSchema, UnknownValueError } from "@pulumi/policy";

type PolicyConfigJSONSchema = PolicyConfigSchema["properties"][string];

/** A violation message: what is wrong, then how to fix it. */
export function fix(problem: string, remediation: string): string {
    return `${problem} Fix: ${remediation}`;
}

export const integer = (description: string, def: number, minimum = 0): PolicyConfigJSONSchema => ({ type: "integer", minimum, default: def, description });
export const boolean = (description: string, def: boolean): PolicyConfigJSONSchema => ({ type: "boolean", default: def, description });
export const strings = (description: string, def: string[]): PolicyConfigJSONSchema => ({ type: "array", items: { type: "string", minLength: 1 }, uniqueItems: true, default: def, description });
/** A Kubernetes quantity (`500m`, `2`, `8Gi`). */
export const quantity = (description: string, def: string): PolicyConfigJSONSchema => ({
    type: "string", pattern: "^(\\d+\\.?\\d*|\\.\\d+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$", default: def, description,
});

/**
 * Reads a value that may be unknown during `pulumi preview` (an output of a
 * resource not yet created, e.g. a new bucket's id). Reading such a value
 * through the policy SDK's proxy throws, which turns the whole policy into
 * an advisory "can't run during preview"; where the value only helps match
 * resources, treat unknown as "no match" and let the other evidence (the
 * engine-recorded dependencies) decide.
 */
export function known<T>(read: () => T): T | undefined {
    return readOrUnknown(read).value;
}

/** True when `read` touches a value unknown during preview (e.g. `() => JSON.stringify(props.policy)` for a whole document). */
export function isUnknown(read: () => unknown): boolean {
    return readOrUnknown(read).unknown;
}

function readOrUnknown<T>(read: () => T): { value: T | undefined; unknown: boolean } {
    try {
        return { value: read(), unknown: false };
    } catch (err) {
        if (err instanceof UnknownValueError) return { value: undefined, unknown: true };
        throw err;
    }
}
