import { checkRange, checkRequestWithinLimit, Reader } from "./validate";

/** The services built from `services/` (each has a Dockerfile there). */
export const SERVICE_NAMES = ["gateway", "users", "workflows", "storage", "worker"] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** One service's runtime shape. */
export interface ServiceConfig {
    minReplicas: number;
    maxReplicas: number;
    cpuRequest: string;
    cpuLimit: string;
    memoryRequest: string;
    memoryLimit: string;
    /** Which autoscaler owns the replica count: an HPA (HTTP services) or a KEDA ScaledObject on queue depth (workers). */
    autoscaler: "hpa" | "keda";
    /** HPA CPU utilisation target in percent (seed: 70). */
    targetCpuUtilization: number;
    /** HPA memory utilisation target in percent (seed: 80). */
    targetMemoryUtilization: number;
    /** Optional HPA pods metric: requests per second per replica (needs prometheus-adapter). */
    targetRequestsPerSecond: number | undefined;
    /** KEDA: ready messages per replica before scaling out. */
    queueLengthTarget: number;
    /** Canary: an image reference run as version "canary" next to the stable one. */
    canaryImage: string | undefined;
    /** Canary traffic weight in percent (0–100; default 10, the seed's 90/10 split). */
    canaryWeight: number;
    /** Mesh timeout for one request to this service, ms (VirtualService `timeout`; default 5000). */
    timeoutMs: number;
    /** Mesh retries after the first try, on connection failures only (default 1). */
    retryAttempts: number;
    /** Mesh timeout of each try, ms; (1 + retryAttempts) × perTryTimeoutMs must fit timeoutMs (default 2500). */
    perTryTimeoutMs: number;
}

/** `noa:autoscaling` — HPA behaviour shared by every HPA (seeds 000/001/003). */
export interface AutoscalingConfig {
    scaleUp: { stabilizationWindowSeconds: number; percent: number; pods: number; periodSeconds: number };
    scaleDown: { stabilizationWindowSeconds: number; percent: number; periodSeconds: number };
}

function readService(r: Reader, name: string): ServiceConfig {
    const minReplicas = r.int("minReplicas", { min: 1 });
    const maxReplicas = r.int("maxReplicas", { min: 1, max: 500 });
    checkRange(r, "minReplicas", minReplicas, "maxReplicas", maxReplicas);
    const cpuRequest = r.quantity("cpuRequest");
    const cpuLimit = r.quantity("cpuLimit");
    const memoryRequest = r.quantity("memoryRequest");
    const memoryLimit = r.quantity("memoryLimit");
    checkRequestWithinLimit(r, "cpuRequest", cpuRequest, "cpuLimit", cpuLimit);
    checkRequestWithinLimit(r, "memoryRequest", memoryRequest, "memoryLimit", memoryLimit);
    const autoscaler = r.oneOf("autoscaler", ["hpa", "keda"] as const, { default: name === "worker" ? "keda" : "hpa" });
    const targetCpuUtilization = r.int("targetCpuUtilization", { min: 10, max: 95, default: 70 });
    const targetMemoryUtilization = r.int("targetMemoryUtilization", { min: 10, max: 95, default: 80 });
    const targetRequestsPerSecond = r.optionalInt("targetRequestsPerSecond", { min: 1 });
    const queueLengthTarget = r.int("queueLengthTarget", { min: 1, default: 10 });
    const canaryImage = r.optionalString("canaryImage", { pattern: /^[a-z0-9.\-/:]+(@sha256:[a-f0-9]{64}|:[A-Za-z0-9._-]+)$/, describe: "an image pinned by tag or digest" });
    const canaryWeight = r.int("canaryWeight", { min: 0, max: 100, default: 10 });
    const timeoutMs = r.int("timeoutMs", { min: 100, max: 300000, default: 5000 });
    const retryAttempts = r.int("retryAttempts", { min: 0, max: 10, default: 1 });
    const perTryTimeoutMs = r.int("perTryTimeoutMs", { min: 100, max: 300000, default: 2500 });
    // Istio's `attempts` counts retries: the first try also gets a per-try timeout.
    if ((retryAttempts + 1) * perTryTimeoutMs > timeoutMs) {
        r.problems.push(
            `${r.at("retryAttempts")} (${retryAttempts}) × ${r.at("perTryTimeoutMs")} (${perTryTimeoutMs}) cannot fit ${r.at("timeoutMs")} (${timeoutMs}): ` +
                `1 try + ${retryAttempts} retries take up to ${(retryAttempts + 1) * perTryTimeoutMs} ms`,
        );
    }
    if (autoscaler === "keda" && targetRequestsPerSecond !== undefined) {
        r.problem("targetRequestsPerSecond", "applies to HPAs only; this service is scaled by KEDA (autoscaler: keda)");
    }
    r.rejectUnknown();
    return {
        minReplicas, maxReplicas, cpuRequest, cpuLimit, memoryRequest, memoryLimit, autoscaler,
        targetCpuUtilization, targetMemoryUtilization, targetRequestsPerSecond, queueLengthTarget, canaryImage, canaryWeight,
        timeoutMs, retryAttempts, perTryTimeoutMs,
    };
}

export function readServices(r: Reader): Record<ServiceName, ServiceConfig> {
    const out: Partial<Record<ServiceName, ServiceConfig>> = {};
    for (const name of Object.keys(r.raw)) {
        if (!(SERVICE_NAMES as readonly string[]).includes(name)) {
            r.problems.push(`${r.at(name)} is not a service in services/ (expected one of ${SERVICE_NAMES.join(", ")})`);
        }
    }
    for (const name of SERVICE_NAMES) {
        if (!r.has(name)) {
            r.problems.push(`${r.at(name)} is required (every service needs its replica range and resources)`);
            continue;
        }
        out[name] = readService(r.object(name), name);
    }
    return out as Record<ServiceName, ServiceConfig>;
}

export function readAutoscaling(r: Reader): AutoscalingConfig {
    const up = r.object("scaleUp");
    const scaleUp = {
        stabilizationWindowSeconds: up.int("stabilizationWindowSeconds", { min: 0, max: 3600, default: 0 }),
        percent: up.int("percent", { min: 1, max: 1000, default: 100 }),
        pods: up.int("pods", { min: 1, max: 100, default: 2 }),
        periodSeconds: up.int("periodSeconds", { min: 1, max: 1800, default: 30 }),
    };
    up.rejectUnknown();
    const down = r.object("scaleDown");
    const scaleDown = {
        stabilizationWindowSeconds: down.int("stabilizationWindowSeconds", { min: 0, max: 3600, default: 300 }),
        percent: down.int("percent", { min: 1, max: 100, default: 50 }),
        periodSeconds: down.int("periodSeconds", { min: 1, max: 1800, default: 60 }),
    };
    down.rejectUnknown();
    r.rejectUnknown();
    return { scaleUp, scaleDown };
}
