import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { request as httpRequest, type ServerResponse } from "node:http";
import { createLogger, createRedis, waitForRedis } from "@noa/kit";
import { createCapturingLogger } from "@noa/kit/testing";
import { createSigner } from "fast-jwt";
import { bearer, send } from "./support/http";
import { JWT_SECRET, signToken, startGateway, type RunningGateway } from "./support/gateway";
import { ThrowawayClusterNode, waitFor } from "./support/redis";

const USER = "6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f";
const token = signToken({ sub: USER });

describe("gateway routing and input handling", () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway();
  });
  after(() => gw.close());

  it("forwards an authenticated request unchanged to its upstream, with the verified user id and a request id", async () => {
    const answer = await send(gw.url, "GET", "/api/workflows/abc?limit=5&cursor=x%20y", {
      headers: { ...bearer(token), "x-user-id": "someone-else", "x-request-id": "req-from-mesh-1", connection: "keep-alive, x-drop-me", "x-drop-me": "1" },
    });
    assert.equal(answer.status, 200);
    const seen = answer.json.echo;
    assert.equal(seen.method, "GET");
    assert.equal(seen.url, "/api/workflows/abc?limit=5&cursor=x%20y");
    assert.equal(seen.headers["x-user-id"], USER);
    assert.equal(seen.headers["x-request-id"], "req-from-mesh-1");
    assert.equal(seen.headers["x-drop-me"], undefined);
    assert.equal(seen.headers.authorization, `Bearer ${token}`);
    // The upstream's own hop-by-hop headers stop at the gateway.
    assert.equal(answer.headers["x-upstream-hop"], undefined);
    assert.equal(gw.users.seen.length + gw.storage.seen.length, 0);
  });

  it("routes each prefix to its service", async () => {
    const before = { users: gw.users.seen.length, storage: gw.storage.seen.length };
    assert.equal((await send(gw.url, "GET", "/api/users/me", { headers: bearer(token) })).status, 200);
    assert.equal((await send(gw.url, "POST", "/api/storage/uploads", { headers: { ...bearer(token), "content-type": "application/json" }, body: "{}" })).status, 200);
    assert.equal(gw.users.seen.at(-1)?.url, "/api/users/me");
    assert.equal(gw.storage.seen.at(-1)?.url, "/api/storage/uploads");
    assert.deepEqual({ users: gw.users.seen.length - before.users, storage: gw.storage.seen.length - before.storage }, { users: 1, storage: 1 });
  });

  it("forwards a JSON body byte for byte", async () => {
    const body = '{ "name" : "x\'; DROP TABLE workflows; --",  "n": 1.50 }';
    const answer = await send(gw.url, "POST", "/api/workflows", { headers: { ...bearer(token), "content-type": "application/json" }, body });
    assert.equal(answer.status, 200);
    assert.equal(answer.json.echo.body, body);
    assert.equal(answer.json.echo.headers["content-length"], String(Buffer.byteLength(body)));
  });

  describe("answers", () => {
    const large = randomBytes(300 * 1024);
    const invalidUtf8 = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"a":"\xff\xfe"}
    let endlessClosed = false;
    const answers: Record<string, (res: ServerResponse) => void> = {
      "/api/workflows/utf8": (res) => {
        const body = Buffer.from('{"name":"Zoë – ✓ 𝄞"}', "utf8");
        res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": body.length }).end(body);
      },
      "/api/workflows/large": (res) => res.writeHead(200, { "content-type": "application/octet-stream", "content-length": large.length }).end(large),
      "/api/workflows/chunked": (res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"part":1,');
        setTimeout(() => res.end('"part2":2}'), 20);
      },
      "/api/workflows/not-utf8": (res) => res.writeHead(200, { "content-type": "application/json", "content-length": invalidUtf8.length }).end(invalidUtf8),
      "/api/workflows/empty": (res) => res.writeHead(204).end(),
      "/api/workflows/endless": (res) => {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        const tick = setInterval(() => res.write(Buffer.alloc(16 * 1024, 1)), 5);
        res.on("close", () => {
          clearInterval(tick);
          endlessClosed = true;
        });
      },
      "/api/workflows/head": (res) => res.writeHead(200, { "content-type": "application/json", "content-length": 11 }).end(),
    };
    before(() => {
      gw.workflows.raw = (seen, res) => {
        const answer = answers[seen.url];
        answer?.(res);
        return answer !== undefined;
      };
    });
    after(() => (gw.workflows.raw = undefined));
    const get = (path: string, method = "GET") => send(gw.url, method, path, { headers: bearer(token) });

    it("passes a small UTF-8 JSON answer byte for byte, with its length", async () => {
      const answer = await get("/api/workflows/utf8");
      assert.equal(answer.status, 200);
      assert.equal(answer.bytes.toString("utf8"), '{"name":"Zoë – ✓ 𝄞"}');
      assert.equal(answer.headers["content-length"], String(answer.bytes.length));
    });

    it("streams a large answer intact", async () => {
      const answer = await get("/api/workflows/large");
      assert.equal(answer.status, 200);
      assert.equal(answer.headers["content-type"], "application/octet-stream");
      assert.equal(createHash("sha256").update(answer.bytes).digest("hex"), createHash("sha256").update(large).digest("hex"));
    });

    it("streams a chunked answer of unknown length intact", async () => {
      const answer = await get("/api/workflows/chunked");
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.json, { part: 1, part2: 2 });
    });

    it("keeps the bytes of a JSON answer that is not valid UTF-8", async () => {
      const answer = await get("/api/workflows/not-utf8");
      assert.deepEqual(answer.bytes, invalidUtf8);
    });

    it("stops reading a streamed answer from the upstream when the client goes away", async () => {
      const received = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(new URL("/api/workflows/endless", gw.url), { headers: bearer(token), agent: false }, (res) => {
          let bytes = 0;
          res.on("data", (chunk: Buffer) => {
            bytes += chunk.length;
            if (bytes > 64 * 1024) {
              req.destroy();
              resolve(bytes);
            }
          });
        });
        req.on("error", (err) => (err.message.includes("socket hang up") ? undefined : reject(err)));
        req.end();
      });
      assert.ok(received > 64 * 1024);
      await waitFor(() => endlessClosed, "the upstream connection to close once the client is gone", 3000);
    });

    it("answers 204 and HEAD without a body, and the next request still works", async () => {
      const empty = await get("/api/workflows/empty", "DELETE");
      assert.equal(empty.status, 204);
      assert.equal(empty.bytes.length, 0);
      const head = await get("/api/workflows/head", "HEAD");
      assert.equal(head.status, 200);
      assert.equal(head.bytes.length, 0);
      assert.equal((await get("/api/workflows/utf8")).status, 200);
    });
  });

  it("drops Content-Type from a request without a body, so a DELETE sent with one reaches the upstream cleanly", async () => {
    const answer = await send(gw.url, "DELETE", "/api/workflows/abc", { headers: { ...bearer(token), "content-type": "application/json" } });
    assert.equal(answer.status, 200);
    assert.equal(answer.json.echo.method, "DELETE");
    assert.equal(answer.json.echo.headers["content-type"], undefined);
  });

  it("lets sign-up through without a token, and never passes a client's x-user-id", async () => {
    const answer = await send(gw.url, "POST", "/api/auth/signup", {
      headers: { "content-type": "application/json", "x-user-id": USER },
      body: JSON.stringify({ email: "new@example.com", password: "correct horse battery staple" }),
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.json.echo.url, "/api/auth/signup");
    assert.equal(answer.json.echo.headers["x-user-id"], undefined);
  });

  it("answers 400 for malformed JSON without calling the upstream", async () => {
    const calls = gw.workflows.seen.length;
    const answer = await send(gw.url, "POST", "/api/workflows", { headers: { ...bearer(token), "content-type": "application/json" }, body: '{"name": ' });
    assert.equal(answer.status, 400);
    assert.match(answer.json.message, /not valid JSON/);
    assert.equal(gw.workflows.seen.length, calls);
  });

  it("answers 413 for a body over the limit without calling the upstream", async () => {
    const calls = gw.workflows.seen.length;
    const body = JSON.stringify({ blob: "x".repeat(2000) });
    const answer = await send(gw.url, "POST", "/api/workflows", { headers: { ...bearer(token), "content-type": "application/json" }, body });
    assert.equal(answer.status, 413);
    assert.equal(gw.workflows.seen.length, calls);
  });

  const unauthorized: Array<[string, Record<string, string>, string]> = [
    ["no token", {}, "missing_token"],
    ["a non-Bearer scheme", { authorization: "Basic dTpw" }, "malformed_token"],
    ["a token signed with another key", bearer(createSigner({ key: "another-secret-another-secret-12345", iss: "noa", aud: "noa", expiresIn: 60_000 })({ sub: USER })), "invalid_token"],
    ["an expired token", bearer(createSigner({ key: JWT_SECRET, iss: "noa", aud: "noa" })({ sub: USER, exp: Math.floor(Date.now() / 1000) - 10 })), "expired_token"],
    ["a token for another audience", bearer(createSigner({ key: JWT_SECRET, iss: "noa", aud: "elsewhere", expiresIn: 60_000 })({ sub: USER })), "invalid_token"],
  ];
  for (const [name, headers, reason] of unauthorized) {
    it(`answers 401 ${reason} for ${name}, without calling the upstream`, async () => {
      const calls = gw.workflows.seen.length;
      const answer = await send(gw.url, "GET", "/api/workflows", { headers });
      assert.equal(answer.status, 401);
      assert.equal(answer.json.reason, reason);
      assert.equal(typeof answer.json.requestId, "string");
      assert.match(String(answer.headers["www-authenticate"]), /^Bearer error="/);
      assert.equal(gw.workflows.seen.length, calls);
    });
  }

  it("answers 404 for an unknown route", async () => {
    assert.equal((await send(gw.url, "GET", "/api/nothing-here", { headers: bearer(token) })).status, 404);
    assert.equal((await send(gw.url, "GET", "/elsewhere")).status, 404);
  });
});

describe("gateway rate limits over HTTP", () => {
  it("answers 429 with Retry-After and RateLimit headers once a client IP is over the API limit", async () => {
    const gw = await startGateway({ rateLimits: { apiPoints: 3, apiDurationSeconds: 60 }, trustedProxyHops: 1 });
    try {
      const from = (ip: string) => ({ ...bearer(token), "x-forwarded-for": ip });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await send(gw.url, "GET", "/api/workflows", { headers: from("198.51.100.77") })).status);
      assert.deepEqual(statuses, [200, 200, 200, 429]);
      const limited = await send(gw.url, "GET", "/api/workflows", { headers: from("198.51.100.77") });
      assert.equal(limited.status, 429);
      assert.equal(limited.json.reason, "rate_limited:api");
      assert.ok(Number(limited.headers["retry-after"]) > 55 && Number(limited.headers["retry-after"]) <= 60);
      assert.equal(limited.headers["ratelimit-limit"], "3");
      assert.equal(limited.headers["ratelimit-remaining"], "0");
      // Another client address (as the trusted proxy reports it) has its own budget.
      const other = await send(gw.url, "GET", "/api/workflows", { headers: from("198.51.100.78") });
      assert.equal(other.status, 200);
      assert.equal(other.headers["ratelimit-remaining"], "2");
      const metrics = await gw.registry.metrics();
      assert.match(metrics, /gateway_rate_limited_total\{limit="api",store="redis"[^}]*\} 2\n/);
      // Unknown /api paths are API requests too: counted (404 with the limit's headers), then limited.
      const unknown = await send(gw.url, "GET", "/api/no-such-thing", { headers: from("198.51.100.79") });
      assert.deepEqual([unknown.status, unknown.json.message, unknown.headers["ratelimit-remaining"]], [404, "no route for GET /api/no-such-thing", "2"]);
      for (let i = 0; i < 2; i++) await send(gw.url, "GET", "/api/no-such-thing", { headers: from("198.51.100.79") });
      const flood = await send(gw.url, "GET", `/api/${"x".repeat(8)}`, { headers: from("198.51.100.79") });
      assert.deepEqual([flood.status, flood.json.reason], [429, "rate_limited:api"]);
    } finally {
      await gw.close();
    }
  });

  it("holds sign-ups to 5 per IP and window, counting only those that cost a password hash", async () => {
    const gw = await startGateway();
    try {
      const signup = () => send(gw.url, "POST", "/api/auth/signup", { headers: { "content-type": "application/json" }, body: JSON.stringify({ email: "a@example.com", password: "long enough" }) });
      // Refused as invalid by users (no hash computed): given back, however many.
      gw.users.responder = () => ({ status: 400, body: { message: "body/email must match format \"email\"" } });
      for (let i = 0; i < 7; i++) assert.equal((await signup()).status, 400);
      // Created or taken (each one hashed a password): counted.
      let n = 0;
      gw.users.responder = () => (n++ % 2 === 0 ? { status: 201, body: { user: {} } } : { status: 409, body: { message: "email taken" } });
      const statuses = [];
      for (let i = 0; i < 6; i++) statuses.push((await signup()).status);
      assert.deepEqual(statuses, [201, 409, 201, 409, 201, 429]);
      const limited = await signup();
      assert.equal(limited.json.reason, "rate_limited:signup-ip");
      assert.ok(Number(limited.headers["retry-after"]) > 890, `Retry-After ${limited.headers["retry-after"]}`);
      assert.equal(gw.users.seen.length, 12, "the refused sign-ups never reached users");
    } finally {
      await gw.close();
    }
  });

  it("holds presigned uploads to 10 per user and hour; what storage refused is given back, and other users are apart", async () => {
    const gw = await startGateway();
    try {
      const upload = (as: string) => send(gw.url, "POST", "/api/storage/uploads", { headers: { ...bearer(as), "content-type": "application/json" }, body: JSON.stringify({ fileName: "a.txt", contentType: "text/plain", size: 1 }) });
      gw.storage.responder = () => ({ status: 400, body: { message: "body.size (0): too small" } });
      for (let i = 0; i < 3; i++) assert.equal((await upload(token)).status, 400);
      gw.storage.responder = () => ({ status: 201, body: { id: "x" } });
      const statuses = [];
      for (let i = 0; i < 11; i++) statuses.push((await upload(token)).status);
      assert.deepEqual(statuses, [...Array(10).fill(201), 429]);
      const limited = await upload(token);
      assert.equal(limited.json.reason, "rate_limited:upload");
      assert.ok(Number(limited.headers["retry-after"]) > 3590, `Retry-After ${limited.headers["retry-after"]}`);
      assert.equal(limited.headers["ratelimit-limit"], "10");
      // Another user has its own budget; reading objects is not an upload.
      assert.equal((await upload(signToken({ sub: "7b0f2a4e-5d2c-4c3e-9a51-2f1d3c4b5a69" }))).status, 201);
      assert.equal((await send(gw.url, "GET", "/api/storage/objects", { headers: bearer(token) })).status, 201, "forwarded to the stub, not throttled");
      // Without a token: 401 before anything is counted.
      assert.equal((await send(gw.url, "POST", "/api/storage/uploads", { headers: { "content-type": "application/json" }, body: "{}" })).status, 401);
    } finally {
      await gw.close();
    }
  });

  it("counts an IPv6 client by its /64: new addresses from the same prefix share one budget", async () => {
    const gw = await startGateway({ rateLimits: { apiPoints: 3, apiDurationSeconds: 60 }, trustedProxyHops: 1 });
    try {
      const from = (ip: string) => ({ ...bearer(token), "x-forwarded-for": ip });
      const statuses = [];
      for (const ip of ["2001:db8:7:7::1", "2001:db8:7:7::2", "2001:db8:7:7:aaaa::3", "2001:db8:7:7:ffff:ffff:ffff:ffff"]) {
        statuses.push((await send(gw.url, "GET", "/api/workflows", { headers: from(ip) })).status);
      }
      assert.deepEqual(statuses, [200, 200, 200, 429]);
      // The next /64 is another client.
      assert.equal((await send(gw.url, "GET", "/api/workflows", { headers: from("2001:db8:7:8::1") })).status, 200);
    } finally {
      await gw.close();
    }
  });

  it("answers 429 with Retry-After after 5 failed logins from one IP; the users service saw exactly 5", async () => {
    const gw = await startGateway();
    gw.users.responder = () => ({ status: 401, body: { error: "Unauthorized", message: "wrong email or password" } });
    try {
      const login = (email: string) =>
        send(gw.url, "POST", "/api/auth/login", { headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password: "guess" }) });
      for (let i = 0; i < 5; i++) assert.equal((await login(`user${i}@example.com`)).status, 401);
      const sixth = await login("user5@example.com");
      assert.equal(sixth.status, 429);
      assert.equal(sixth.json.reason, "rate_limited:auth-ip");
      assert.ok(Number(sixth.headers["retry-after"]) > 890, `Retry-After ${sixth.headers["retry-after"]}`);
      assert.equal(sixth.headers["ratelimit-limit"], "5");
      assert.equal(sixth.headers["ratelimit-remaining"], "0");
      assert.equal(gw.users.seen.filter((r) => r.url === "/api/auth/login").length, 5);
    } finally {
      await gw.close();
    }
  });

  it("still counts sign-ups and logins whose clients hang up after they were sent: the limit holds", async () => {
    const gw = await startGateway();
    const hangUpAfter = (path: string, body: string, ms: number) =>
      new Promise<void>((resolve) => {
        const req = httpRequest(gw.url + path, { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } });
        req.on("error", () => resolve());
        req.on("response", (res) => res.resume().on("end", () => resolve()));
        req.end(body);
        setTimeout(() => {
          req.destroy();
          resolve();
        }, ms);
      });
    try {
      gw.users.delayMs = 150; // the password hash
      gw.users.responder = (seen) => (seen.url === "/api/auth/signup" ? { status: 201, body: { id: "x" } } : { status: 401, body: { message: "invalid email or password" } });
      for (let i = 0; i < 8; i++) await hangUpAfter("/api/auth/signup", JSON.stringify({ email: `a${i}@example.com`, password: "correct horse battery" }), 50);
      for (let i = 0; i < 8; i++) await hangUpAfter("/api/auth/login", JSON.stringify({ email: "victim@example.com", password: `guess${i}` }), 50);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(gw.users.seen.filter((r) => r.url === "/api/auth/signup").length, 5, "sign-ups reaching users: the limit");
      assert.equal(gw.users.seen.filter((r) => r.url === "/api/auth/login").length, 5, "login attempts reaching users: the limit");
      const next = await send(gw.url, "POST", "/api/auth/signup", { headers: { "content-type": "application/json" }, body: JSON.stringify({ email: "z@example.com", password: "correct horse battery" }) });
      assert.equal(next.status, 429);
    } finally {
      await gw.close();
    }
  });

  it("answers 400 for a login whose email is not a string, so no attempt escapes the per-account limit", async () => {
    const gw = await startGateway();
    try {
      for (const body of [{ email: ["victim@example.com"], password: "guess" }, { email: 7, password: "guess" }, { password: "guess" }, ["victim@example.com"]]) {
        const res = await send(gw.url, "POST", "/api/auth/login", { headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.json.message, "body.email: a login needs a JSON body whose email is a non-empty string");
      }
      assert.equal(gw.users.seen.filter((r) => r.url === "/api/auth/login").length, 0, "none reached users");
    } finally {
      await gw.close();
    }
  });
});

describe("gateway circuit breaker over HTTP", () => {
  it("opens on a failing upstream (503 fast), shows it in metrics and logs, and closes after the upstream recovers", async () => {
    const { logger, lines } = createCapturingLogger("gateway");
    const gw = await startGateway({ circuit: { volumeThreshold: 4, resetTimeoutMs: 400 } }, { logger });
    try {
      const state = async () => /gateway_circuit_state\{upstream="workflows"[^}]*\} (\d)/.exec(await gw.registry.metrics())?.[1];
      assert.equal(await state(), "0");
      gw.workflows.mode = "fail";
      // The failing upstream takes 400 ms per answer; an open circuit must not.
      gw.workflows.delayMs = 400;
      for (let i = 0; i < 4; i++) assert.equal((await send(gw.url, "GET", "/api/workflows", { headers: bearer(token) })).status, 500);
      const open = await send(gw.url, "GET", "/api/workflows", { headers: bearer(token) });
      assert.equal(open.status, 503);
      assert.deepEqual({ reason: open.json.reason, upstream: open.json.upstream }, { reason: "circuit_open", upstream: "workflows" });
      assert.equal(open.headers["retry-after"], "1");
      assert.ok(open.ms < 200, `answered in ${open.ms} ms, without waiting for the 400 ms upstream`);
      assert.equal(await state(), "2");
      for (let i = 0; i < 5; i++) assert.equal((await send(gw.url, "GET", "/api/workflows", { headers: bearer(token) })).status, 503);
      // The upstream's 500s are logged one by one; the open circuit once, not per 503.
      assert.equal(lines.filter((line) => line.msg === "request answered with a server error" && line.statusCode === 500).length, 4);
      assert.equal(lines.filter((line) => line.statusCode === 503).length, 0);
      assert.equal(lines.filter((line) => /circuit to workflows opened/.test(String(line.msg))).length, 1);
      // Other upstreams are unaffected.
      assert.equal((await send(gw.url, "GET", "/api/users/me", { headers: bearer(token) })).status, 200);
      gw.workflows.mode = "ok";
      gw.workflows.delayMs = 0;
      await new Promise((resolve) => setTimeout(resolve, 450));
      assert.equal(await state(), "1");
      assert.equal((await send(gw.url, "GET", "/api/workflows", { headers: bearer(token) })).status, 200);
      assert.equal(await state(), "0");
    } finally {
      await gw.close();
    }
  });
});

describe("gateway upstream timeouts over HTTP", () => {
  it("answers 504 naming the upstream when it does not answer within the timeout", async () => {
    const gw = await startGateway({ upstreamTimeoutMs: 300 });
    try {
      gw.storage.mode = "hang";
      const answer = await send(gw.url, "GET", "/api/storage/objects/1", { headers: bearer(token) });
      assert.equal(answer.status, 504);
      assert.deepEqual({ reason: answer.json.reason, upstream: answer.json.upstream }, { reason: "upstream_timeout", upstream: "storage" });
      assert.match(await gw.registry.metrics(), /gateway_upstream_failures_total\{upstream="storage",reason="upstream_timeout"[^}]*\} 1\n/);
    } finally {
      await gw.close();
    }
  });
});

describe("gateway while Redis is down", () => {
  it("keeps answering with the local fallback, says so once in its log and in /health/ready, and recovers", async function () {
    this.timeout(30_000);
    const node = await ThrowawayClusterNode.start();
    const { logger, lines } = createCapturingLogger("gateway");
    const redis = createRedis({ clusterNodes: node.nodes, logger: createLogger("gateway-test", "silent") });
    await waitForRedis(redis);
    const gw = await startGateway({ rateLimits: { apiPoints: 6, apiDurationSeconds: 60, fallbackDivisor: 2 } }, { redis, logger });
    const fallbackLines = () => lines.filter((line) => /Redis Cluster unreachable/.test(String(line.msg)));
    try {
      const ready = await send(gw.url, "GET", "/health/ready");
      assert.equal(ready.status, 200);
      assert.equal(ready.json.checks.rateLimits.store, "redis");
      assert.equal((await send(gw.url, "GET", "/api/users/me", { headers: bearer(token) })).headers["ratelimit-remaining"], "5");

      await node.down();
      // Every limit is divided by the expected replica count (2) while each replica counts alone: 3 per window here.
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await send(gw.url, "GET", "/api/users/me", { headers: bearer(token) })).status);
      assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
      assert.equal(fallbackLines().length, 1, "one log line for the transition, not one per request");
      assert.equal(fallbackLines()[0].level, "warn");
      const degraded = await send(gw.url, "GET", "/health/ready");
      assert.equal(degraded.status, 200, "degraded, not down");
      assert.equal(degraded.json.status, "degraded");
      assert.equal(degraded.json.checks.rateLimits.status, "degraded");
      assert.equal(degraded.json.checks.rateLimits.store, "memory");
      assert.match(await gw.registry.metrics(), /gateway_rate_limit_fallback\{[^}]*\} 1\n/);

      await node.up();
      await waitFor(async () => (await send(gw.url, "GET", "/api/users/me", { headers: bearer(token) })).headers["ratelimit-limit"] === "6", "Redis decisions again", 15_000);
      // The state (log, gauge, readiness) follows after a second of answers without failures.
      await waitFor(async () => {
        await send(gw.url, "GET", "/api/users/me", { headers: bearer(token) });
        return lines.some((line) => /answering again/.test(String(line.msg)));
      }, "the recovery log line");
      assert.equal(lines.filter((line) => /answering again/.test(String(line.msg))).length, 1);
      assert.equal((await send(gw.url, "GET", "/health/ready")).json.checks.rateLimits.status, "ok");
    } finally {
      await gw.close();
      await node.destroy();
    }
  });
});
