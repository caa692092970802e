/**
 * How the pack recognises the clustered stores: by the Kubernetes
 * recommended labels their components put on every pod —
 * `app.kubernetes.io/name` (the software) and `app.kubernetes.io/component`
 * (the role), with `app.kubernetes.io/instance` naming the cluster. These are
 * the labels components/data and components/messaging set (`roleLabels`).
 */
export const COMPONENT_LABEL = "app.kubernetes.io/component";
export const INSTANCE_LABEL = "app.kubernetes.io/instance";

export interface StoreRole {
    name: string;
    component: string;
}

export const REDIS_NODE: StoreRole = { name: "redis", component: "node" };
export const REDIS_BOOTSTRAP: StoreRole = { name: "redis", component: "bootstrap" };
export const RABBITMQ_NODE: StoreRole = { name: "rabbitmq", component: "node" };
export const CITUS_WORKER: StoreRole = { name: "citus", component: "worker" };
export const CITUS_COORDINATOR: StoreRole = { name: "citus", component: "coordinator" };

/** True when pod labels carry this role. */
export function hasRole(labels: Record<string, string> | undefined, role: StoreRole): boolean {
    return labels?.["app.kubernetes.io/name"] === role.name && labels?.[COMPONENT_LABEL] === role.component;
}

/** `name/component` (e.g. `citus/coordinator`) of pod labels, or just `name` without a component. */
export function roleKey(labels: Record<string, string> | undefined): string | undefined {
    const name = labels?.["app.kubernetes.io/name"];
    if (name === undefined) return undefined;
    const component = labels?.[COMPONENT_LABEL];
    return component === undefined ? name : `${name}/${component}`;
}
