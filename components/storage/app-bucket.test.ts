import * as assert from "node:assert/strict";
import { childNames, harness, promiseOf } from "@noa/offline";

const PROVIDER_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC123";
const ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC123";
const HOST = "oidc.eks.us-east-1.amazonaws.com/id/ABC123";

describe("AppBucket", () => {
    before(() => harness.install({ stack: "storage" }));
    beforeEach(() => harness.reset());

    const base = { oidcProviderArn: PROVIDER_ARN, oidcIssuerUrl: ISSUER };
    const prodArgs = { ...base, protect: true, versioning: true, noncurrentVersionExpirationDays: 90, abortIncompleteUploadDays: 7, intelligentTieringDays: 30 };
    const devArgs = { ...base, protect: false, versioning: false, noncurrentVersionExpirationDays: 7, abortIncompleteUploadDays: 1, intelligentTieringDays: 0, forceDestroy: true };

    it("creates exactly the key, the bucket, its five controls, its policy and the IRSA role", async () => {
        const { AppBucket } = await import("./index.js");
        const b = new AppBucket("ab1", prodArgs);
        await harness.settle();
        assert.deepEqual(await childNames(b), [
            "aws:kms/key:Key::ab1-key",
            "aws:s3/bucket:Bucket::ab1-bucket",
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration::ab1-lifecycle",
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls::ab1-ownership",
            "aws:s3/bucketPolicy:BucketPolicy::ab1-policy",
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock::ab1-public-access",
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration::ab1-encryption",
            "aws:s3/bucketVersioning:BucketVersioning::ab1-versioning",
            "noa:cluster:IrsaRole::ab1-irsa",
        ]);
        const bucketName = await promiseOf(b.bucketName);
        for (const type of ["bucketLifecycleConfiguration:BucketLifecycleConfiguration", "bucketOwnershipControls:BucketOwnershipControls", "bucketPolicy:BucketPolicy", "bucketPublicAccessBlock:BucketPublicAccessBlock", "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "bucketVersioning:BucketVersioning"]) {
            const r = harness.byType(`aws:s3/${type}`);
            assert.equal(r.length, 1);
            assert.equal(r[0].inputs.bucket, bucketName, `${type} targets the bucket`);
        }
    });

    it("blocks all public access, enforces bucket ownership and encrypts with its own rotating key and bucket keys", async () => {
        const { AppBucket } = await import("./index.js");
        const b = new AppBucket("ab2", prodArgs);
        await harness.settle();
        const pab = harness.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "ab2-public-access").inputs;
        assert.deepEqual([pab.blockPublicAcls, pab.blockPublicPolicy, pab.ignorePublicAcls, pab.restrictPublicBuckets], [true, true, true, true]);
        assert.deepEqual(harness.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "ab2-ownership").inputs.rule, { objectOwnership: "BucketOwnerEnforced" });
        const key = harness.one("aws:kms/key:Key", "ab2-key").inputs;
        assert.equal(key.enableKeyRotation, true);
        assert.equal(key.deletionWindowInDays, 30);
        assert.deepEqual(harness.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "ab2-encryption").inputs.rules, [
            { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: await promiseOf(b.kmsKeyArn) }, bucketKeyEnabled: true },
        ]);
    });

    it("denies every request without TLS, after the public access block is in place", async () => {
        const { AppBucket } = await import("./index.js");
        const b = new AppBucket("ab3", prodArgs);
        await harness.settle();
        const arn = await promiseOf(b.bucketArn);
        const policy = harness.one("aws:s3/bucketPolicy:BucketPolicy", "ab3-policy");
        assert.deepEqual(JSON.parse(policy.inputs.policy), {
            Version: "2012-10-17",
            Statement: [
                {
                    Sid: "DenyInsecureTransport",
                    Effect: "Deny",
                    Principal: "*",
                    Action: "s3:*",
                    Resource: [arn, `${arn}/*`],
                    Condition: { Bool: { "aws:SecureTransport": "false" } },
                },
            ],
        });
        assert.ok(policy.dependsOn.includes(harness.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "ab3-public-access").urn));
    });

    it("prod: versioned, protected and retained bucket and key, no force-destroy, 90-day noncurrent expiry", async () => {
        const { AppBucket } = await import("./index.js");
        new AppBucket("ab4", prodArgs);
        await harness.settle();
        const bucket = harness.one("aws:s3/bucket:Bucket", "ab4-bucket");
        const key = harness.one("aws:kms/key:Key", "ab4-key");
        assert.deepEqual([bucket.protect, bucket.retainOnDelete, key.protect, key.retainOnDelete], [true, true, true, true]);
        assert.equal(bucket.inputs.forceDestroy, false);
        assert.deepEqual(harness.one("aws:s3/bucketVersioning:BucketVersioning", "ab4-versioning").inputs.versioningConfiguration, { status: "Enabled" });
        const lifecycle = harness.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "ab4-lifecycle");
        assert.deepEqual(lifecycle.inputs.rules, [
            { id: "intelligent-tiering", status: "Enabled", filter: {}, transitions: [{ days: 30, storageClass: "INTELLIGENT_TIERING" }] },
            { id: "abort-incomplete-multipart-uploads", status: "Enabled", filter: {}, abortIncompleteMultipartUpload: { daysAfterInitiation: 7 } },
            { id: "expire-noncurrent-versions", status: "Enabled", filter: {}, noncurrentVersionExpiration: { noncurrentDays: 90 }, expiration: { expiredObjectDeleteMarker: true } },
        ]);
        assert.ok(lifecycle.dependsOn.includes(harness.one("aws:s3/bucketVersioning:BucketVersioning", "ab4-versioning").urn));
    });

    it("dev: unprotected, versioning suspended, force-destroy and the dev lifecycle numbers", async () => {
        const { AppBucket } = await import("./index.js");
        new AppBucket("ab5", devArgs);
        await harness.settle();
        const bucket = harness.one("aws:s3/bucket:Bucket", "ab5-bucket");
        const key = harness.one("aws:kms/key:Key", "ab5-key");
        assert.deepEqual([bucket.protect, bucket.retainOnDelete, key.protect, key.retainOnDelete], [false, false, false, false]);
        assert.equal(bucket.inputs.forceDestroy, true);
        assert.deepEqual(harness.one("aws:s3/bucketVersioning:BucketVersioning", "ab5-versioning").inputs.versioningConfiguration, { status: "Suspended" });
        const rules = harness.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "ab5-lifecycle").inputs.rules;
        assert.deepEqual(rules.map((r: any) => [r.id, r.transitions?.[0].days ?? r.abortIncompleteMultipartUpload?.daysAfterInitiation ?? r.noncurrentVersionExpiration?.noncurrentDays]), [
            ["intelligent-tiering", 0],
            ["abort-incomplete-multipart-uploads", 1],
            ["expire-noncurrent-versions", 7],
        ]);
    });

    it("gives noa/storage an IRSA role scoped to this bucket and this key only", async () => {
        const { AppBucket } = await import("./index.js");
        const b = new AppBucket("ab6", prodArgs);
        await harness.settle();
        const [bucketArn, keyArn] = await Promise.all([promiseOf(b.bucketArn), promiseOf(b.kmsKeyArn)]);
        const role = harness.one("aws:iam/role:Role", "ab6-irsa-role");
        const trust = JSON.parse(role.inputs.assumeRolePolicy);
        assert.deepEqual(trust.Statement[0].Condition.StringEquals, { [`${HOST}:sub`]: "system:serviceaccount:noa:storage", [`${HOST}:aud`]: "sts.amazonaws.com" });
        const inline = harness.one("aws:iam/rolePolicy:RolePolicy", "ab6-irsa-app-bucket-access");
        const doc = JSON.parse(inline.inputs.policy);
        assert.deepEqual(doc.Statement, [
            { Sid: "ListBucket", Effect: "Allow", Action: ["s3:ListBucket", "s3:GetBucketLocation"], Resource: bucketArn },
            {
                Sid: "ReadWriteObjects",
                Effect: "Allow",
                Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                Resource: `${bucketArn}/*`,
            },
            { Sid: "UseBucketKey", Effect: "Allow", Action: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"], Resource: keyArn },
        ]);
        for (const s of doc.Statement) {
            const actions: string[] = [s.Action].flat();
            const resources: string[] = [s.Resource].flat();
            assert.ok(!actions.some((x) => x === "*" || x.endsWith(":*")), `no wildcard action in ${s.Sid}`);
            assert.ok(!resources.includes("*"), `no "*" resource in ${s.Sid}`);
        }
        assert.equal(harness.byType("aws:iam/rolePolicyAttachment:RolePolicyAttachment").length, 0, "no managed policies");
        assert.equal(await promiseOf(b.roleArn), role.state.arn);
    });

    it("takes another service account when asked", async () => {
        const { AppBucket } = await import("./index.js");
        new AppBucket("ab7", { ...base, serviceAccountNamespace: "jobs", serviceAccountName: "exporter" });
        await harness.settle();
        const trust = JSON.parse(harness.one("aws:iam/role:Role", "ab7-irsa-role").inputs.assumeRolePolicy);
        assert.equal(trust.Statement[0].Condition.StringEquals[`${HOST}:sub`], "system:serviceaccount:jobs:exporter");
    });

    it("applies defaults: versioned, unprotected, 90/7/30 days", async () => {
        const { normalizeAppBucketArgs } = await import("./index.js");
        const n = normalizeAppBucketArgs("d", base);
        assert.deepEqual(
            [n.protect, n.versioning, n.forceDestroy, n.noncurrentVersionExpirationDays, n.abortIncompleteUploadDays, n.intelligentTieringDays, n.kmsKeyDeletionWindowDays, n.serviceAccountNamespace, n.serviceAccountName],
            [false, true, false, 90, 7, 30, 30, "noa", "storage"],
        );
    });

    it("rejects bad args up front, every problem at once", async () => {
        const { AppBucket } = await import("./index.js");
        assert.throws(
            () => new AppBucket("bad", { ...base, protect: true, forceDestroy: true, noncurrentVersionExpirationDays: 0, abortIncompleteUploadDays: 1.5, intelligentTieringDays: -1, kmsKeyDeletionWindowDays: 3 }),
            {
                message:
                    `AppBucket "bad": noncurrentVersionExpirationDays (0) must be a whole number of at least 1; ` +
                    `abortIncompleteUploadDays (1.5) must be a whole number of at least 1; ` +
                    `intelligentTieringDays (-1) must be a whole number of at least 0; ` +
                    `kmsKeyDeletionWindowDays (3) must be a whole number from 7 to 30; ` +
                    `forceDestroy (true) contradicts protect (true): a protected bucket must not be emptied by destroy`,
            },
        );
        await harness.settle();
        assert.deepEqual(harness.byType("aws:s3/bucket:Bucket"), []);
    });
});
