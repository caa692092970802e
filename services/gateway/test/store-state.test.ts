import assert from "node:assert/strict";
import { RedisTimeoutError, StoreState, type FallbackReason, type LimiterStore } from "../src/rate-limit";

function tracker(sustainedTimeoutMs: number, recoveryMs: number) {
  const transitions: LimiterStore[] = [];
  const decisions: FallbackReason[] = [];
  const state = new StoreState((store) => void transitions.push(store), (reason) => void decisions.push(reason), sustainedTimeoutMs, recoveryMs);
  return { state, transitions, decisions };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("StoreState", () => {
  it("leaves a node that timed out alone for the suspension, and only that node", async () => {
    const decisions: FallbackReason[] = [];
    const nodeOf = (key: string) => (key.startsWith("a") ? "node-a" : "node-b");
    const state = new StoreState(() => {}, (reason) => void decisions.push(reason), 1000, 1000, nodeOf, 40);
    assert.equal(state.skipsRedis("a1"), false);
    state.redisFailed(new RedisTimeoutError(100), "a1");
    assert.equal(state.skipsRedis("a2"), true, "another key on the hung node");
    assert.equal(state.skipsRedis("b1"), false, "a key on another node");
    assert.deepEqual(decisions, ["timeout", "timeout"], "a skipped decision counts as a timeout");
    await sleep(50);
    assert.equal(state.skipsRedis("a2"), false, "one decision tries the node again after the suspension");
    assert.equal(state.skipsRedis("a3"), true, "the others keep to the fallback while it does");
    state.redisAnswered("a2");
    assert.equal(state.skipsRedis("a3"), false, "an answer lifts the suspension");
    // A refused connection is not a hang: it suspends nothing (the client fails fast by itself).
    state.redisFailed(new Error("Redis connection is not ready"), "a1");
    assert.equal(state.skipsRedis("a1"), false);
  });

  it("switches to the fallback at once when Redis is unavailable, and back after answers for the recovery period", async () => {
    const { state, transitions, decisions } = tracker(1000, 40);
    state.redisFailed(new Error("Redis connection is not ready"));
    state.redisFailed(new Error("Redis connection is not ready"));
    assert.equal(state.store, "memory");
    assert.equal(state.reason, "Redis connection is not ready");
    state.redisAnswered();
    assert.equal(state.store, "memory", "one answer is not a recovery");
    await sleep(50);
    state.redisAnswered();
    state.redisAnswered();
    assert.deepEqual(transitions, ["memory", "redis"]);
    assert.deepEqual(decisions, ["unavailable", "unavailable"]);
    assert.equal(state.reason, undefined);
  });

  it("reads a partial outage (answers and failures interleaved) as one degraded period", async () => {
    const { state, transitions } = tracker(1000, 40);
    for (let i = 0; i < 6; i++) {
      state.redisFailed(new Error("CLUSTERDOWN The cluster is down"));
      await sleep(10);
      state.redisAnswered();
    }
    assert.deepEqual(transitions, ["memory"]);
    await sleep(50);
    state.redisAnswered();
    assert.deepEqual(transitions, ["memory", "redis"]);
  });

  it("does not flap on occasional slow answers from a working cluster", () => {
    const { state, transitions, decisions } = tracker(1000, 1000);
    for (let i = 0; i < 5; i++) {
      state.redisFailed(new RedisTimeoutError(100));
      state.redisAnswered();
    }
    assert.deepEqual(transitions, []);
    assert.equal(state.store, "redis");
    assert.deepEqual(decisions, Array(5).fill("timeout"));
  });

  it("switches when timeouts go on without any answer for the sustained period", async () => {
    const { state, transitions } = tracker(30, 1000);
    state.redisFailed(new RedisTimeoutError(100));
    assert.equal(state.store, "redis");
    await sleep(40);
    state.redisFailed(new RedisTimeoutError(100));
    assert.equal(state.store, "memory");
    assert.deepEqual(transitions, ["memory"]);
  });
});
