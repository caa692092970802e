/**
 * Program-level assertions for the edge (storage, images, ALB): the real
 * program evaluated for dev and prod under the offline harness.
 */
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { Evaluation, evaluateStack, readStackConfig } from "../../scripts/offline/evaluate";
import type { Registration } from "../../scripts/offline/mocks";

const SERVICES = ["gateway", "users", "workflows", "storage", "worker", "migrate"];
const REPO_ROOT = path.resolve(__dirname, "../..");
const A = "alb.ingress.kubernetes.io";

function one(ev: Evaluation, type: string, name: string): Registration {
    const found = ev.resources.filter((r) => r.type === type && r.name === name);
    assert.equal(found.length, 1, `exactly one ${type} ${name} (found ${found.length})`);
    return found[0];
}
const ofType = (ev: Evaluation, type: string) => ev.resources.filter((r) => r.type === type);

describe("edge: storage, images and the ALB in the program", () => {
    let dev: Evaluation;
    let prod: Evaluation;
    before(async () => {
        dev = await evaluateStack("dev");
        prod = await evaluateStack("prod");
    });

    describe("AppBucket", () => {
        it("prod: one protected, retained, versioned bucket and key, no force-destroy; exported as bucketName", () => {
            const bucket = one(prod, "aws:s3/bucket:Bucket", "noa-prod-objects-bucket");
            const key = one(prod, "aws:kms/key:Key", "noa-prod-objects-key");
            assert.deepEqual([bucket.protect, bucket.retainOnDelete, key.protect, key.retainOnDelete], [true, true, true, true]);
            assert.equal(bucket.inputs.forceDestroy, false);
            assert.deepEqual(one(prod, "aws:s3/bucketVersioning:BucketVersioning", "noa-prod-objects-versioning").inputs.versioningConfiguration, { status: "Enabled" });
            assert.equal(prod.outputs.bucketName, bucket.state.bucket);
        });

        it("dev: unprotected, versioning suspended, force-destroy, the dev lifecycle days", () => {
            const bucket = one(dev, "aws:s3/bucket:Bucket", "noa-dev-objects-bucket");
            assert.deepEqual([bucket.protect, bucket.retainOnDelete, bucket.inputs.forceDestroy], [false, false, true]);
            assert.deepEqual(one(dev, "aws:s3/bucketVersioning:BucketVersioning", "noa-dev-objects-versioning").inputs.versioningConfiguration, { status: "Suspended" });
            const rules = one(dev, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "noa-dev-objects-lifecycle").inputs.rules;
            assert.deepEqual(rules.map((r: any) => r.abortIncompleteMultipartUpload?.daysAfterInitiation ?? r.noncurrentVersionExpiration?.noncurrentDays ?? r.transitions[0].days), [30, 1, 7]);
        });

        it("trusts noa/storage through this stack's cluster OIDC provider", () => {
            const oidc = ofType(prod, "aws:iam/openIdConnectProvider:OpenIdConnectProvider");
            assert.equal(oidc.length, 1);
            const trust = JSON.parse(one(prod, "aws:iam/role:Role", "noa-prod-objects-irsa-role").inputs.assumeRolePolicy);
            assert.equal(trust.Statement[0].Principal.Federated, oidc[0].state.arn);
            const subKey = Object.keys(trust.Statement[0].Condition.StringEquals).find((k) => k.endsWith(":sub"))!;
            assert.equal(trust.Statement[0].Condition.StringEquals[subKey], "system:serviceaccount:noa:storage");
        });
    });

    describe("ServiceImage per service", () => {
        for (const [stack, get] of [["dev", () => dev], ["prod", () => prod]] as const) {
            it(`${stack}: one repository, lifecycle and image per service folder, built from services/<svc>/Dockerfile with the repo root as context`, () => {
                const ev = get();
                const cfg = JSON.parse(readStackConfig(stack).config["noa:images"]);
                assert.deepEqual(ofType(ev, "noa:images:ServiceImage").map((r) => r.name).sort(), SERVICES.map((s) => `noa-${stack}-${s}`).sort());
                for (const svc of SERVICES) {
                    const repo = one(ev, "aws:ecr/repository:Repository", `noa-${stack}-${svc}-repo`).inputs;
                    assert.equal(repo.name, `noa/${stack}/${svc}`);
                    assert.equal(repo.imageTagMutability, "IMMUTABLE");
                    assert.equal(repo.forceDelete, cfg.forceDelete ?? false);
                    const lifecycle = JSON.parse(one(ev, "aws:ecr/lifecyclePolicy:LifecyclePolicy", `noa-${stack}-${svc}-lifecycle`).inputs.policy);
                    assert.equal(lifecycle.rules[0].selection.countNumber, cfg.keepLast);
                    const build = one(ev, "docker:index/image:Image", `noa-${stack}-${svc}-image`).inputs.build;
                    assert.equal(path.resolve(build.context), REPO_ROOT);
                    assert.equal(path.resolve(build.dockerfile), path.join(REPO_ROOT, "services", svc, "Dockerfile"));
                    assert.equal(build.platform, cfg.platform);
                }
            });
        }

        it("tags each image with the content hash of its build, the same in every stack built from the same sources", () => {
            const tagOf = (ev: Evaluation, stack: string, svc: string) => one(ev, "docker:index/image:Image", `noa-${stack}-${svc}-image`).inputs.imageName.split(":").pop();
            const tags = SERVICES.map((svc) => tagOf(prod, "prod", svc));
            for (const tag of tags) assert.match(tag, /^src-[0-9a-f]{24}$/);
            assert.equal(new Set(tags).size, SERVICES.length, "each service's Dockerfile makes its own tag");
            assert.deepEqual(SERVICES.map((svc) => tagOf(dev, "dev", svc)), tags, "dev and prod build the same sources for the same platform");
        });

        it("exports imageDigests: service → the pushed image's repoDigest", () => {
            const digests = prod.outputs.imageDigests as Record<string, string>;
            assert.deepEqual(Object.keys(digests).sort(), [...SERVICES].sort());
            for (const svc of SERVICES) {
                const image = one(prod, "docker:index/image:Image", `noa-prod-${svc}-image`);
                assert.equal(digests[svc], image.state.repoDigest);
                assert.match(digests[svc], new RegExp(`/noa/prod/${svc}@sha256:[0-9a-f]{64}$`));
            }
        });
    });

    describe("AlbIngress", () => {
        const annotations = (ev: Evaluation, stack: string) =>
            one(ev, "kubernetes:networking.k8s.io/v1:Ingress", `noa-${stack}-alb-ingress`).inputs.metadata.annotations as Record<string, string>;

        it("installs the controller on this stack's cluster (its provider, name and VPC)", () => {
            const release = one(prod, "kubernetes:helm.sh/v3:Release", "noa-prod-alb-controller");
            const k8sProvider = ofType(prod, "pulumi:providers:kubernetes");
            assert.equal(k8sProvider.length, 1);
            assert.equal(release.provider?.split("::").slice(0, -1).join("::"), k8sProvider[0].urn);
            const cluster = ofType(prod, "aws:eks/cluster:Cluster")[0];
            assert.equal(release.inputs.values.clusterName, cluster.state.name);
            assert.equal(release.inputs.values.vpcId, ofType(prod, "aws:ec2/vpc:Vpc")[0].id);
            assert.equal(release.inputs.values.region, "us-east-1");
        });

        it("prod: HTTPS with the stack's certificate, redirect, TLS 1.2+ policy, deletion protection, access logs", () => {
            const ann = annotations(prod, "prod");
            const cert = JSON.parse(readStackConfig("prod").config["noa:ingress"]).certificateArn;
            assert.match(cert, /^arn:aws:acm:/);
            assert.equal(ann[`${A}/certificate-arn`], cert);
            assert.deepEqual(JSON.parse(ann[`${A}/listen-ports`]), [{ HTTP: 80 }, { HTTPS: 443 }]);
            assert.equal(ann[`${A}/ssl-redirect`], "443");
            assert.equal(ann[`${A}/ssl-policy`], "ELBSecurityPolicy-TLS13-1-2-2021-06");
            const logs = one(prod, "aws:s3/bucket:Bucket", "noa-prod-alb-logs");
            assert.equal(logs.protect, true);
            assert.match(ann[`${A}/load-balancer-attributes`], new RegExp(`deletion_protection\\.enabled=true,.*access_logs\\.s3\\.enabled=true,access_logs\\.s3\\.bucket=${logs.state.bucket},`));
        });

        it("dev: HTTP only, no redirect, no deletion protection, no log bucket", () => {
            const ann = annotations(dev, "dev");
            assert.deepEqual(JSON.parse(ann[`${A}/listen-ports`]), [{ HTTP: 80 }]);
            assert.equal(ann[`${A}/ssl-redirect`], undefined);
            assert.equal(ann[`${A}/certificate-arn`], undefined);
            assert.match(ann[`${A}/load-balancer-attributes`], /deletion_protection\.enabled=false,.*access_logs\.s3\.enabled=false/);
            assert.deepEqual(dev.resources.filter((r) => r.name === "noa-dev-alb-logs"), []);
        });

        it("targets the mesh's ingress gateway Service (port 80, status port 15021) and exports albHostname", () => {
            for (const [stack, ev] of [["dev", dev], ["prod", prod]] as const) {
                const ingress = one(ev, "kubernetes:networking.k8s.io/v1:Ingress", `noa-${stack}-alb-ingress`);
                assert.equal(ingress.inputs.metadata.namespace, "istio-ingress");
                assert.deepEqual(ingress.inputs.spec.rules[0].http.paths[0].backend, { service: { name: "istio-ingressgateway", port: { number: 80 } } });
                assert.equal(ingress.inputs.metadata.annotations[`${A}/healthcheck-port`], "15021");
                assert.equal(ev.outputs.albHostname, ingress.state.status.loadBalancer.ingress[0].hostname);
            }
        });
    });

    it("rejects a certificate that is not an ACM ARN before registering anything", async () => {
        const { config } = readStackConfig("prod");
        const ingress = JSON.parse(config["noa:ingress"]);
        ingress.certificateArn = "arn:aws:iam::123456789012:server-certificate/noa";
        await assert.rejects(
            evaluateStack("prod", { ...config, "noa:ingress": JSON.stringify(ingress) }),
            (err: Error) => err.name === "ConfigError" && err.message.includes(`noa:ingress.certificateArn ("arn:aws:iam::123456789012:server-certificate/noa") is not an ACM certificate ARN`),
        );
    });
});
