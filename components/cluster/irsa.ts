import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/** One IAM policy statement, as it appears in a policy document. */
export interface IamPolicyStatement {
    /** Statement id. Default: none. */
    Sid?: string;
    /** Allow or Deny. Required. */
    Effect: "Allow" | "Deny";
    /** Actions, e.g. "s3:GetObject"; "*" alone is rejected for Allow. Required. */
    Action: string | string[];
    /** Resource ARNs (outputs welcome), scoped as tightly as the service allows. Required. */
    Resource: pulumi.Input<string> | pulumi.Input<string>[];
    /** IAM conditions by operator and key. Default: none. */
    Condition?: Record<string, Record<string, pulumi.Input<string> | pulumi.Input<string>[]>>;
}

/** A named inline policy attached to the role. */
export interface IrsaInlinePolicy {
    /** Policy name, unique within the role (letters, digits and `+=,.@_-`). */
    readonly name: string;
    /** The IAM policy document as JSON. */
    readonly policy: pulumi.Input<string>;
}

export interface IrsaRoleArgs {
    /** ARN of the cluster's IAM OIDC provider (`EksCluster.oidcProviderArn`). Required. */
    readonly oidcProviderArn: pulumi.Input<string>;
    /**
     * The cluster's OIDC issuer URL (`https://oidc.eks.<region>.amazonaws.com/id/<id>`);
     * the `https://` prefix is optional (it is stripped for the condition keys). Required.
     */
    readonly oidcIssuerUrl: pulumi.Input<string>;
    /** Namespace of the Kubernetes service account allowed to assume the role. Required. */
    readonly namespace: string;
    /** Name of the Kubernetes service account allowed to assume the role. Required. */
    readonly serviceAccountName: string;
    /**
     * Statements rendered into one inline policy named `<component name>-statements`.
     * Default: none.
     */
    readonly policyStatements?: IamPolicyStatement[];
    /** Inline policies, one `aws.iam.RolePolicy` each, named after `name`. Default: none. */
    readonly inlinePolicies?: IrsaInlinePolicy[];
    /**
     * Managed policy ARNs to attach, one `aws.iam.RolePolicyAttachment` each named
     * `<component name>-managed-<index>`: append new ones, do not reorder. Default: none.
     */
    readonly managedPolicyArns?: pulumi.Input<string>[];
    /** Role description. Default: "IRSA role for <namespace>/<serviceAccountName>". */
    readonly description?: string;
    /** Maximum session duration in seconds (3600–43200). Default: 3600. */
    readonly maxSessionDurationSeconds?: number;
    /** Tags on the role. Default: none. */
    readonly tags?: Record<string, string>;
}

/** `IrsaRoleArgs` with defaults applied. */
export interface NormalizedIrsaRoleArgs extends IrsaRoleArgs {
    readonly policyStatements: IamPolicyStatement[];
    readonly inlinePolicies: IrsaInlinePolicy[];
    readonly managedPolicyArns: pulumi.Input<string>[];
    readonly description: string;
    readonly maxSessionDurationSeconds: number;
    readonly tags: Record<string, string>;
}

/** A DNS-1123 subdomain (service account names); namespaces must also have no dots (a DNS-1123 label). */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;

/** Applies defaults and validates every field, throwing one error that lists each problem. */
export function normalizeIrsaRoleArgs(name: string, args: IrsaRoleArgs): NormalizedIrsaRoleArgs {
    const problems: string[] = [];
    const at = (key: string, value: unknown, message: string) => problems.push(`${key} (${JSON.stringify(value)}) ${message}`);
    if (typeof args.namespace !== "string" || args.namespace.length > 63 || !DNS_SUBDOMAIN.test(args.namespace) || args.namespace.includes(".")) {
        at("namespace", args.namespace, "is not a Kubernetes namespace name (DNS-1123 label)");
    }
    if (typeof args.serviceAccountName !== "string" || args.serviceAccountName.length > 253 || !DNS_SUBDOMAIN.test(args.serviceAccountName)) {
        at("serviceAccountName", args.serviceAccountName, "is not a Kubernetes service account name (DNS-1123 subdomain)");
    }
    if (typeof args.oidcIssuerUrl === "string" && !/^(https:\/\/)?[a-z0-9.-]+(\/[\w./-]+)?$/.test(args.oidcIssuerUrl)) {
        at("oidcIssuerUrl", args.oidcIssuerUrl, "is not an OIDC issuer URL (https://oidc.eks.<region>.amazonaws.com/id/<id>)");
    }
    if (typeof args.oidcProviderArn === "string" && !/^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/.+$/.test(args.oidcProviderArn)) {
        at("oidcProviderArn", args.oidcProviderArn, "is not an IAM OIDC provider ARN");
    }
    const inlinePolicies = args.inlinePolicies ?? [];
    const seen = new Set<string>();
    inlinePolicies.forEach((p, i) => {
        if (!POLICY_NAME.test(p.name)) at(`inlinePolicies[${i}].name`, p.name, "is not a valid IAM policy name");
        if (seen.has(p.name)) at(`inlinePolicies[${i}].name`, p.name, "is used twice");
        seen.add(p.name);
    });
    const policyStatements = args.policyStatements ?? [];
    policyStatements.forEach((s, i) => {
        const actions = Array.isArray(s.Action) ? s.Action : [s.Action];
        if (actions.length === 0) at(`policyStatements[${i}].Action`, s.Action, "must name at least one action");
        if (s.Effect === "Allow" && actions.some((a) => a === "*")) at(`policyStatements[${i}].Action`, s.Action, "must not allow every action (\"*\")");
    });
    const maxSessionDurationSeconds = args.maxSessionDurationSeconds ?? 3600;
    if (!Number.isInteger(maxSessionDurationSeconds) || maxSessionDurationSeconds < 3600 || maxSessionDurationSeconds > 43200) {
        at("maxSessionDurationSeconds", maxSessionDurationSeconds, "must be a whole number of seconds between 3600 and 43200");
    }
    if (problems.length > 0) throw new Error(`IrsaRole "${name}": ${problems.join("; ")}`);
    return {
        ...args,
        policyStatements,
        inlinePolicies,
        managedPolicyArns: args.managedPolicyArns ?? [],
        description: args.description ?? `IRSA role for ${args.namespace}/${args.serviceAccountName}`,
        maxSessionDurationSeconds,
        tags: args.tags ?? {},
    };
}

/** The issuer as IAM condition keys want it: host and path, no scheme, no trailing slash. */
export function issuerHost(issuerUrl: string): string {
    return issuerUrl.replace(/^https:\/\//, "").replace(/\/+$/, "");
}

/**
 * The trust policy: only the given service account, through the cluster's OIDC
 * provider, for tokens whose audience is STS (`StringEquals`, never `StringLike`,
 * so no wildcard can widen it to other service accounts).
 */
export function irsaTrustPolicy(oidcProviderArn: string, oidcIssuerUrl: string, namespace: string, serviceAccountName: string): string {
    const host = issuerHost(oidcIssuerUrl);
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [
            {
                Effect: "Allow",
                Principal: { Federated: oidcProviderArn },
                Action: "sts:AssumeRoleWithWebIdentity",
                Condition: {
                    StringEquals: {
                        [`${host}:sub`]: `system:serviceaccount:${namespace}:${serviceAccountName}`,
                        [`${host}:aud`]: "sts.amazonaws.com",
                    },
                },
            },
        ],
    });
}

/**
 * An IAM role for one Kubernetes service account (IRSA): the role's trust is
 * limited to `system:serviceaccount:<namespace>:<serviceAccountName>` via the
 * cluster's OIDC provider, and its permissions come from inline and/or managed
 * policies. Annotate the service account with
 * `eks.amazonaws.com/role-arn: <roleArn>`.
 */
export class IrsaRole extends pulumi.ComponentResource {
    /** The IAM role. */
    public readonly role: aws.iam.Role;
    /** The role's ARN (for the service account annotation or `serviceAccountRoleArn`). */
    public readonly roleArn: pulumi.Output<string>;
    /** The role's name. */
    public readonly roleName: pulumi.Output<string>;

    constructor(name: string, args: IrsaRoleArgs, opts?: pulumi.ComponentResourceOptions) {
        super("noa:cluster:IrsaRole", name, {}, opts);
        const a = normalizeIrsaRoleArgs(name, args);

        this.role = new aws.iam.Role(
            `${name}-role`,
            {
                description: a.description,
                assumeRolePolicy: pulumi
                    .all([a.oidcProviderArn, a.oidcIssuerUrl])
                    .apply(([arn, url]) => irsaTrustPolicy(arn, url, a.namespace, a.serviceAccountName)),
                maxSessionDuration: a.maxSessionDurationSeconds,
                tags: a.tags,
            },
            { parent: this },
        );

        if (a.policyStatements.length > 0) {
            new aws.iam.RolePolicy(
                `${name}-statements`,
                {
                    role: this.role.name,
                    policy: pulumi.jsonStringify({ Version: "2012-10-17", Statement: a.policyStatements }),
                },
                { parent: this },
            );
        }
        for (const p of a.inlinePolicies) {
            new aws.iam.RolePolicy(`${name}-${p.name}`, { name: p.name, role: this.role.name, policy: p.policy }, { parent: this });
        }
        a.managedPolicyArns.forEach((arn, i) => {
            new aws.iam.RolePolicyAttachment(`${name}-managed-${i}`, { role: this.role.name, policyArn: arn }, { parent: this });
        });

        this.roleArn = this.role.arn;
        this.roleName = this.role.name;
        this.registerOutputs({ roleArn: this.roleArn, roleName: this.roleName });
    }
}
