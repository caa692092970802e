/** Replicas and limits: workload-replicas, hpa-bounds, keda-scaledobject-bounds, autoscaler-targets. */
import * as assert from "node:assert/strict";
import { T, assertExactly, deployment, edit, hpa, judge, labels, res, scaledObject, statefulSet } from "./fixtures";

const SCOPE = ["workload-replicas", "hpa-bounds", "keda-scaledobject-bounds", "autoscaler-targets"];

/** A compliant shape (the stack files' numbers): an HPA-owned service, a KEDA-owned worker, a fixed Deployment, stores. */
function stack(env: "dev" | "prod" = "prod") {
    const [min, max] = env === "dev" ? [1, 3] : [3, 20];
    return [
        deployment("gateway"),
        hpa("gateway", "gateway", { minReplicas: min, maxReplicas: max }),
        deployment("worker"),
        scaledObject("worker", "worker", { minReplicaCount: min, maxReplicaCount: max }),
        deployment("pgbouncer", { namespace: "noa-data", replicas: 3 }),
        statefulSet("citus-coordinator", 1, labels("citus", "coordinator", "citus")),
        statefulSet("citus-worker", 4, labels("citus", "worker", "citus")),
    ];
}

describe("replicas and limits", () => {
    for (const env of ["dev", "prod"] as const) {
        it(`passes a compliant stack in ${env}`, async () => {
            assertExactly(await judge(stack(env), env), SCOPE, []);
        });
    }

    describe("workload-replicas", () => {
        it("flags a fixed Deployment below the prod minimum, and accepts it in dev", async () => {
            const one = (p: any) => { p.spec.replicas = 1; };
            assertExactly(await judge(edit(stack(), "pgbouncer", one), "prod"), SCOPE, [["workload-replicas", /^Deployment noa-data\/pgbouncer runs 1 replica\(s\), below the environment's minimum of 3\. Fix: set spec\.replicas to at least 3/]]);
            assertExactly(await judge(edit(stack("dev"), "pgbouncer", one), "dev"), SCOPE, []);
        });

        it("counts an unset spec.replicas as Kubernetes' 1", async () => {
            const s = edit(stack(), "pgbouncer", (p) => { delete p.spec.replicas; });
            assertExactly(await judge(s, "prod"), SCOPE, [["workload-replicas", /runs 1 replica\(s\) \(spec\.replicas unset\)/]]);
        });

        it("flags a workload above the cap (prod 50, dev 10)", async () => {
            const twelve = (p: any) => { p.spec.replicas = 12; };
            assertExactly(await judge(edit(stack(), "pgbouncer", twelve), "prod"), SCOPE, []);
            assertExactly(await judge(edit(stack("dev"), "pgbouncer", twelve), "dev"), SCOPE, [["workload-replicas", /runs 12 replicas, above the environment's cap of 10/]]);
        });

        it("judges what the program declared, not the live count an autoscaler set", async () => {
            // Stack policies see outputs: the live Deployment has the replicas its HPA chose, and the
            // declared object (no spec.replicas) under __inputs.
            const s = stack();
            const gateway = s.find((r) => r.name === "gateway")!;
            gateway.state.spec.replicas = 7;
            assert.equal(gateway.state.__inputs.spec.replicas, undefined);
            assertExactly(await judge(s, "prod"), SCOPE, []);
        });

        it("flags a workload that pins spec.replicas while an autoscaler owns it", async () => {
            const s = edit(stack(), "gateway", (p) => { p.spec.replicas = 3; });
            assertExactly(await judge(s, "prod"), SCOPE, [["workload-replicas", /^Deployment noa\/gateway pins spec\.replicas \(3\) although HorizontalPodAutoscaler noa\/gateway owns its replica count/]]);
        });

        it("allows a configured singleton only at exactly one replica, and no other StatefulSet at one", async () => {
            const two = edit(stack(), "citus-coordinator", (p) => { p.spec.replicas = 2; });
            assertExactly(await judge(two, "prod"), SCOPE, [["workload-replicas", /StatefulSet noa-data\/citus-coordinator runs 2 replica\(s\), below/]]);
            const lone = edit(stack(), "citus-worker", (p) => { p.spec.replicas = 1; });
            assertExactly(await judge(lone, "prod"), [...SCOPE, "citus-cluster-shape"], [
                ["workload-replicas", /StatefulSet noa-data\/citus-worker runs 1 replica\(s\)/],
                ["citus-cluster-shape", /runs 1 worker\(s\), below the environment's minimum of 2/],
            ]);
        });
    });

    describe("hpa-bounds", () => {
        const cases: Array<[string, Record<string, any>, RegExp]> = [
            ["minReplicas below the minimum", { minReplicas: 1 }, /has minReplicas 1, below the environment's minimum of 3/],
            ["unset minReplicas (Kubernetes default 1)", { minReplicas: undefined }, /has minReplicas 1 \(unset, Kubernetes default\)/],
            ["maxReplicas above the cap", { maxReplicas: 60 }, /has maxReplicas 60, above the environment's cap of 50/],
            ["maxReplicas below minReplicas", { minReplicas: 5, maxReplicas: 4 }, /has minReplicas 5 above maxReplicas 4; the API server rejects it/],
            ["no scale-down window", { behavior: { scaleUp: { stabilizationWindowSeconds: 0 } } }, /declares no spec\.behavior\.scaleDown\.stabilizationWindowSeconds/],
            ["a short scale-down window", { behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } }, /scales down after 60 s of stabilization, below the environment's 300 s/],
            ["a CPU target above the band", { metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 95 } } }] }, /targets 95 % CPU utilisation, outside the 50–85 % band/],
            ["a CPU target below the band", { metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 30 } } }] }, /targets 30 % CPU utilisation/],
            ["a per-container CPU target above the band", { metrics: [{ type: "ContainerResource", containerResource: { name: "cpu", container: "app", target: { type: "Utilization", averageUtilization: 99 } } }] }, /targets 99 % CPU utilisation, outside the 50–85 % band/],
        ];
        for (const [what, spec, pattern] of cases) {
            it(`flags ${what}`, async () => {
                const s = edit(stack(), "gateway-hpa", (p) => { Object.assign(p.spec, spec); if ("minReplicas" in spec && spec.minReplicas === undefined) delete p.spec.minReplicas; });
                assertExactly(await judge(s, "prod"), SCOPE, [["hpa-bounds", pattern]]);
            });
        }

        it("applies dev's thresholds in dev (min 1, 60 s window, cap 10)", async () => {
            const short = (p: any) => { p.spec.behavior.scaleDown.stabilizationWindowSeconds = 60; };
            assertExactly(await judge(edit(stack("dev"), "gateway-hpa", short), "dev"), SCOPE, []);
            assertExactly(await judge(edit(stack(), "gateway-hpa", short), "prod"), SCOPE, [["hpa-bounds", /after 60 s/]]);
            assertExactly(await judge(stack("dev"), "prod"), SCOPE, [["hpa-bounds", /minReplicas 1/], ["keda-scaledobject-bounds", /minReplicaCount 1/]]);
            const wide = edit(stack("dev"), "gateway-hpa", (p) => { p.spec.maxReplicas = 20; });
            assertExactly(await judge(wide, "dev"), SCOPE, [["hpa-bounds", /maxReplicas 20, above the environment's cap of 10/]]);
        });

        it("flags an HPA declared with autoscaling/v1", async () => {
            const s = [...stack().filter((r) => r.name !== "gateway-hpa"), res(T.hpaV1, "gateway-hpa", { metadata: { name: "gateway", namespace: "noa" }, spec: { scaleTargetRef: { kind: "Deployment", name: "gateway" }, minReplicas: 3, maxReplicas: 20, targetCPUUtilizationPercentage: 70 } })];
            assertExactly(await judge(s, "prod"), SCOPE, [["hpa-bounds", /HorizontalPodAutoscaler noa\/gateway uses autoscaling\/v1, which lacks scaling behavior/]]);
        });
    });

    describe("keda-scaledobject-bounds", () => {
        it("flags KEDA's defaults (0 and 100) when the bounds are unset", async () => {
            const s = edit(stack(), "worker-so", (p) => { delete p.spec.minReplicaCount; delete p.spec.maxReplicaCount; });
            assertExactly(await judge(s, "prod"), SCOPE, [
                ["keda-scaledobject-bounds", /has minReplicaCount 0 \(unset, KEDA default\), below the environment's minimum of 3/],
                ["keda-scaledobject-bounds", /has maxReplicaCount 100 \(unset, KEDA default\), above the environment's cap of 50/],
            ]);
        });

        it("flags an idleReplicaCount below the minimum (KEDA's scale while no trigger is active)", async () => {
            const s = edit(stack(), "worker-so", (p) => { p.spec.idleReplicaCount = 0; });
            assertExactly(await judge(s, "prod"), SCOPE, [
                ["keda-scaledobject-bounds", /^ScaledObject noa\/worker has idleReplicaCount 0: with no trigger active KEDA scales it to 0, below the environment's minimum of 3/],
            ]);
            // KEDA wants idle < min: 3 idle under a minimum of 4 keeps the floor.
            assertExactly(await judge(edit(stack(), "worker-so", (p) => { p.spec.idleReplicaCount = 3; p.spec.minReplicaCount = 4; }), "prod"), SCOPE, []);
            assertExactly(await judge(edit(stack(), "worker-so", (p) => { p.spec.idleReplicaCount = 3; }), "prod"), SCOPE, [
                ["keda-scaledobject-bounds", /has idleReplicaCount 3, not below minReplicaCount 3; KEDA refuses the object/],
            ]);
        });

        it("flags min above max and a ScaledObject without triggers", async () => {
            const s = edit(stack(), "worker-so", (p) => { p.spec.minReplicaCount = 8; p.spec.maxReplicaCount = 4; p.spec.triggers = []; });
            assertExactly(await judge(s, "prod"), SCOPE, [
                ["keda-scaledobject-bounds", /has minReplicaCount 8 above maxReplicaCount 4/],
                ["keda-scaledobject-bounds", /has no triggers/],
            ]);
        });

        it("accepts one worker in dev but not in prod", async () => {
            const s = edit(stack("dev"), "worker-so", (p) => { p.spec.minReplicaCount = 1; p.spec.maxReplicaCount = 3; });
            assertExactly(await judge(s, "dev"), SCOPE, []);
            edit(s, "gateway-hpa", (p) => { p.spec.minReplicas = 3; });
            assertExactly(await judge(s, "prod"), SCOPE, [["keda-scaledobject-bounds", /minReplicaCount 1, below the environment's minimum of 3/]]);
        });
    });

    describe("autoscaler-targets", () => {
        it("flags an HPA whose target does not exist (or lives in another namespace)", async () => {
            const missing = edit(stack(), "gateway-hpa", (p) => { p.spec.scaleTargetRef.name = "gatewy"; });
            assertExactly(await judge(missing, "prod"), SCOPE, [
                ["autoscaler-targets", /^HorizontalPodAutoscaler noa\/gateway targets Deployment noa\/gatewy, which this stack does not declare/],
                // The real gateway is now unowned and runs Kubernetes' default of one replica.
                ["workload-replicas", /Deployment noa\/gateway runs 1 replica\(s\) \(spec\.replicas unset\)/],
            ]);
            const elsewhere = edit(stack(), "worker-so", (p) => { p.metadata.namespace = "keda"; });
            assertExactly(await judge(elsewhere, "prod"), SCOPE, [
                ["autoscaler-targets", /ScaledObject keda\/worker targets Deployment keda\/worker, which this stack does not declare/],
                ["workload-replicas", /Deployment noa\/worker runs 1 replica/],
            ]);
        });

        it("flags a workload with both an HPA and a ScaledObject", async () => {
            const s = [...stack(), scaledObject("gateway-keda", "gateway")];
            const v = await judge(s, "prod");
            assertExactly(v, SCOPE, [["autoscaler-targets", /^Deployment noa\/gateway has 2 autoscalers \(HorizontalPodAutoscaler noa\/gateway, ScaledObject noa\/gateway-keda\); they would fight/]]);
            assert.equal(v.find((x) => x.policy === "autoscaler-targets")!.urn, "urn:pulumi:test::noa::kubernetes:apps/v1:Deployment::gateway");
        });
    });
});
