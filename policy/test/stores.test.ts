/** Clustered stores: redis-cluster-shape, rabbitmq-cluster-shape, citus-cluster-shape, stateful-storage-encryption. */
import { T, assertExactly, edit, judge, labels, outputsOf, res, statefulSet } from "./fixtures";

const SCOPE = ["redis-cluster-shape", "rabbitmq-cluster-shape", "citus-cluster-shape", "stateful-storage-encryption"];

function redis(pods: number, perMaster: number | undefined) {
    const bootstrap = labels("redis", "bootstrap", "noa-redis");
    const script = `redis-cli --cluster create $addrs${perMaster === undefined ? "" : ` --cluster-replicas ${perMaster}`} --cluster-yes`;
    return [
        statefulSet("noa-redis", pods, labels("redis", "node", "noa-redis")),
        res(T.job, "noa-redis-bootstrap", { metadata: { name: "noa-redis-bootstrap", namespace: "noa-data", labels: bootstrap }, spec: { template: { metadata: { labels: bootstrap }, spec: { containers: [{ name: "bootstrap", image: "redis:7.4.5", command: ["sh", "-c", script] }] } } } }),
    ];
}

function rabbitmq(nodes: number, partitionHandling: string | undefined) {
    const conf = ["cluster_formation.peer_discovery_backend = rabbit_peer_discovery_k8s", partitionHandling ? `cluster_partition_handling = ${partitionHandling}` : "", "vm_memory_high_watermark.absolute = 1073741824"].join("\n");
    const cm = res(T.configMap, "noa-rabbitmq-config", { metadata: { namespace: "noa-data" }, data: { "rabbitmq.conf": conf } });
    // The provider names the ConfigMap; stack policies see that name in the outputs and the checked inputs.
    cm.state.metadata.name = "noa-rabbitmq-config-4f2a9c1b";
    cm.state.__inputs.metadata.name = "noa-rabbitmq-config-4f2a9c1b";
    const sts = statefulSet("noa-rabbitmq", nodes, labels("rabbitmq", "node", "noa-rabbitmq"));
    const volumes = [{ name: "config", projected: { sources: [{ configMap: { name: "noa-rabbitmq-config-4f2a9c1b" } }, { secret: { name: "defs" } }] } }];
    sts.inputs.spec.template.spec.volumes = volumes;
    sts.state = outputsOf(sts.type, sts.inputs);
    return [cm, sts];
}

const citusWorkers = (n: number) => statefulSet("noa-citus-worker", n, labels("citus", "worker", "noa-citus"));
const storageClass = (encrypted: string) => res(T.storageClass, "gp3", { metadata: { name: "gp3-encrypted" }, provisioner: "ebs.csi.aws.com", parameters: { type: "gp3", encrypted } });

function stack(env: "dev" | "prod") {
    return env === "prod"
        ? [...redis(6, 1), ...rabbitmq(3, "pause_minority"), citusWorkers(4), storageClass("true")]
        : [...redis(3, 0), ...rabbitmq(1, "pause_minority"), citusWorkers(2), storageClass("true")];
}

describe("clustered stores", () => {
    for (const env of ["dev", "prod"] as const) {
        it(`passes the stack files' shapes in ${env}`, async () => {
            assertExactly(await judge(stack(env), env), SCOPE, []);
        });
    }

    describe("redis-cluster-shape", () => {
        it("flags 2 masters everywhere (4 pods with one replica each; 2 pods without replicas)", async () => {
            assertExactly(await judge([...redis(4, 1)], "prod"), SCOPE, [["redis-cluster-shape", /^Redis Cluster StatefulSet noa-data\/noa-redis forms 2 master\(s\) \(4 pods, --cluster-replicas 1\), below the minimum of 3/]]);
            assertExactly(await judge([...redis(2, 0)], "dev"), SCOPE, [["redis-cluster-shape", /forms 2 master\(s\) \(2 pods, --cluster-replicas 0\)/]]);
        });

        it("requires a replica per master in prod, not in dev", async () => {
            assertExactly(await judge(redis(3, 0), "prod"), SCOPE, [["redis-cluster-shape", /has 0 replica\(s\) per master, below the environment's 1; losing one node loses its hash slots\. Fix: create the cluster with --cluster-replicas 1 and 6 pods/]]);
            assertExactly(await judge(redis(3, 0), "dev"), SCOPE, []);
        });

        it("flags a pod count that does not split into masters and replicas", async () => {
            assertExactly(await judge(redis(5, 1), "prod"), SCOPE, [["redis-cluster-shape", /runs 5 pods, which do not split into masters with 1 replica\(s\) each/]]);
        });

        it("flags a cluster whose layout cannot be read (no bootstrap Job, or no --cluster-replicas)", async () => {
            assertExactly(await judge(redis(6, 1).slice(0, 1), "prod"), SCOPE, [["redis-cluster-shape", /has no bootstrap Job, so its masters and replicas cannot be told apart/]]);
            assertExactly(await judge(redis(6, undefined), "prod"), SCOPE, [["redis-cluster-shape", /has a bootstrap Job without --cluster-replicas/]]);
        });
    });

    describe("rabbitmq-cluster-shape", () => {
        it("flags an even node count", async () => {
            assertExactly(await judge(rabbitmq(4, "pause_minority"), "prod"), SCOPE, [["rabbitmq-cluster-shape", /^RabbitMQ StatefulSet noa-data\/noa-rabbitmq runs 4 nodes; an even count cannot keep a quorum/]]);
        });

        it("requires 3 nodes in prod, 1 is enough in dev", async () => {
            assertExactly(await judge(rabbitmq(1, "pause_minority"), "prod"), SCOPE, [["rabbitmq-cluster-shape", /runs 1 node\(s\), below the environment's minimum of 3/]]);
            assertExactly(await judge(rabbitmq(1, "pause_minority"), "dev"), SCOPE, []);
        });

        it("requires pause_minority in the mounted rabbitmq.conf", async () => {
            assertExactly(await judge(rabbitmq(3, "autoheal"), "prod"), SCOPE, [["rabbitmq-cluster-shape", /uses cluster_partition_handling = autoheal; after a network partition/]]);
            assertExactly(await judge(rabbitmq(3, undefined), "dev"), SCOPE, [["rabbitmq-cluster-shape", /mounts no rabbitmq\.conf setting cluster_partition_handling/]]);
            const unmounted = edit(rabbitmq(3, "pause_minority"), "noa-rabbitmq", (p) => { p.spec.template.spec.volumes = []; });
            assertExactly(await judge(unmounted, "prod"), SCOPE, [["rabbitmq-cluster-shape", /mounts no rabbitmq\.conf/]]);
        });
    });

    describe("citus-cluster-shape", () => {
        it("requires 2 workers in prod, 1 in dev", async () => {
            assertExactly(await judge([citusWorkers(1)], "prod"), SCOPE, [["citus-cluster-shape", /^Citus worker StatefulSet noa-data\/noa-citus-worker runs 1 worker\(s\), below the environment's minimum of 2/]]);
            assertExactly(await judge([citusWorkers(1)], "dev"), SCOPE, []);
        });
    });

    describe("stateful-storage-encryption", () => {
        it("flags a volume claim on the default or an unencrypted class", async () => {
            const unset = edit(stack("prod"), "noa-citus-worker", (p) => { delete p.spec.volumeClaimTemplates[0].spec.storageClassName; });
            assertExactly(await judge(unset, "prod"), SCOPE, [["stateful-storage-encryption", /^StatefulSet noa-data\/noa-citus-worker volume claim "data" uses storage class <cluster default>, which is not an encrypted class \(gp3-encrypted\)/]]);
            const gp2 = edit(stack("dev"), "noa-redis", (p) => { p.spec.volumeClaimTemplates[0].spec.storageClassName = "gp2"; });
            assertExactly(await judge(gp2, "dev"), SCOPE, [["stateful-storage-encryption", /noa-redis volume claim "data" uses storage class gp2/]]);
        });

        it("flags a standalone PersistentVolumeClaim and an 'encrypted' class that does not encrypt", async () => {
            const s = [...stack("prod").filter((r) => r.name !== "gp3"), storageClass("false"), res(T.pvc, "scratch", { metadata: { name: "scratch", namespace: "noa" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } })];
            assertExactly(await judge(s, "prod"), SCOPE, [
                ["stateful-storage-encryption", /^PersistentVolumeClaim noa\/scratch uses storage class <cluster default>/],
                ["stateful-storage-encryption", /^StorageClass gp3-encrypted is listed as encrypted but its parameters\.encrypted is "false"/],
            ]);
        });
    });
});
