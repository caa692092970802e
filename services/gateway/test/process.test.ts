import assert from "node:assert/strict";
import { ensureRedisCluster } from "@noa/kit/testing";
import { bearer, send } from "./support/http";
import { signToken } from "./support/gateway";
import { GatewayProcess } from "./support/process";
import { freePort, uniquePrefix } from "./support/redis";
import { FakeUpstream } from "./support/upstream-server";

const token = signToken({ sub: "0b7e4a52-9d1c-4f3e-8a6b-2c5d7e9f1a3b" });

/** The gateway's real entry point in child processes: two replicas on one Redis Cluster, and SIGTERM. */
describe("gateway processes", function () {
  this.timeout(60_000);
  let upstream: FakeUpstream;
  const processes: GatewayProcess[] = [];
  const start = async (env: Record<string, string>) => {
    const gateway = await GatewayProcess.start({ USERS_URL: upstream.url, WORKFLOWS_URL: upstream.url, STORAGE_URL: upstream.url, ...env });
    processes.push(gateway);
    return gateway;
  };
  before(() => ensureRedisCluster());
  beforeEach(async () => {
    upstream = await FakeUpstream.start();
  });
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((gateway) => gateway.stop()));
    await upstream.close();
  });

  it("two gateway processes with their own Redis clients share one API limit: their combined traffic is limited", async () => {
    const env = { RATE_LIMIT_API_POINTS: "10", RATE_LIMIT_API_DURATION_S: "60", RATE_LIMIT_KEY_PREFIX: uniquePrefix("two") };
    const [first, second] = await Promise.all([start(env), start(env)]);
    const statuses: number[][] = [[], []];
    for (let i = 0; i < 10; i++) {
      statuses[0].push((await send(first.url, "GET", "/api/users/me", { headers: bearer(token) })).status);
      statuses[1].push((await send(second.url, "GET", "/api/users/me", { headers: bearer(token) })).status);
    }
    // Each alone would allow 10; together they allowed 10, five each.
    const allowed = statuses.map((list) => list.filter((status) => status === 200).length);
    assert.deepEqual(allowed, [5, 5]);
    assert.deepEqual(statuses.flat().filter((status) => status !== 200 && status !== 429), []);
    assert.equal(upstream.seen.length, 10);
  });

  it("on SIGTERM finishes the requests in flight, then exits 0", async () => {
    const gateway = await start({ SHUTDOWN_TIMEOUT_MS: "10000" });
    upstream.delayMs = 800;
    const inFlight = Array.from({ length: 20 }, (_, i) => send(gateway.url, "GET", `/api/workflows/${i}`, { headers: bearer(token) }));
    const deadline = Date.now() + 5000;
    while (upstream.seen.length < 20 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(upstream.seen.length, 20, "all 20 requests reached the upstream before the signal");
    gateway.child.kill("SIGTERM");
    const answers = await Promise.all(inFlight);
    assert.deepEqual(answers.map((a) => a.status), Array(20).fill(200));
    assert.deepEqual(answers.map((a) => a.json.echo.url).sort(), Array.from({ length: 20 }, (_, i) => `/api/workflows/${i}`).sort());
    assert.deepEqual(await gateway.exited(), { code: 0, signal: null });
    assert.equal(gateway.logs(/shutdown complete/).length, 1);
    await assert.rejects(send(gateway.url, "GET", "/health"), /ECONNREFUSED/);
  });

  it("starts and serves without Redis, on the local fallback, and says so in readiness", async () => {
    const gateway = await start({ REDIS_CLUSTER_NODES: `127.0.0.1:${await freePort()}`, RATE_LIMIT_API_POINTS: "3", RATE_LIMIT_API_DURATION_S: "60" });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await send(gateway.url, "GET", "/api/users/me", { headers: bearer(token) })).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    const ready = await send(gateway.url, "GET", "/health/ready");
    assert.equal(ready.status, 200);
    assert.equal(ready.json.checks.rateLimits.status, "degraded");
    assert.equal(gateway.logs(/Redis Cluster unreachable/).length, 1);
  });
});
