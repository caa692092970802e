/**
 * MigrationJob: runs the `migrate` image once per image digest, before the
 * services roll. A Job's pod template is immutable, so a new digest replaces
 * the Job and Pulumi waits for it to complete; the MicroServices list it in
 * `dependsOn`, so a failed migration stops the rollout with the old pods
 * still serving.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { REPLACE_UNREADY_ANNOTATIONS, jobAwaitTimeouts } from "../shared/index.js";

export interface MigrationJobArgs {
    /** Namespace to run in (the services' namespace, where the database Secret lives). Required. */
    readonly namespace: pulumi.Input<string>;
    /** The `migrate` image, pinned by digest. Required. */
    readonly image: pulumi.Input<string>;
    /** Secret and key holding `DATABASE_URL`. Required (contract: `noa-citus-app` / `DATABASE_URL`). */
    readonly databaseUrlSecret: { name: string; key: string };
    /** Retries of a failed migration pod. Default 3. */
    readonly backoffLimit?: number;
    /** Hard deadline for the whole Job in seconds. Default 600. */
    readonly activeDeadlineSeconds?: number;
    /** CPU request/limit and memory request/limit. Default 100m/500m and 128Mi/256Mi. */
    readonly resources?: { cpuRequest: string; cpuLimit: string; memoryRequest: string; memoryLimit: string };
    /** UID/GID the container runs as. Default 1000 (the image's `node` user). */
    readonly runAsUser?: number;
    /** Resources the Job must wait for (e.g. the database). Default none. */
    readonly dependsOn?: pulumi.Input<pulumi.Resource>[];
}

export interface NormalizedMigrationJob {
    namespace: pulumi.Input<string>;
    image: pulumi.Input<string>;
    databaseUrlSecret: { name: string; key: string };
    backoffLimit: number;
    activeDeadlineSeconds: number;
    resources: { cpuRequest: string; cpuLimit: string; memoryRequest: string; memoryLimit: string };
    runAsUser: number;
}

export function normalizeMigrationJobArgs(name: string, args: MigrationJobArgs): NormalizedMigrationJob {
    const problems: string[] = [];
    const backoffLimit = args.backoffLimit ?? 3;
    const activeDeadlineSeconds = args.activeDeadlineSeconds ?? 600;
    const runAsUser = args.runAsUser ?? 1000;
    if (!Number.isInteger(backoffLimit) || backoffLimit < 0) problems.push(`backoffLimit (${backoffLimit}) must be a whole number ≥ 0`);
    if (!Number.isInteger(activeDeadlineSeconds) || activeDeadlineSeconds < 30) problems.push(`activeDeadlineSeconds (${activeDeadlineSeconds}) must be a whole number ≥ 30`);
    if (!Number.isInteger(runAsUser) || runAsUser < 1) problems.push(`runAsUser (${runAsUser}) must be a non-root UID (≥ 1)`);
    if (!args.databaseUrlSecret?.name || !args.databaseUrlSecret?.key) problems.push(`databaseUrlSecret (${JSON.stringify(args.databaseUrlSecret)}) needs a name and a key`);
    if (problems.length > 0) throw new Error(`MigrationJob "${name}": ${problems.join("; ")}`);
    return {
        namespace: args.namespace,
        image: args.image,
        databaseUrlSecret: args.databaseUrlSecret,
        backoffLimit,
        activeDeadlineSeconds,
        resources: args.resources ?? { cpuRequest: "100m", cpuLimit: "500m", memoryRequest: "128Mi", memoryLimit: "256Mi" },
        runAsUser,
    };
}

/** The Job spec: one pod, no sidecar (a sidecar never exits, so the Job would never complete). */
export function migrationJobSpec(n: NormalizedMigrationJob): k8s.types.input.batch.v1.JobSpec {
    return {
        backoffLimit: n.backoffLimit,
        activeDeadlineSeconds: n.activeDeadlineSeconds,
        template: {
            metadata: {
                labels: { "app.kubernetes.io/name": "migrate", "app.kubernetes.io/part-of": "noa" },
                annotations: { "sidecar.istio.io/inject": "false" },
            },
            spec: {
                restartPolicy: "Never",
                automountServiceAccountToken: false,
                securityContext: { runAsNonRoot: true, runAsUser: n.runAsUser, runAsGroup: n.runAsUser, seccompProfile: { type: "RuntimeDefault" } },
                containers: [{
                    name: "migrate",
                    image: n.image,
                    env: [{ name: "DATABASE_URL", valueFrom: { secretKeyRef: { name: n.databaseUrlSecret.name, key: n.databaseUrlSecret.key } } }],
                    resources: {
                        requests: { cpu: n.resources.cpuRequest, memory: n.resources.memoryRequest },
                        limits: { cpu: n.resources.cpuLimit, memory: n.resources.memoryLimit },
                    },
                    securityContext: {
                        allowPrivilegeEscalation: false,
                        readOnlyRootFilesystem: true,
                        runAsNonRoot: true,
                        capabilities: { drop: ["ALL"] },
                    },
                    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
                }],
                volumes: [{ name: "tmp", emptyDir: { sizeLimit: "64Mi" } }],
            },
        },
    };
}

export class MigrationJob extends pulumi.ComponentResource {
    /** The Job; depend on it to roll only after migrations succeeded. */
    public readonly job: k8s.batch.v1.Job;

    constructor(name: string, args: MigrationJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("noa:app:MigrationJob", name, {}, opts);
        const n = normalizeMigrationJobArgs(name, args);
        this.job = new k8s.batch.v1.Job(`${name}-job`, {
            // Auto-named: a new image replaces the Job (create-before-delete) instead of colliding with the old one.
            metadata: {
                namespace: n.namespace,
                labels: { "app.kubernetes.io/name": "migrate", "app.kubernetes.io/part-of": "noa" },
                // A failed migration (a database not ready yet, a lock timeout) runs again on the next up.
                annotations: { ...REPLACE_UNREADY_ANNOTATIONS },
            },
            spec: migrationJobSpec(n),
        }, { parent: this, dependsOn: args.dependsOn, customTimeouts: jobAwaitTimeouts(n.activeDeadlineSeconds) });
        this.registerOutputs({});
    }
}
