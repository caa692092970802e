import type { StackValidationPolicy } from "@pulumi/policy";
import { declaredObjects } from "../lib/kubernetes";
import { fix, strings } from "../lib/policy";

export interface StorageEncryptionConfig {
    encryptedStorageClasses: string[];
}

const STATEFUL_SET = "kubernetes:apps/v1:StatefulSet";
const PVC = "kubernetes:core/v1:PersistentVolumeClaim";
const STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass";

/**
 * Data at rest (Citus, Redis, RabbitMQ, anything with a volume) lives on
 * volumes of an encrypted storage class — named explicitly, because the
 * cluster's default class can change under the workload.
 */
export const statefulStorageEncryption: StackValidationPolicy = {
    name: "stateful-storage-encryption",
    description: "Every StatefulSet volume claim template and PersistentVolumeClaim names an encrypted storage class, and those classes (when declared in the stack) encrypt.",
    severity: "high",
    remediationSteps: "Set spec.storageClassName to an encrypted class (gp3-encrypted) on every volume claim; declare the class with parameters.encrypted \"true\".",
    configSchema: {
        properties: {
            encryptedStorageClasses: strings("Storage classes whose volumes are encrypted.", ["gp3-encrypted"]),
        },
    },
    validateStack: (args, reportViolation) => {
        // What the program declared, not the live objects (lib/kubernetes.ts).
        const resources = declaredObjects(args.resources);
        const cfg = args.getConfig<StorageEncryptionConfig>();
        const allowed = new Set(cfg.encryptedStorageClasses);
        const check = (storageClass: string | undefined, who: string, urn: string) => {
            if (storageClass === undefined || !allowed.has(storageClass)) {
                reportViolation(fix(`${who} uses storage class ${storageClass ?? "<cluster default>"}, which is not an encrypted class (${cfg.encryptedStorageClasses.join(", ")}).`, `set spec.storageClassName to ${cfg.encryptedStorageClasses[0] ?? "an encrypted class"}.`), urn);
            }
        };
        for (const r of resources) {
            const ns = r.props.metadata?.namespace ?? "default";
            if (r.type === STATEFUL_SET) {
                for (const t of r.props.spec?.volumeClaimTemplates ?? []) {
                    check(t.spec?.storageClassName, `StatefulSet ${ns}/${r.props.metadata?.name ?? r.name} volume claim "${t.metadata?.name ?? "?"}"`, r.urn);
                }
            } else if (r.type === PVC) {
                check(r.props.spec?.storageClassName, `PersistentVolumeClaim ${ns}/${r.props.metadata?.name ?? r.name}`, r.urn);
            } else if (r.type === STORAGE_CLASS && allowed.has(r.props.metadata?.name)) {
                if (String(r.props.parameters?.encrypted) !== "true") {
                    reportViolation(fix(`StorageClass ${r.props.metadata.name} is listed as encrypted but its parameters.encrypted is ${JSON.stringify(r.props.parameters?.encrypted ?? "unset")}.`, "set parameters.encrypted: \"true\" (and kmsKeyId for a customer-managed key)."), r.urn);
                }
            }
        }
    },
};
