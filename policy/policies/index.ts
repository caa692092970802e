/**
 * Every policy of the noa pack, in the order the pack reports them. The pack
 * (`../index.ts`), the offline runner and the tests all take this list, so
 * what CI enforces and what the tests exercise cannot drift apart.
 */
import type { Policies } from "@pulumi/policy";
import { albIngress } from "./alb-ingress";
import { autoscalerTargets } from "./autoscaler-targets";
import { citusClusterShape } from "./citus-cluster-shape";
import { containerImages } from "./container-images";
import { containerProbes } from "./container-probes";
import { containerResources } from "./container-resources";
import { containerSecurity } from "./container-security";
import { ecrRepositories } from "./ecr-repositories";
import { eksClusterHardening } from "./eks-cluster-hardening";
import { eksNodeGroups } from "./eks-node-groups";
import { hpaBounds } from "./hpa-bounds";
import { istioStrictMtls } from "./istio-strict-mtls";
import { kedaScaledObjectBounds } from "./keda-scaledobject-bounds";
import { podDisruptionBudgets } from "./pod-disruption-budgets";
import { rabbitmqClusterShape } from "./rabbitmq-cluster-shape";
import { readOnlyRootFilesystem } from "./read-only-root-filesystem";
import { redisClusterShape } from "./redis-cluster-shape";
import { s3BucketControls } from "./s3-bucket-controls";
import { statefulStorageEncryption } from "./stateful-storage-encryption";
import { workloadReplicas } from "./workload-replicas";

/** The pack's name (`pulumi preview --policy-pack policy` reports it). */
export const PACK_NAME = "noa";

export const policies: Policies = [
    // Replicas and limits
    workloadReplicas,
    hpaBounds,
    kedaScaledObjectBounds,
    autoscalerTargets,
    // Disruption
    podDisruptionBudgets,
    // Pods
    containerResources,
    containerProbes,
    containerImages,
    containerSecurity,
    readOnlyRootFilesystem,
    // Clustered stores
    redisClusterShape,
    rabbitmqClusterShape,
    citusClusterShape,
    statefulStorageEncryption,
    // AWS and the mesh
    eksClusterHardening,
    eksNodeGroups,
    s3BucketControls,
    ecrRepositories,
    albIngress,
    istioStrictMtls,
];
