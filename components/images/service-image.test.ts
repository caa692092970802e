import * as assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { childNames, harness, promiseOf } from "@noa/offline";

/** A small build context on disk: repository-root layout with one service. */
function fixture(): string {
    const root = mkdtempSync(path.join(tmpdir(), "noa-image-"));
    mkdirSync(path.join(root, "services/api/src"), { recursive: true });
    mkdirSync(path.join(root, "node_modules/dep"), { recursive: true });
    writeFileSync(path.join(root, "services/api/Dockerfile"), "FROM node:24-slim\nCOPY . /app\n");
    writeFileSync(path.join(root, "services/api/src/main.js"), "console.log('v1');\n");
    writeFileSync(path.join(root, "package.json"), "{}\n");
    writeFileSync(path.join(root, "node_modules/dep/index.js"), "module.exports = 1;\n");
    writeFileSync(path.join(root, "README.md"), "docs\n");
    writeFileSync(path.join(root, ".dockerignore"), "node_modules\n**/node_modules\n*.md\n");
    return root;
}

describe("ServiceImage", () => {
    let root: string;
    before(() => harness.install({ stack: "images" }));
    beforeEach(async () => {
        harness.reset();
        (await import("./index.js")).clearContextHashCache();
        root = fixture();
    });
    afterEach(() => rmSync(root, { recursive: true, force: true }));

    const args = () => ({ context: root, dockerfile: path.join(root, "services/api/Dockerfile"), repositoryName: "noa-test/api", keepLast: 12 });

    it("creates exactly a repository, its lifecycle policy and the image", async () => {
        const { ServiceImage } = await import("./index.js");
        const img = new ServiceImage("si1", args());
        await harness.settle();
        assert.deepEqual(await childNames(img), [
            "aws:ecr/lifecyclePolicy:LifecyclePolicy::si1-lifecycle",
            "aws:ecr/repository:Repository::si1-repo",
            "docker:index/image:Image::si1-image",
        ]);
    });

    it("makes the repository immutable, scanned on push and KMS-encrypted (AWS-managed key by default)", async () => {
        const { ServiceImage } = await import("./index.js");
        new ServiceImage("si2", args());
        new ServiceImage("si2b", { ...args(), repositoryName: "noa-test/api2", kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/abc", forceDelete: true });
        await harness.settle();
        const repo = harness.one("aws:ecr/repository:Repository", "si2-repo").inputs;
        assert.equal(repo.name, "noa-test/api");
        assert.equal(repo.imageTagMutability, "IMMUTABLE");
        assert.deepEqual(repo.imageScanningConfiguration, { scanOnPush: true });
        assert.deepEqual(repo.encryptionConfigurations, [{ encryptionType: "KMS" }]);
        assert.equal(repo.forceDelete, false);
        const cmk = harness.one("aws:ecr/repository:Repository", "si2b-repo").inputs;
        assert.deepEqual(cmk.encryptionConfigurations, [{ encryptionType: "KMS", kmsKey: "arn:aws:kms:us-east-1:123456789012:key/abc" }]);
        assert.equal(cmk.forceDelete, true);
    });

    it("keeps the last N images", async () => {
        const { ServiceImage } = await import("./index.js");
        new ServiceImage("si3", args());
        await harness.settle();
        const policy = harness.one("aws:ecr/lifecyclePolicy:LifecyclePolicy", "si3-lifecycle").inputs;
        assert.equal(policy.repository, "noa-test/api");
        assert.deepEqual(JSON.parse(policy.policy).rules, [
            {
                rulePriority: 1,
                description: "Keep the last 12 images",
                selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: 12 },
                action: { type: "expire" },
            },
        ]);
    });

    it("builds from the Dockerfile and context for the platform, pushes with an ECR token and exposes repoDigest", async () => {
        const { ServiceImage } = await import("./index.js");
        const img = new ServiceImage("si4", { ...args(), platform: "linux/arm64", buildArgs: { SERVICE: "api" }, target: "runtime" });
        await harness.settle();
        const reg = harness.one("docker:index/image:Image", "si4-image");
        const repoUrl = "123456789012.dkr.ecr.us-east-1.amazonaws.com/noa-test/api";
        assert.match(img.tag, /^src-[0-9a-f]{24}$/);
        assert.equal(reg.inputs.imageName, `${repoUrl}:${img.tag}`);
        assert.deepEqual(reg.inputs.build, {
            context: root,
            dockerfile: path.join(root, "services/api/Dockerfile"),
            platform: "linux/arm64",
            args: { SERVICE: "api" },
            target: "runtime",
        });
        assert.deepEqual(reg.inputs.registry, { server: repoUrl, username: "AWS", password: "offline-ecr-token" });
        // The SDK marks the whole registry object secret once one of its values is.
        assert.ok(reg.secretPaths.some((p) => p === "registry" || p === "registry.password"), `the registry password must stay secret (secret paths: ${reg.secretPaths})`);
        assert.deepEqual(harness.invokesOf("aws:ecr/getAuthorizationToken:getAuthorizationToken").map((i) => i.inputs.registryId), ["123456789012"]);
        const digest = await promiseOf(img.repoDigest);
        assert.equal(digest, reg.state.repoDigest);
        assert.match(digest, new RegExp(`^${repoUrl.replace(/\./g, "\\.")}@sha256:[0-9a-f]{64}$`));
    });

    it("defaults the Dockerfile to <context>/Dockerfile and the platform to linux/amd64", async () => {
        const { normalizeServiceImageArgs } = await import("./index.js");
        writeFileSync(path.join(root, "Dockerfile"), "FROM scratch\n");
        const n = normalizeServiceImageArgs("api", { context: root });
        assert.equal(n.dockerfile, path.join(root, "Dockerfile"));
        assert.equal(n.platform, "linux/amd64");
        assert.equal(n.repositoryName, "api");
        assert.equal(n.keepLast, 30);
        assert.equal(n.forceDelete, false);
    });

    describe("tag scheme (immutable tags need one tag per distinct build)", () => {
        const tagOf = async (extra: Record<string, unknown> = {}) => {
            const { sourceTag, clearContextHashCache } = await import("./index.js");
            clearContextHashCache();
            const a = { ...args(), ...extra } as any;
            return sourceTag(a.context, a.dockerfile, { platform: a.platform ?? "linux/amd64", buildArgs: a.buildArgs ?? {}, target: a.target });
        };

        it("is stable for unchanged inputs", async () => {
            assert.equal(await tagOf(), await tagOf());
        });
        it("changes when a source file in the context changes", async () => {
            const before = await tagOf();
            writeFileSync(path.join(root, "services/api/src/main.js"), "console.log('v2');\n");
            assert.notEqual(await tagOf(), before);
        });
        it("changes when only a file's mode changes (COPY keeps it, and the Docker provider rebuilds on it)", async () => {
            const file = path.join(root, "services/api/src/main.js");
            chmodSync(file, 0o644);
            const before = await tagOf();
            chmodSync(file, 0o755);
            const after = await tagOf();
            chmodSync(file, 0o644);
            assert.notEqual(after, before);
            assert.equal(await tagOf(), before);
        });
        it("changes when the Dockerfile, the platform or a build arg changes", async () => {
            const base = await tagOf();
            assert.notEqual(await tagOf({ platform: "linux/arm64" }), base);
            assert.notEqual(await tagOf({ buildArgs: { X: "1" } }), base);
            writeFileSync(path.join(root, "services/api/Dockerfile"), "FROM node:24-slim\nCOPY . /srv\n");
            assert.notEqual(await tagOf(), base);
        });
        it("ignores what .dockerignore keeps out of the context (node_modules, docs) and .git", async () => {
            const before = await tagOf();
            writeFileSync(path.join(root, "node_modules/dep/index.js"), "module.exports = 2;\n");
            writeFileSync(path.join(root, "README.md"), "more docs\n");
            mkdirSync(path.join(root, ".git"));
            writeFileSync(path.join(root, ".git/HEAD"), "ref: refs/heads/main\n");
            assert.equal(await tagOf(), before);
        });
        it("lists exactly the files Docker would send", async () => {
            const { contextFiles } = await import("./index.js");
            assert.deepEqual(contextFiles(root), [".dockerignore", "package.json", "services/api/Dockerfile", "services/api/src/main.js"]);
        });
        it("follows !exceptions into ignored folders, as Docker does", async () => {
            const { contextFiles } = await import("./index.js");
            mkdirSync(path.join(root, "tools/sub"), { recursive: true });
            writeFileSync(path.join(root, "tools/package.json"), "{}\n");
            writeFileSync(path.join(root, "tools/sub/x.js"), "1\n");
            writeFileSync(path.join(root, ".dockerignore"), "node_modules\n**/node_modules\n*.md\ntools\n!tools/package.json\n");
            assert.deepEqual(contextFiles(root), [".dockerignore", "package.json", "services/api/Dockerfile", "services/api/src/main.js", "tools/package.json"]);
        });
        it("uses an explicit tag as given", async () => {
            const { ServiceImage } = await import("./index.js");
            const img = new ServiceImage("si5", { ...args(), tag: "3f2a9c1" });
            await harness.settle();
            assert.equal(img.tag, "3f2a9c1");
            assert.equal(harness.one("docker:index/image:Image", "si5-image").inputs.imageName, "123456789012.dkr.ecr.us-east-1.amazonaws.com/noa-test/api:3f2a9c1");
        });
    });

    describe("bad args fail up front, naming the key and value", () => {
        it("a context folder that does not exist", async () => {
            const { ServiceImage } = await import("./index.js");
            const missing = path.join(root, "nope");
            assert.throws(
                () => new ServiceImage("bad1", { context: missing, dockerfile: path.join(root, "services/api/Dockerfile") }),
                { message: `ServiceImage "bad1": context (${JSON.stringify(missing)}) does not exist (resolved to ${missing})` },
            );
            await harness.settle();
            assert.deepEqual(harness.byType("aws:ecr/repository:Repository"), []);
        });
        it("a Dockerfile that does not exist", async () => {
            const { ServiceImage } = await import("./index.js");
            const dockerfile = path.join(root, "services/missing/Dockerfile");
            assert.throws(() => new ServiceImage("bad2", { context: root, dockerfile }), {
                message: `ServiceImage "bad2": dockerfile (${JSON.stringify(dockerfile)}) does not exist (resolved to ${dockerfile})`,
            });
        });
        it("a context that is a file, and every other problem at once", async () => {
            const { normalizeServiceImageArgs } = await import("./index.js");
            const file = path.join(root, "package.json");
            assert.throws(
                () =>
                    normalizeServiceImageArgs("bad3", {
                        context: file,
                        dockerfile: path.join(root, "services"),
                        platform: "windows/amd64" as any,
                        repositoryName: "Noa/API",
                        keepLast: 0,
                        tag: "latest",
                        buildArgs: { "bad-key": "x" },
                    }),
                {
                    message:
                        `ServiceImage "bad3": context (${JSON.stringify(file)}) is not a folder; ` +
                        `dockerfile (${JSON.stringify(path.join(root, "services"))}) is not a file; ` +
                        `platform ("windows/amd64") must be one of linux/amd64, linux/arm64; ` +
                        `repositoryName ("Noa/API") is not an ECR repository name (lowercase letters, digits, ._- and / separators, 2–256 characters); ` +
                        `keepLast (0) must be a whole number from 1 to 1000; ` +
                        `tag ("latest") is a moving name; the repository's tags are immutable, so it could be pushed only once; ` +
                        `buildArgs.bad-key ("x") has a key that is not a valid build argument name`,
                },
            );
        });
    });
});
