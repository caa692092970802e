import assert from "node:assert/strict";
import type { RedisClient } from "@noa/kit";
import { leaseSize, ResilientLimiter, StoreState, type LimitResult } from "../src/rate-limit";
import { readyCluster, uniquePrefix } from "./support/redis";

describe("lease sizes: what a replica asks Redis for, from the demand it has seen", () => {
  const windowMs = 1000;
  const now = 50_000;
  const lease = (fields: Partial<{ resetAt: number; tokens: number; size: number; taken: number; previousSpent: number }>) => ({
    resetAt: now + 500,
    tokens: 0,
    size: 1,
    taken: 1,
    previousSpent: 0,
    ...fields,
  });

  it("asks for 1 for a subject it has not seen, or not for a whole window", () => {
    assert.equal(leaseSize(undefined, now, windowMs, 10), 1);
    assert.equal(leaseSize(lease({ resetAt: now - 1000, taken: 10, size: 10 }), now, windowMs, 10), 1);
  });

  it("within a window asks for what the rate so far will spend before the window ends", () => {
    // 4 spent in the first 500 ms: 4 more expected in the 500 ms left.
    assert.equal(leaseSize(lease({ taken: 4, size: 4 }), now, windowMs, 10), 4);
    // 9 spent in 950 ms, 50 ms left: 1 more, not a batch of 10 that the window's end would take away.
    assert.equal(leaseSize(lease({ resetAt: now + 50, taken: 9, size: 8 }), now, windowMs, 10), 1);
    // Tokens still held are not spent: 6 taken, 2 held, so 4 spent in 500 ms.
    assert.equal(leaseSize(lease({ taken: 6, tokens: 2, size: 4 }), now, windowMs, 10), 4);
  });

  it("ramps a burst up 1, 2, 4, … (at most twice the last batch), or straight to what the last window spent", () => {
    const burst = { resetAt: now + 999, taken: 1, size: 1 };
    assert.equal(leaseSize(lease(burst), now, windowMs, 10), 2);
    assert.equal(leaseSize(lease({ ...burst, taken: 7, size: 4 }), now, windowMs, 10), 8);
    assert.equal(leaseSize(lease({ ...burst, taken: 15, size: 8 }), now, windowMs, 10), 10, "never more than maxLease");
    assert.equal(leaseSize(lease({ ...burst, previousSpent: 7 }), now, windowMs, 10), 7);
  });

  it("starts a new window right after the last with what was spent in it, up to maxLease", () => {
    assert.equal(leaseSize(lease({ resetAt: now - 100, taken: 12, tokens: 3, size: 8 }), now, windowMs, 10), 9);
    assert.equal(leaseSize(lease({ resetAt: now - 100, taken: 12, tokens: 3, size: 8 }), now, windowMs, 5), 5);
    assert.equal(leaseSize(lease({ resetAt: now - 100, taken: 3, tokens: 3, size: 4 }), now, windowMs, 10), 1, "nothing spent: 1");
  });
});

describe("leases against window boundaries", () => {
  let redis: RedisClient;
  before(async () => {
    redis = await readyCluster();
  });
  after(() => redis.disconnect());

  it("ends a window with under 2 ms left and leases from the next one, so the batch is not lost at once", async () => {
    const prefix = uniquePrefix("lease-edge");
    const limiter = new ResilientLimiter({ redis, keyPrefix: prefix, points: 100, durationSeconds: 1, redisTimeoutMs: 500, state: new StoreState(() => {}), maxLease: 10 });
    assert.equal((await limiter.consumeLeased("198.51.100.60")).consumed, 1, "defines the lease command");
    const key = `${prefix}:{198.51.100.61}`;
    // In one transaction (Redis does not advance its clock within one), so the lease sees the window's last millisecond.
    type Transaction = { set(...args: unknown[]): Transaction; noaRateLimitLease(...args: unknown[]): Transaction; exec(): Promise<[Error | null, unknown][] | null> };
    const replies = await (redis.multi() as unknown as Transaction).set(key, "50", "PX", 1).noaRateLimitLease(key, 5, 100, 1000).exec();
    assert.deepEqual(replies?.[1], [null, [5, 5, 1000]], "counter 5 in a fresh 1-s window, not 55 in the dying one");
  });

  it("does not spend in a new window the tokens of a late answer from the window before", async () => {
    // A stand-in for the cluster whose lease answers the test releases one by one.
    const pending: { args: unknown[]; answer(reply: [number, number, number]): void }[] = [];
    const fake = {
      status: "ready",
      noaRateLimitLease: (...args: unknown[]) => new Promise<[number, number, number]>((resolve) => pending.push({ args, answer: resolve })),
    } as unknown as RedisClient;
    const limiter = new ResilientLimiter({ redis: fake, keyPrefix: "fake", points: 100, durationSeconds: 1, redisTimeoutMs: 5_000, state: new StoreState(() => {}), maxLease: 10 });
    const ip = "198.51.100.62";
    const next = async (): Promise<(typeof pending)[number]> => {
      while (pending.length === 0) await new Promise((resolve) => setImmediate(resolve));
      return pending.shift()!;
    };

    // The window has 100 ms left: one token, spent.
    const first = limiter.consumeLeased(ip) as Promise<LimitResult>;
    (await next()).answer([90, 1, 100]);
    assert.equal((await first).limited, false);
    // Two requests lease at once; the first answer comes from the next window (10 tokens, 9 held)…
    const late = limiter.consumeLeased(ip) as Promise<LimitResult>;
    const fresh = limiter.consumeLeased(ip) as Promise<LimitResult>;
    const lateCall = await next();
    (await next()).answer([10, 10, 1000]);
    assert.equal((await fresh).limited, false);
    // …the other from the window just ended: its request was admitted there, its tokens went with it.
    lateCall.answer([93, 3, 1]);
    assert.equal((await late).limited, false);
    for (let i = 0; i < 9; i++) {
      const decision = limiter.consumeLeased(ip);
      assert.ok(!(decision instanceof Promise), `request ${i + 1} on a held token`);
      assert.equal(decision.limited, false);
    }
    // The 9 held tokens are spent; the 2 of the late answer were not added: the next request asks Redis.
    assert.ok(limiter.consumeLeased(ip) instanceof Promise);
    assert.equal(pending.length, 1);
  });
});
