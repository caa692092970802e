import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { IrsaRole } from "../cluster";

export interface AppBucketArgs {
    /**
     * `protect` and `retainOnDelete` on the bucket and its KMS key, so neither
     * an accidental delete nor `pulumi destroy` loses objects (prod). Default: false.
     */
    readonly protect?: boolean;
    /** Object versioning: `Enabled` when true, `Suspended` when false. Default: true. */
    readonly versioning?: boolean;
    /** Days after which noncurrent object versions expire (≥ 1). Default: 90. */
    readonly noncurrentVersionExpirationDays?: number;
    /** Days after which incomplete multipart uploads are aborted (≥ 1). Default: 7. */
    readonly abortIncompleteUploadDays?: number;
    /** Days after creation before objects move to S3 Intelligent-Tiering (0 = at once). Default: 30. */
    readonly intelligentTieringDays?: number;
    /**
     * Let `pulumi destroy` delete the bucket while it still holds objects (dev
     * only; refused together with `protect`). Default: false.
     */
    readonly forceDestroy?: boolean;
    /** KMS key deletion window in days (7–30). Default: 30. */
    readonly kmsKeyDeletionWindowDays?: number;
    /** ARN of the cluster's IAM OIDC provider, for the service account's IRSA role. Required. */
    readonly oidcProviderArn: pulumi.Input<string>;
    /** The cluster's OIDC issuer URL, for the service account's IRSA role. Required. */
    readonly oidcIssuerUrl: pulumi.Input<string>;
    /** Namespace of the service account that may use the bucket. Default: `noa`. */
    readonly serviceAccountNamespace?: string;
    /** Name of the service account that may use the bucket. Default: `storage`. */
    readonly serviceAccountName?: string;
    /** Tags on the bucket, key and role. Default: none. */
    readonly tags?: Record<string, string>;
}

export interface NormalizedAppBucketArgs {
    readonly protect: boolean;
    readonly versioning: boolean;
    readonly noncurrentVersionExpirationDays: number;
    readonly abortIncompleteUploadDays: number;
    readonly intelligentTieringDays: number;
    readonly forceDestroy: boolean;
    readonly kmsKeyDeletionWindowDays: number;
    readonly oidcProviderArn: pulumi.Input<string>;
    readonly oidcIssuerUrl: pulumi.Input<string>;
    readonly serviceAccountNamespace: string;
    readonly serviceAccountName: string;
    readonly tags: Record<string, string>;
}

/** Applies defaults and validates every field; one error lists every problem. */
export function normalizeAppBucketArgs(name: string, args: AppBucketArgs): NormalizedAppBucketArgs {
    const problems: string[] = [];
    const at = (key: string, value: unknown, message: string) => problems.push(`${key} (${JSON.stringify(value)}) ${message}`);
    const whole = (key: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
        if (!Number.isInteger(value) || value < min || value > max) {
            at(key, value, max === Number.MAX_SAFE_INTEGER ? `must be a whole number of at least ${min}` : `must be a whole number from ${min} to ${max}`);
        }
        return value;
    };
    const n: NormalizedAppBucketArgs = {
        protect: args.protect ?? false,
        versioning: args.versioning ?? true,
        noncurrentVersionExpirationDays: whole("noncurrentVersionExpirationDays", args.noncurrentVersionExpirationDays ?? 90, 1),
        abortIncompleteUploadDays: whole("abortIncompleteUploadDays", args.abortIncompleteUploadDays ?? 7, 1),
        intelligentTieringDays: whole("intelligentTieringDays", args.intelligentTieringDays ?? 30, 0),
        forceDestroy: args.forceDestroy ?? false,
        kmsKeyDeletionWindowDays: whole("kmsKeyDeletionWindowDays", args.kmsKeyDeletionWindowDays ?? 30, 7, 30),
        oidcProviderArn: args.oidcProviderArn,
        oidcIssuerUrl: args.oidcIssuerUrl,
        serviceAccountNamespace: args.serviceAccountNamespace ?? "noa",
        serviceAccountName: args.serviceAccountName ?? "storage",
        tags: args.tags ?? {},
    };
    if (n.forceDestroy && n.protect) at("forceDestroy", n.forceDestroy, "contradicts protect (true): a protected bucket must not be emptied by destroy");
    if (problems.length > 0) throw new Error(`AppBucket "${name}": ${problems.join("; ")}`);
    return n;
}

/** The lifecycle rules: tier, clean up abandoned uploads, expire old versions. */
export function appBucketLifecycleRules(a: Pick<NormalizedAppBucketArgs, "intelligentTieringDays" | "abortIncompleteUploadDays" | "noncurrentVersionExpirationDays">) {
    return [
        {
            id: "intelligent-tiering",
            status: "Enabled",
            filter: {},
            transitions: [{ days: a.intelligentTieringDays, storageClass: "INTELLIGENT_TIERING" }],
        },
        {
            id: "abort-incomplete-multipart-uploads",
            status: "Enabled",
            filter: {},
            abortIncompleteMultipartUpload: { daysAfterInitiation: a.abortIncompleteUploadDays },
        },
        {
            id: "expire-noncurrent-versions",
            status: "Enabled",
            filter: {},
            noncurrentVersionExpiration: { noncurrentDays: a.noncurrentVersionExpirationDays },
            // Once every version behind a delete marker has expired the marker is clutter.
            expiration: { expiredObjectDeleteMarker: true },
        },
    ];
}

/** Bucket policy statement refusing every request that does not use TLS. */
export function denyInsecureTransport(bucketArn: string) {
    return {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
    };
}

/**
 * What the service account may do: list this bucket, read/write/delete its
 * objects, and use this bucket's key — nothing on any other resource.
 */
export function bucketAccessPolicy(bucketArn: string, kmsKeyArn: string): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            { Sid: "ListBucket", Effect: "Allow", Action: ["s3:ListBucket", "s3:GetBucketLocation"], Resource: bucketArn },
            {
                Sid: "ReadWriteObjects",
                Effect: "Allow",
                Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                Resource: `${bucketArn}/*`,
            },
            { Sid: "UseBucketKey", Effect: "Allow", Action: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], Resource: kmsKeyArn },
        ],
    });
}

/**
 * The S3 bucket for application objects: no public access, ACLs disabled
 * (bucket owner enforced), SSE-KMS with its own rotating key and S3 bucket
 * keys, versioning, lifecycle rules and TLS-only access — plus an IRSA role
 * that lets exactly one service account use exactly this bucket and key.
 */
export class AppBucket extends pulumi.ComponentResource {
    public readonly bucket: aws.s3.Bucket;
    public readonly kmsKey: aws.kms.Key;
    /** The IRSA role for the service account (annotate it with `roleArn`). */
    public readonly role: IrsaRole;
    public readonly bucketName: pulumi.Output<string>;
    public readonly bucketArn: pulumi.Output<string>;
    public readonly kmsKeyArn: pulumi.Output<string>;
    /** ARN of the service account's IRSA role. */
    public readonly roleArn: pulumi.Output<string>;

    constructor(name: string, args: AppBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super("noa:storage:AppBucket", name, {}, opts);
        const a = normalizeAppBucketArgs(name, args);
        const stateful = { parent: this, protect: a.protect, retainOnDelete: a.protect };

        this.kmsKey = new aws.kms.Key(
            `${name}-key`,
            {
                description: `Encrypts the objects of the ${name} bucket`,
                enableKeyRotation: true,
                deletionWindowInDays: a.kmsKeyDeletionWindowDays,
                tags: a.tags,
            },
            stateful,
        );

        this.bucket = new aws.s3.Bucket(`${name}-bucket`, { forceDestroy: a.forceDestroy, tags: a.tags }, stateful);
        const bucket = this.bucket.bucket;

        const publicAccess = new aws.s3.BucketPublicAccessBlock(
            `${name}-public-access`,
            { bucket, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
            { parent: this },
        );
        new aws.s3.BucketOwnershipControls(`${name}-ownership`, { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } }, { parent: this });
        new aws.s3.BucketServerSideEncryptionConfiguration(
            `${name}-encryption`,
            {
                bucket,
                rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: this.kmsKey.arn }, bucketKeyEnabled: true }],
            },
            { parent: this },
        );
        const versioning = new aws.s3.BucketVersioning(
            `${name}-versioning`,
            // "Suspended" rather than "Disabled": valid on a new bucket and on one that was versioned before.
            { bucket, versioningConfiguration: { status: a.versioning ? "Enabled" : "Suspended" } },
            { parent: this },
        );
        // The provider documents that lifecycle rules on versioned buckets must follow the versioning change.
        new aws.s3.BucketLifecycleConfiguration(`${name}-lifecycle`, { bucket, rules: appBucketLifecycleRules(a) }, { parent: this, dependsOn: [versioning] });
        new aws.s3.BucketPolicy(
            `${name}-policy`,
            { bucket, policy: this.bucket.arn.apply((arn) => JSON.stringify({ Version: "2012-10-17", Statement: [denyInsecureTransport(arn)] })) },
            // S3 rejects concurrent bucket-level changes; the public access block goes first.
            { parent: this, dependsOn: [publicAccess] },
        );

        this.role = new IrsaRole(
            `${name}-irsa`,
            {
                oidcProviderArn: a.oidcProviderArn,
                oidcIssuerUrl: a.oidcIssuerUrl,
                namespace: a.serviceAccountNamespace,
                serviceAccountName: a.serviceAccountName,
                description: `Access to the ${name} bucket for ${a.serviceAccountNamespace}/${a.serviceAccountName}`,
                inlinePolicies: [
                    { name: "app-bucket-access", policy: pulumi.all([this.bucket.arn, this.kmsKey.arn]).apply(([b, k]) => bucketAccessPolicy(b, k)) },
                ],
                tags: a.tags,
            },
            { parent: this },
        );

        this.bucketName = bucket;
        this.bucketArn = this.bucket.arn;
        this.kmsKeyArn = this.kmsKey.arn;
        this.roleArn = this.role.roleArn;
        this.registerOutputs({ bucketName: this.bucketName, bucketArn: this.bucketArn, kmsKeyArn: this.kmsKeyArn, roleArn: this.roleArn });
    }
}
