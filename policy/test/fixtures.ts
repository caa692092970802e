/**
 * Fixture builders: planned resources shaped like the offline harness's
 * registrations, and a compliant baseline stack per area that tests mutate
 * one violation at a time.
 */
import type { PolicyPackConfig } from "@pulumi/policy";
import { runPolicies, readPolicyConfig } from "../offline";
import { policies } from "../policies";
import { liveOutputs } from "@noa/offline/emulation/kubernetes";
import type { PlannedResource } from "../runtime/requests";
import type { Violation } from "../runtime/run";

let counter = 0;

/** The outputs a resource's inputs give it: a Kubernetes object's as the provider records them, others' are the inputs. */
export function outputsOf(type: string, inputs: Record<string, any>): Record<string, any> {
    return type.startsWith("kubernetes:") ? liveOutputs(type.split(":").pop()!, inputs) : structuredClone(inputs);
}

/** A custom resource whose outputs (`state`) follow from its inputs ({@link outputsOf}). */
export function res(type: string, name: string, inputs: Record<string, any>, extra: Partial<PlannedResource> = {}): PlannedResource {
    counter++;
    return {
        urn: `urn:pulumi:test::noa::${type}::${name}`,
        type,
        name,
        parent: "urn:pulumi:test::noa::pulumi:pulumi:Stack::noa-test",
        custom: true,
        inputs,
        secretPaths: [],
        state: outputsOf(type, inputs),
        provider: undefined,
        protect: false,
        dependsOn: [],
        ignoreChanges: [],
        additionalSecretOutputs: [],
        deleteBeforeReplace: false,
        ...extra,
    };
}

export const T = {
    deployment: "kubernetes:apps/v1:Deployment",
    statefulSet: "kubernetes:apps/v1:StatefulSet",
    job: "kubernetes:batch/v1:Job",
    hpa: "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    hpaV1: "kubernetes:autoscaling/v1:HorizontalPodAutoscaler",
    scaledObject: "kubernetes:keda.sh/v1alpha1:ScaledObject",
    pdb: "kubernetes:policy/v1:PodDisruptionBudget",
    configMap: "kubernetes:core/v1:ConfigMap",
    storageClass: "kubernetes:storage.k8s.io/v1:StorageClass",
    pvc: "kubernetes:core/v1:PersistentVolumeClaim",
    ingress: "kubernetes:networking.k8s.io/v1:Ingress",
    peerAuth: "kubernetes:security.istio.io/v1:PeerAuthentication",
    eks: "aws:eks/cluster:Cluster",
    nodeGroup: "aws:eks/nodeGroup:NodeGroup",
    launchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
    bucket: "aws:s3/bucket:Bucket",
    pab: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    sse: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    versioning: "aws:s3/bucketVersioning:BucketVersioning",
    bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
    ecr: "aws:ecr/repository:Repository",
    lb: "aws:lb/loadBalancer:LoadBalancer",
};

export const DIGEST = `sha256:${"ab".repeat(32)}`;
export const ECR_IMAGE = `123456789012.dkr.ecr.us-east-1.amazonaws.com/noa-gateway@${DIGEST}`;

/** A container that passes every pod policy. */
export function goodContainer(name = "app", image = ECR_IMAGE): Record<string, any> {
    return {
        name,
        image,
        resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } },
        readinessProbe: { httpGet: { path: "/health/ready", port: 8080 } },
        livenessProbe: { httpGet: { path: "/health", port: 8080 } },
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
    };
}

export function podSpec(containers = [goodContainer()]): Record<string, any> {
    return { securityContext: { runAsNonRoot: true, runAsUser: 10001 }, containers };
}

export function labels(name: string, component?: string, instance = name): Record<string, string> {
    return {
        "app.kubernetes.io/name": name,
        ...(component ? { "app.kubernetes.io/component": component, "app.kubernetes.io/instance": instance } : {}),
        "app.kubernetes.io/part-of": "noa",
    };
}

export function deployment(name: string, opts: { namespace?: string; replicas?: number; spec?: Record<string, any>; podLabels?: Record<string, string> } = {}): PlannedResource {
    const podLabels = opts.podLabels ?? labels(name);
    const spec: Record<string, any> = { selector: { matchLabels: podLabels }, template: { metadata: { labels: podLabels }, spec: opts.spec ?? podSpec() } };
    if (opts.replicas !== undefined) spec.replicas = opts.replicas;
    return res(T.deployment, name, { metadata: { name, namespace: opts.namespace ?? "noa", labels: podLabels }, spec });
}

export function statefulSet(name: string, replicas: number, podLabels: Record<string, string>, extra: Record<string, any> = {}, namespace = "noa-data"): PlannedResource {
    return res(T.statefulSet, name, {
        metadata: { name, namespace, labels: podLabels },
        spec: {
            replicas,
            serviceName: `${name}-headless`,
            selector: { matchLabels: podLabels },
            template: { metadata: { labels: podLabels }, spec: podSpec([goodContainer(name, `docker.io/library/redis:7.4.5`)]) },
            volumeClaimTemplates: [{ metadata: { name: "data" }, spec: { storageClassName: "gp3-encrypted", accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "10Gi" } } } }],
            ...extra,
        },
    });
}

export function hpa(name: string, target: string, spec: Record<string, any> = {}, namespace = "noa"): PlannedResource {
    return res(T.hpa, `${name}-hpa`, {
        metadata: { name, namespace },
        spec: {
            scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: target },
            minReplicas: 3,
            maxReplicas: 20,
            metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } } }],
            behavior: {
                scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: "Percent", value: 100, periodSeconds: 30 }] },
                scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: "Percent", value: 50, periodSeconds: 60 }] },
            },
            ...spec,
        },
    });
}

export function scaledObject(name: string, target: string, spec: Record<string, any> = {}, namespace = "noa"): PlannedResource {
    return res(T.scaledObject, `${name}-so`, {
        apiVersion: "keda.sh/v1alpha1",
        kind: "ScaledObject",
        metadata: { name, namespace },
        spec: {
            scaleTargetRef: { name: target },
            minReplicaCount: 3,
            maxReplicaCount: 20,
            triggers: [{ type: "rabbitmq", metadata: { queueName: "jobs.email", mode: "QueueLength", value: "10" } }],
            ...spec,
        },
    });
}

export function pdb(name: string, selector: Record<string, string>, spec: Record<string, any> = { maxUnavailable: 1 }, namespace = "noa"): PlannedResource {
    return res(T.pdb, `${name}-pdb`, { metadata: { name: `${name}-pdb`, namespace }, spec: { selector: { matchLabels: selector }, ...spec } });
}

/** Runs the whole pack with an environment's config (optionally patched per policy). */
export async function judge(resources: PlannedResource[], env: "dev" | "prod" = "prod", patch: PolicyPackConfig = {}): Promise<Violation[]> {
    const config = structuredClone(readPolicyConfig(env)) as Record<string, any>;
    for (const [name, value] of Object.entries(patch)) config[name] = typeof value === "string" ? value : { ...(config[name] ?? {}), ...value };
    return runPolicies(resources, env, { config, configSource: `${env}+patch` });
}

/** Violations of one policy. */
export function of(violations: Violation[], policy: string): Violation[] {
    if (!policies.some((p) => p.name === policy)) throw new Error(`no policy ${policy}`);
    return violations.filter((v) => v.policy === policy);
}

/** The distinct policy names among violations, sorted. */
export function policyNames(violations: Violation[]): string[] {
    return [...new Set(violations.map((v) => v.policy))].sort();
}

/**
 * Asserts that, among `scope`'s policies, exactly the `expected` violations
 * were reported (policy and a message pattern each, any order).
 */
export function assertExactly(violations: Violation[], scope: string[], expected: Array<[string, RegExp]>): void {
    const inScope = violations.filter((v) => scope.includes(v.policy));
    const unmatched = [...inScope];
    const missing: string[] = [];
    for (const [policy, pattern] of expected) {
        const i = unmatched.findIndex((v) => v.policy === policy && pattern.test(v.message));
        if (i < 0) missing.push(`${policy} ${pattern}`);
        else unmatched.splice(i, 1);
    }
    if (missing.length > 0 || unmatched.length > 0) {
        throw new Error(`violations differ\n  missing: ${JSON.stringify(missing)}\n  unexpected: ${JSON.stringify(unmatched.map((v) => `${v.policy}: ${v.message}`), null, 2)}`);
    }
}

/** The resource named `name` in a list (throws if absent). */
export function named(resources: PlannedResource[], name: string): PlannedResource {
    const r = resources.find((x) => x.name === name);
    if (!r) throw new Error(`no fixture resource ${name}: ${resources.map((x) => x.name).join(", ")}`);
    return r;
}

/** Applies `change` to a resource's inputs, and gives it the outputs those inputs give (what a changed program would register). */
export function edit(resources: PlannedResource[], name: string, change: (props: any) => void): PlannedResource[] {
    const r = named(resources, name);
    change(r.inputs);
    r.state = outputsOf(r.type, r.inputs);
    return resources;
}
