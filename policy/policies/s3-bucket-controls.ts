import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { boolean, fix, isUnknown, known } from "../lib/policy";

export interface S3Config {
    requireKms: boolean;
    requireVersioning: boolean;
    requireTlsOnlyPolicy: boolean;
}

const BUCKETS = new Set(["aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"]);
const PUBLIC_ACCESS_BLOCK = new Set(["aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"]);
const ENCRYPTION = new Set([
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
]);
const VERSIONING = new Set(["aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2"]);
const POLICY = new Set(["aws:s3/bucketPolicy:BucketPolicy"]);
const ACL = new Set(["aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"]);
const PUBLIC_ACLS = new Set(["public-read", "public-read-write", "authenticated-read"]);
const PAB_FLAGS = ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"] as const;

interface Statement {
    Effect?: string;
    Principal?: unknown;
    Action?: string | string[];
    Resource?: string | string[];
    Condition?: Record<string, Record<string, unknown>>;
}

function statementsOf(policy: unknown): Statement[] {
    let doc: any = policy;
    if (typeof policy === "string") {
        try {
            doc = JSON.parse(policy);
        } catch {
            return [];
        }
    }
    const s = doc?.Statement ?? [];
    return Array.isArray(s) ? s : [s];
}

const isEveryone = (principal: unknown) => principal === "*" || (typeof principal === "object" && principal !== null && [(principal as any).AWS].flat().includes("*"));

/**
 * An Elastic Load Balancing access-log destination: the bucket lets the
 * region's ELB account (`arn:aws:iam::<elb-account>:root`) or the ELB
 * log-delivery service put objects under `AWSLogs/`. ELB delivers access logs
 * only to SSE-S3 buckets (delivery fails on SSE-KMS), so such a bucket may use
 * AES256 even where KMS is required.
 */
function isElbLogDelivery(s: Statement): boolean {
    if (s.Effect !== "Allow" || ![s.Action].flat().includes("s3:PutObject")) return false;
    const p = (s.Principal ?? {}) as { AWS?: unknown; Service?: unknown };
    const byService = [p.Service].flat().includes("logdelivery.elasticloadbalancing.amazonaws.com");
    const byAccount = [p.AWS].flat().some((a) => typeof a === "string" && /^arn:aws[a-z-]*:iam::\d{12}:root$/.test(a));
    return (byService || byAccount) && [s.Resource].flat().some((r) => typeof r === "string" && r.includes("/AWSLogs/"));
}

/** A Deny for every principal whenever the request is not over TLS. */
function deniesPlainHttp(s: Statement): boolean {
    if (s.Effect !== "Deny" || !isEveryone(s.Principal)) return false;
    const secure = s.Condition?.Bool?.["aws:SecureTransport"];
    return [secure].flat().some((v) => v === false || v === "false");
}

/**
 * On @pulumi/aws 7 a bucket's public access block, encryption, versioning
 * and policy are separate resources, so only the stack view can say whether
 * a bucket has all of them: a full public access block, KMS encryption,
 * versioning (where required) and a policy denying plain HTTP — and no
 * public ACL or public Allow.
 */
export const s3BucketControls: StackValidationPolicy = {
    name: "s3-bucket-controls",
    description: "Every S3 bucket has a full public access block, KMS default encryption, versioning (where required) and a bucket policy denying non-TLS requests, and nothing grants public access.",
    severity: "critical",
    remediationSteps: "Create, for each bucket, a BucketPublicAccessBlock with all four flags true, a BucketServerSideEncryptionConfiguration with sseAlgorithm aws:kms, a BucketVersioning with status Enabled, and a BucketPolicy with a Deny on aws:SecureTransport=false.",
    configSchema: {
        properties: {
            requireKms: boolean("Whether default encryption must use KMS (aws:kms or aws:kms:dsse) rather than S3-managed keys.", true),
            requireVersioning: boolean("Whether buckets must have versioning enabled.", true),
            requireTlsOnlyPolicy: boolean("Whether buckets must have a policy denying requests without TLS.", true),
        },
    },
    validateStack: (args, reportViolation) => {
        const cfg = args.getConfig<S3Config>();
        const controls = args.resources.filter((r) => PUBLIC_ACCESS_BLOCK.has(r.type) || ENCRYPTION.has(r.type) || VERSIONING.has(r.type) || POLICY.has(r.type) || ACL.has(r.type));
        for (const bucket of args.resources.filter((r) => BUCKETS.has(r.type))) {
            const name = known(() => bucket.props.bucket as string | undefined);
            const who = `S3 bucket ${name ?? bucket.name}`;
            // A control names its bucket (its `bucket` input is the bucket's id, unknown in preview for a new
            // bucket); the dependency the engine records on the bucket identifies it either way.
            const of = (types: Set<string>): PolicyResource[] =>
                controls.filter((c) => types.has(c.type) && (c.dependencies.includes(bucket) || (name !== undefined && known(() => c.props.bucket) === name)));

            const pabs = of(PUBLIC_ACCESS_BLOCK);
            const fullBlock = pabs.some((p) => PAB_FLAGS.every((f) => p.props[f] === true));
            if (!fullBlock) {
                const off = pabs.length === 0 ? "has no public access block" : `has a public access block with ${PAB_FLAGS.filter((f) => pabs[0].props[f] !== true).join(", ")} off`;
                reportViolation(fix(`${who} ${off}, so it can be made public.`, "add an aws.s3.BucketPublicAccessBlock with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and restrictPublicBuckets all true."), pabs[0]?.urn ?? bucket.urn);
            }
            const algorithms = [
                ...of(ENCRYPTION).flatMap((e) => (e.props.rules ?? []).map((r: any) => r.applyServerSideEncryptionByDefault?.sseAlgorithm)),
                // The bucket's deprecated inline settings are computed outputs, unknown in preview for a new bucket.
                known(() => bucket.props.serverSideEncryptionConfiguration?.rule?.applyServerSideEncryptionByDefault?.sseAlgorithm),
            ].filter(Boolean);
            // A policy document built from outputs may be unknown in preview; what depends on it is judged at
            // `pulumi up`, when stack policies run again with every value known.
            const policies = of(POLICY);
            const documentUnknown = policies.some((p) => isUnknown(() => JSON.stringify(p.props.policy)));
            const inlineDocument = known(() => JSON.parse(JSON.stringify(bucket.props.policy ?? null)));
            const statements = documentUnknown ? [] : [...policies.flatMap((p) => statementsOf(p.props.policy)), ...statementsOf(inlineDocument)];
            const kms = algorithms.some((a) => a === "aws:kms" || a === "aws:kms:dsse");
            const sseS3Only = algorithms.every((a) => a === "AES256");
            const elbLogsOnSseS3 = sseS3Only && (documentUnknown || statements.some(isElbLogDelivery));
            if (algorithms.length === 0 || (cfg.requireKms && !kms && !elbLogsOnSseS3)) {
                reportViolation(fix(`${who} ${algorithms.length === 0 ? "declares no default encryption" : `encrypts with ${algorithms.join(", ")}, not KMS`}.`, "add an aws.s3.BucketServerSideEncryptionConfiguration with applyServerSideEncryptionByDefault { sseAlgorithm: \"aws:kms\", kmsMasterKeyId } and bucketKeyEnabled."), bucket.urn);
            }
            if (cfg.requireVersioning) {
                const enabled = of(VERSIONING).some((v) => v.props.versioningConfiguration?.status === "Enabled") || known(() => bucket.props.versioning?.enabled) === true;
                if (!enabled) reportViolation(fix(`${who} does not have versioning enabled; an overwrite or delete loses data for good.`, "add an aws.s3.BucketVersioning with versioningConfiguration.status \"Enabled\" (and a noncurrent-version lifecycle rule)."), bucket.urn);
            }
            if (cfg.requireTlsOnlyPolicy && !documentUnknown && !statements.some(deniesPlainHttp)) {
                reportViolation(fix(`${who} has no policy denying requests without TLS.`, "add an aws.s3.BucketPolicy statement: Effect Deny, Principal \"*\", Action s3:*, Condition { Bool: { \"aws:SecureTransport\": \"false\" } }."), bucket.urn);
            }
            for (const s of statements) {
                if (s.Effect === "Allow" && isEveryone(s.Principal) && !s.Condition) {
                    reportViolation(fix(`${who} has a policy allowing ${JSON.stringify(s.Action)} to everyone.`, "grant access to specific roles (IRSA) or serve objects through presigned URLs / CloudFront with OAC."), bucket.urn);
                }
            }
            const acls = [known(() => bucket.props.acl), ...of(ACL).map((a) => a.props.acl)].filter((a) => PUBLIC_ACLS.has(a));
            if (acls.length > 0) reportViolation(fix(`${who} has a public canned ACL (${acls.join(", ")}).`, "remove the ACL; use BucketOwnershipControls BucketOwnerEnforced."), bucket.urn);
        }
    },
};
