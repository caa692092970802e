/**
 * Kubernetes resource quantities, parsed just far enough to compare and size
 * things: a request with its limit, server memory settings from a pod's limit,
 * a volume with an alarm threshold. Shared by the components and by the
 * program's config validation, so all of them agree on what a quantity is.
 */

const QUANTITY = /^([0-9]+(\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const MULTIPLIER: Record<string, number> = {
    m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
    Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** "250m" → 0.25, "512Mi" → 536870912, "2" → 2 (cores, bytes); undefined when it is not a quantity. */
export function parseQuantity(q: unknown): number | undefined {
    if (typeof q !== "string") return undefined;
    const m = QUANTITY.exec(q);
    return m ? Number(m[1]) * MULTIPLIER[m[3] ?? ""] : undefined;
}
