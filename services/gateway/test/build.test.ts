import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ensureRedisCluster, REDIS_CLUSTER_SEEDS } from "@noa/kit/testing";
import { JWT_SECRET, signToken } from "./support/gateway";
import { bearer, send } from "./support/http";
import { freePort, waitFor } from "./support/redis";
import { FakeUpstream } from "./support/upstream-server";

const exec = promisify(execFile);
const ROOT = path.resolve(__dirname, "..", "..", "..");

// The Dockerfile's build step (scripts/build-service.sh gateway), then the
// bundle run the way the image runs it: plain node, no tsx, no sources.
describe("gateway build (the Dockerfile compile step)", function () {
  this.timeout(60_000);
  let out: string;
  let upstream: FakeUpstream;
  before(async () => {
    out = await mkdtemp(path.join(os.tmpdir(), "noa-gateway-build-"));
    await ensureRedisCluster();
    upstream = await FakeUpstream.start();
    await exec(path.join(ROOT, "scripts", "build-service.sh"), ["gateway", out]);
  });
  after(async () => {
    await upstream?.close();
    await rm(out, { recursive: true, force: true });
  });

  it("bundles into one file that proxies, reports readiness and exits 0 on SIGTERM", async () => {
    assert.ok((await stat(path.join(out, "main.js"))).size > 100_000);
    const port = await freePort();
    // Node's flags exactly as the image's CMD gives them.
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(await readFile(path.join(ROOT, "services/gateway/Dockerfile"), "utf8"))![1]!) as string[];
    assert.equal(cmd[0], "node");
    assert.equal(cmd.at(-1), "dist/main.js");
    const child = spawn(process.execPath, [...cmd.slice(1, -1), path.join(out, "main.js")], {
      cwd: out,
      env: { PATH: process.env.PATH, PORT: String(port), LOG_LEVEL: "warn", REDIS_CLUSTER_NODES: REDIS_CLUSTER_SEEDS, JWT_SECRET, USERS_URL: upstream.url },
      stdio: ["ignore", "inherit", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
      process.stderr.write(chunk);
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await send(base, "GET", "/health/startup").catch(() => undefined))?.status === 200, "startup");
      const ready = await send(base, "GET", "/health/ready");
      assert.equal(ready.json.checks.rateLimits.store, "redis");
      const me = await send(base, "GET", "/api/users/me", { headers: bearer(signToken({ sub: "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c" })) });
      assert.equal(me.status, 200);
      assert.equal(me.json.echo.headers["x-user-id"], "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c");
      assert.match(String((await send(base, "GET", "/metrics")).text), /gateway_circuit_state\{upstream="users"/);
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited, 0);
    assert.doesNotMatch(stderr, /Warning/, "the image's node starts without warnings");
  });

  it("refuses to start with bad configuration, naming every variable (exit 2)", async () => {
    await assert.rejects(
      exec(process.execPath, [path.join(out, "main.js")], { env: { PATH: process.env.PATH, JWT_SECRET: "short", RATE_LIMIT_API_POINTS: "-1" } }),
      (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 2);
        assert.match(error.stderr, /JWT_SECRET: must be at least 32 characters/);
        assert.match(error.stderr, /RATE_LIMIT_API_POINTS: .*\(got "-1"\)/);
        assert.match(error.stderr, /REDIS_CLUSTER_NODES: set exactly one of REDIS_CLUSTER_NODES or REDIS_URL/);
        assert.doesNotMatch(error.stderr, /short/);
        return true;
      },
    );
  });
});
