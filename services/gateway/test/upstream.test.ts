import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createLogger } from "@noa/kit";
import { isFailure, Upstream } from "../src/upstream";
import { freePort } from "./support/redis";
import { FakeUpstream } from "./support/upstream-server";

const logger = createLogger("gateway-test", "silent");

describe("Upstream circuit breaker", () => {
  let fake: FakeUpstream;
  let upstream: Upstream;
  beforeEach(async () => {
    fake = await FakeUpstream.start();
    upstream = new Upstream({ name: "users", url: fake.url, timeoutMs: 300, volumeThreshold: 4, errorThresholdPercentage: 50, resetTimeoutMs: 400, logger });
  });
  afterEach(async () => {
    await upstream.close();
    await fake.close();
  });

  const get = async () => {
    const result = await upstream.send({ method: "GET", path: "/api/users/me", headers: {} });
    // This fake answers chunked (no Content-Length): the body streams; drain it.
    if (!isFailure(result) && !Buffer.isBuffer(result.body)) for await (const _ of result.body);
    return isFailure(result) ? result : { status: result.statusCode };
  };

  it("forwards 5xx answers while closed, opens after enough failures, then fails fast without calling the upstream", async () => {
    assert.deepEqual(await get(), { status: 200 });
    fake.mode = "fail";
    // A slow failing upstream, so that "fails fast" means something: the open circuit must not wait for it.
    fake.delayMs = 200;
    // 1 success + 2 failures: 3 requests, below the volume threshold of 4, so still closed.
    for (let i = 0; i < 2; i++) assert.deepEqual(await get(), { status: 500 });
    assert.equal(upstream.state, "closed");
    // The 4th request fails too: 75 % failures over 4 requests opens it; the 500 itself is still forwarded.
    assert.deepEqual(await get(), { status: 500 });
    assert.equal(upstream.state, "open");
    const calls = fake.seen.length;
    const started = performance.now();
    const failure = await get();
    assert.ok(performance.now() - started < 150, "an open circuit answers without waiting for the 200 ms upstream");
    assert.equal(fake.seen.length, calls, "an open circuit does not reach the upstream");
    assert.deepEqual(failure, { status: 503, reason: "circuit_open", message: "users is failing; retry after the circuit resets" });
  });

  it("opens at the threshold, not only above it: 2 failures in 4 at 50 %, and 100 % can be reached", async () => {
    assert.deepEqual(await get(), { status: 200 });
    assert.deepEqual(await get(), { status: 200 });
    fake.mode = "fail";
    assert.deepEqual(await get(), { status: 500 });
    assert.deepEqual(await get(), { status: 500 });
    assert.equal(upstream.state, "open", "2 of 4 failed: 50 %, the threshold");
    const strict = new Upstream({ name: "users", url: fake.url, timeoutMs: 300, volumeThreshold: 3, errorThresholdPercentage: 100, resetTimeoutMs: 400, logger });
    try {
      for (let i = 0; i < 3; i++) await strict.send({ method: "GET", path: "/api/users/me", headers: {} }).then((r) => (!isFailure(r) && !Buffer.isBuffer(r.body) ? r.body.resume() : undefined));
      assert.equal(strict.state, "open", "every request failed: 100 %");
    } finally {
      await strict.close();
    }
  });

  it("answers 504 within the timeout counted from the queue, not from when a busy pool finally gives the request a connection", async () => {
    const single = new Upstream({ name: "users", url: fake.url, timeoutMs: 300, connections: 1, volumeThreshold: 100, resetTimeoutMs: 400, logger });
    try {
      fake.mode = "hang";
      const started = performance.now();
      const answers = await Promise.all([1, 2, 3, 4].map(async () => {
        const result = await single.send({ method: "GET", path: "/api/users/me", headers: {} });
        return { result, ms: performance.now() - started };
      }));
      for (const { result, ms } of answers) {
        assert.ok(isFailure(result) && result.status === 504 && result.reason === "upstream_timeout", JSON.stringify(result));
        assert.ok(ms < 600, `answered after ${Math.round(ms)} ms: queued requests must not wait one timeout each`);
      }
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(fake.seen.length, 1, "the queued requests that timed out were never sent");
    } finally {
      await single.close();
    }
  });

  it("does not send a queued request whose client went away, and does not count it against the upstream", async () => {
    const single = new Upstream({ name: "users", url: fake.url, timeoutMs: 2000, connections: 1, volumeThreshold: 1, errorThresholdPercentage: 1, resetTimeoutMs: 400, logger });
    try {
      fake.delayMs = 300;
      const first = single.send({ method: "GET", path: "/api/users/me", headers: {} });
      // A client response that closes before it is finished: the client hung up.
      const client = Object.assign(new EventEmitter(), { writableFinished: false }) as unknown as ServerResponse;
      const second = single.send({ method: "POST", path: "/api/users/me", headers: {}, body: "{}" }, { client });
      await new Promise((r) => setTimeout(r, 50));
      client.emit("close");
      assert.deepEqual(await second, { status: 499, reason: "client_closed", message: "the client closed the connection before the answer" });
      const answered = await first;
      assert.ok(!isFailure(answered) && answered.statusCode === 200);
      await new Promise((r) => setTimeout(r, 400));
      assert.deepEqual(fake.seen.map((r) => r.method), ["GET"], "the POST whose client left was never sent");
      assert.equal(single.state, "closed", "a client going away is not a failure of the upstream");
    } finally {
      await single.close();
    }
  });

  it("keeps its keep-alive connection when requests given up in the queue reach it", async () => {
    let connections = 0;
    const server = createServer((req, res) => {
      req.resume();
      setTimeout(() => res.end("ok"), 150);
    });
    server.on("connection", () => connections++);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const single = new Upstream({ name: "users", url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, timeoutMs: 2000, connections: 1, volumeThreshold: 100, resetTimeoutMs: 400, logger });
    try {
      const first = single.send({ method: "GET", path: "/", headers: {} });
      const clients = Array.from({ length: 10 }, () => Object.assign(new EventEmitter(), { writableFinished: false }) as unknown as ServerResponse);
      const queued = clients.map((client) => single.send({ method: "GET", path: "/", headers: {} }, { client }));
      await new Promise((r) => setTimeout(r, 30));
      for (const client of clients) client.emit("close");
      for (const result of await Promise.all(queued)) assert.ok(isFailure(result) && result.reason === "client_closed");
      await first;
      const after = await single.send({ method: "GET", path: "/", headers: {} });
      assert.ok(!isFailure(after) && after.statusCode === 200);
      assert.equal(connections, 1, "one keep-alive connection throughout");
    } finally {
      await single.close();
      await new Promise((r) => server.close(r));
    }
  });

  it("lets a request already sent run to its answer when its client goes away: the upstream acts on it anyway", async () => {
    fake.delayMs = 200;
    const client = Object.assign(new EventEmitter(), { writableFinished: false }) as unknown as ServerResponse;
    const sending = upstream.send({ method: "POST", path: "/api/auth/signup", headers: {}, body: "{}" }, { client });
    await new Promise((r) => setTimeout(r, 50));
    client.emit("close");
    const answered = await sending;
    assert.ok(!isFailure(answered) && answered.statusCode === 200, JSON.stringify(answered));
    assert.equal(fake.seen.length, 1);
  });

  it("half-opens after the reset timeout and closes when the trial request succeeds", async () => {
    fake.mode = "fail";
    for (let i = 0; i < 4; i++) await get();
    assert.equal(upstream.state, "open");
    fake.mode = "ok";
    await new Promise((resolve) => setTimeout(resolve, 450));
    assert.equal(upstream.state, "half_open");
    assert.deepEqual(await get(), { status: 200 });
    assert.equal(upstream.state, "closed");
  });

  it("stays open when the trial request fails again", async () => {
    fake.mode = "fail";
    for (let i = 0; i < 4; i++) await get();
    await new Promise((resolve) => setTimeout(resolve, 450));
    assert.deepEqual(await get(), { status: 500 });
    assert.equal(upstream.state, "open");
  });

  it("answers 504 when the upstream does not answer in time, and counts it as a failure", async () => {
    fake.mode = "hang";
    const started = performance.now();
    const failure = await get();
    assert.ok(performance.now() - started >= 290, "waited for the timeout");
    assert.deepEqual(failure, { status: 504, reason: "upstream_timeout", message: "users did not answer within 300 ms" });
  });
});

describe("Upstream that cannot be reached", () => {
  it("answers 502 naming the upstream and the error code", async () => {
    const upstream = new Upstream({ name: "storage", url: `http://127.0.0.1:${await freePort()}`, timeoutMs: 300, logger });
    const result = await upstream.send({ method: "GET", path: "/api/storage/x", headers: {} });
    assert.deepEqual(result, { status: 502, reason: "upstream_unreachable", message: "storage could not be reached (ECONNREFUSED)" });
    await upstream.close();
  });
});
