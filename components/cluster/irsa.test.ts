import * as assert from "node:assert/strict";
import { childNames, harness, promiseOf } from "@noa/offline";

const PROVIDER_ARN = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC123";
const ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC123";
const HOST = "oidc.eks.us-east-1.amazonaws.com/id/ABC123";

describe("IrsaRole", () => {
    before(() => harness.install());
    beforeEach(() => harness.reset());

    describe("irsaTrustPolicy", () => {
        const cases: [string, string, string, string][] = [
            ["with scheme", ISSUER, "kube-system", "ebs-csi-controller-sa"],
            ["without scheme", HOST, "noa", "storage"],
            ["trailing slash", `${ISSUER}/`, "kube-system", "cluster-autoscaler"],
        ];
        for (const [label, url, ns, sa] of cases) {
            it(`limits trust to ${ns}/${sa} (${label})`, async () => {
                const { irsaTrustPolicy } = await import("./index.js");
                const doc = JSON.parse(irsaTrustPolicy(PROVIDER_ARN, url, ns, sa));
                assert.deepEqual(doc, {
                    Version: "2012-10-17",
                    Statement: [
                        {
                            Effect: "Allow",
                            Principal: { Federated: PROVIDER_ARN },
                            Action: "sts:AssumeRoleWithWebIdentity",
                            Condition: {
                                StringEquals: {
                                    [`${HOST}:sub`]: `system:serviceaccount:${ns}:${sa}`,
                                    [`${HOST}:aud`]: "sts.amazonaws.com",
                                },
                            },
                        },
                    ],
                });
            });
        }
    });

    describe("normalizeIrsaRoleArgs", () => {
        const base = { oidcProviderArn: PROVIDER_ARN, oidcIssuerUrl: ISSUER, namespace: "noa", serviceAccountName: "storage" };
        it("applies defaults", async () => {
            const { normalizeIrsaRoleArgs } = await import("./index.js");
            const n = normalizeIrsaRoleArgs("x", base);
            assert.equal(n.description, "IRSA role for noa/storage");
            assert.equal(n.maxSessionDurationSeconds, 3600);
            assert.deepEqual([n.inlinePolicies, n.managedPolicyArns, n.policyStatements, n.tags], [[], [], [], {}]);
        });
        const bad: [string, Record<string, unknown>, string][] = [
            ["bad namespace", { namespace: "Noa_Data" }, `IrsaRole "x": namespace ("Noa_Data") is not a Kubernetes namespace name (DNS-1123 label)`],
            ["bad service account", { serviceAccountName: "" }, `IrsaRole "x": serviceAccountName ("") is not a Kubernetes service account name (DNS-1123 subdomain)`],
            ["bad provider ARN", { oidcProviderArn: "arn:aws:iam::123:role/x" }, `IrsaRole "x": oidcProviderArn ("arn:aws:iam::123:role/x") is not an IAM OIDC provider ARN`],
            ["bad issuer", { oidcIssuerUrl: "http://x y" }, `IrsaRole "x": oidcIssuerUrl ("http://x y") is not an OIDC issuer URL (https://oidc.eks.<region>.amazonaws.com/id/<id>)`],
            ["session too long", { maxSessionDurationSeconds: 50000 }, `IrsaRole "x": maxSessionDurationSeconds (50000) must be a whole number of seconds between 3600 and 43200`],
            [
                "duplicate inline policy and wildcard action (all problems at once)",
                { inlinePolicies: [{ name: "s3", policy: "{}" }, { name: "s3", policy: "{}" }], policyStatements: [{ Effect: "Allow", Action: "*", Resource: "*" }] },
                `IrsaRole "x": inlinePolicies[1].name ("s3") is used twice; policyStatements[0].Action ("*") must not allow every action ("*")`,
            ],
        ];
        for (const [label, patch, message] of bad) {
            it(`rejects ${label}`, async () => {
                const { normalizeIrsaRoleArgs } = await import("./index.js");
                assert.throws(() => normalizeIrsaRoleArgs("x", { ...base, ...patch } as any), { message });
            });
        }
    });

    it("creates only the role when no policies are given, with the trust policy resolved from outputs", async () => {
        const { IrsaRole } = await import("./index.js");
        const pulumi = await import("@pulumi/pulumi");
        const role = new IrsaRole("irsa-bare", {
            oidcProviderArn: pulumi.output(PROVIDER_ARN),
            oidcIssuerUrl: pulumi.output(ISSUER),
            namespace: "kube-system",
            serviceAccountName: "cluster-autoscaler",
        });
        await harness.settle();
        assert.deepEqual(await childNames(role), ["aws:iam/role:Role::irsa-bare-role"]);
        const reg = harness.one("aws:iam/role:Role", "irsa-bare-role");
        const trust = JSON.parse(reg.inputs.assumeRolePolicy);
        assert.equal(trust.Statement[0].Condition.StringEquals[`${HOST}:sub`], "system:serviceaccount:kube-system:cluster-autoscaler");
        assert.equal(trust.Statement[0].Condition.StringEquals[`${HOST}:aud`], "sts.amazonaws.com");
        assert.equal(trust.Statement[0].Condition.StringLike, undefined);
        assert.equal(reg.inputs.maxSessionDuration, 3600);
        assert.match(await promiseOf(role.roleArn), /^arn:aws:iam::123456789012:role\/irsa-bare-role-/);
    });

    it("attaches statements, inline and managed policies as separate children scoped to the role", async () => {
        const { IrsaRole } = await import("./index.js");
        const role = new IrsaRole("irsa-full", {
            oidcProviderArn: PROVIDER_ARN,
            oidcIssuerUrl: ISSUER,
            namespace: "noa",
            serviceAccountName: "storage",
            policyStatements: [{ Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: "arn:aws:s3:::bucket/*" }],
            inlinePolicies: [{ name: "kms", policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "kms:Decrypt", Resource: "arn:aws:kms:us-east-1:123456789012:key/k" }] }) }],
            managedPolicyArns: ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"],
            tags: { "noa.io/area": "storage" },
        });
        await harness.settle();
        assert.deepEqual(await childNames(role), [
            "aws:iam/role:Role::irsa-full-role",
            "aws:iam/rolePolicy:RolePolicy::irsa-full-kms",
            "aws:iam/rolePolicy:RolePolicy::irsa-full-statements",
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment::irsa-full-managed-0",
        ]);
        const roleName = await promiseOf(role.roleName);
        const statements = harness.one("aws:iam/rolePolicy:RolePolicy", "irsa-full-statements").inputs;
        assert.equal(statements.role, roleName);
        assert.deepEqual(JSON.parse(statements.policy).Statement, [{ Effect: "Allow", Action: ["s3:GetObject", "s3:PutObject"], Resource: "arn:aws:s3:::bucket/*" }]);
        const kms = harness.one("aws:iam/rolePolicy:RolePolicy", "irsa-full-kms").inputs;
        assert.equal(kms.name, "kms");
        assert.equal(JSON.parse(kms.policy).Statement[0].Action, "kms:Decrypt");
        const attach = harness.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "irsa-full-managed-0").inputs;
        assert.deepEqual(attach, { role: roleName, policyArn: "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy" });
        assert.deepEqual(harness.one("aws:iam/role:Role", "irsa-full-role").inputs.tags, { "noa.io/area": "storage" });
    });

    it("fails before creating anything when args are bad", async () => {
        const { IrsaRole } = await import("./index.js");
        assert.throws(
            () => new IrsaRole("irsa-bad", { oidcProviderArn: PROVIDER_ARN, oidcIssuerUrl: ISSUER, namespace: "kube-system", serviceAccountName: "Bad SA" }),
            /serviceAccountName \("Bad SA"\) is not a Kubernetes service account name/,
        );
        await harness.settle();
        assert.equal(harness.byType("aws:iam/role:Role").length, 0);
    });
});
