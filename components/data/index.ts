/**
 * The data area: the stateful stores the services use — Citus (sharded
 * PostgreSQL behind PgBouncer) and a Redis Cluster.
 */
export * from "./citus";
export * from "./redis";
export { parseQuantity } from "./kube";
export type { StatefulPodArgs } from "./kube";
