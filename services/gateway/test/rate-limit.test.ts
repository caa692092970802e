import assert from "node:assert/strict";
import type { RedisClient } from "@noa/kit";
import { defaultApiLeaseMax, RateLimitPolicy, type RateLimitSettings } from "../src/rate-limit-policy";
import type { LimiterStore } from "../src/rate-limit";
import { deadCluster, readyCluster, ThrowawayClusterNode, uniquePrefix, waitFor } from "./support/redis";

function settings(overrides: Partial<RateLimitSettings> = {}): RateLimitSettings {
  return {
    apiPoints: 10,
    apiDurationSeconds: 30,
    strictApiPoints: 5,
    authPoints: 5,
    authDurationSeconds: 900,
    strictAuthPoints: 3,
    uploadPoints: 10,
    uploadDurationSeconds: 3600,
    strictUploadPoints: 5,
    offenceThreshold: 2,
    offenceWindowSeconds: 60,
    strictModeSeconds: 60,
    keyPrefix: uniquePrefix("rl"),
    fallbackDivisor: 1,
    redisTimeoutMs: 200,
    apiLeaseMax: defaultApiLeaseMax(overrides.apiPoints ?? 10),
    ...overrides,
  };
}

function recorder() {
  const transitions: LimiterStore[] = [];
  return { transitions, listener: (store: LimiterStore) => void transitions.push(store) };
}

describe("rate limits on the shared Redis Cluster", function () {
  const clients: RedisClient[] = [];
  const client = async () => {
    const cluster = await readyCluster();
    clients.push(cluster);
    return cluster;
  };
  after(() => clients.forEach((cluster) => cluster.disconnect()));

  it("one API limit holds across two gateways with their own Redis clients: combined traffic is limited", async () => {
    const shared = settings();
    const first = new RateLimitPolicy(shared, await client(), () => {});
    const second = new RateLimitPolicy(shared, await client(), () => {});
    const verdicts: boolean[][] = [[], []];
    for (let i = 0; i < 10; i++) {
      verdicts[0].push((await first.checkApi("198.51.100.1")).allowed);
      verdicts[1].push((await second.checkApi("198.51.100.1")).allowed);
    }
    // 20 requests, 10 allowed in all: each gateway let through 5, although each alone would allow 10.
    assert.deepEqual(verdicts[0], [...Array(5).fill(true), ...Array(5).fill(false)]);
    assert.deepEqual(verdicts[1], [...Array(5).fill(true), ...Array(5).fill(false)]);
    const rejected = await second.checkApi("198.51.100.1");
    assert.equal(rejected.rejectedBy, "api");
    assert.equal(rejected.store, "redis");
    assert.ok(rejected.msBeforeReset > 25_000 && rejected.msBeforeReset <= 30_000, `reset in ${rejected.msBeforeReset} ms`);
    // Another client is untouched.
    assert.equal((await first.checkApi("198.51.100.2")).allowed, true);
  });

  it("leases API tokens in batches: two gateways together admit exactly the limit, with a third of the Redis round trips", async () => {
    const shared = settings({ apiPoints: 100 });
    assert.equal(shared.apiLeaseMax, 10);
    const leases = [0, 0];
    const gateways = [0, 1].map(async (i) => new RateLimitPolicy(shared, await client(), () => {}, { onApiLease: () => void leases[i]++ }));
    const [first, second] = await Promise.all(gateways);
    const ip = "198.51.100.20";
    const allowed = [0, 0];
    for (let i = 0; i < 75; i++) {
      if ((await first.checkApi(ip)).allowed) allowed[0]++;
      if ((await second.checkApi(ip)).allowed) allowed[1]++;
    }
    assert.equal(allowed[0] + allowed[1], 100, `allowed ${allowed}`);
    assert.ok(allowed[0] >= 45 && allowed[1] >= 45, `allowed ${allowed}`);
    // 150 requests; each gateway leased 1, 2, 4, 8, then 10 at a time, and asked once more to learn the window was used up.
    assert.ok(leases[0] + leases[1] <= 30, `${leases} lease round trips`);
    // The shared counter never went past the limit for admissions: 100, plus the one rejection each gateway sent to Redis.
    const redis = await client();
    assert.equal(await redis.get(`${shared.keyPrefix}:api:{${ip}}`), "102");
    const rejected = await first.checkApi(ip);
    assert.equal(rejected.rejectedBy, "api");
    assert.equal(rejected.remaining, 0);
    assert.ok(rejected.msBeforeReset > 25_000 && rejected.msBeforeReset <= 30_000, `reset in ${rejected.msBeforeReset} ms`);
  });

  it("counts RateLimit-Remaining down exactly on one gateway, and starts a new window without the old window's tokens", async function () {
    this.timeout(5000);
    const shared = settings({ apiPoints: 100, apiDurationSeconds: 1 });
    const policy = new RateLimitPolicy(shared, await client(), () => {});
    const remaining = [];
    for (let i = 0; i < 10; i++) remaining.push((await policy.checkApi("198.51.100.21")).remaining);
    assert.deepEqual(remaining, [99, 98, 97, 96, 95, 94, 93, 92, 91, 90]);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const next = await policy.checkApi("198.51.100.21");
    assert.equal(next.remaining, 99);
    assert.ok(next.msBeforeReset > 0 && next.msBeforeReset <= 1000, `reset in ${next.msBeforeReset} ms`);
    // The new window's first lease is what this gateway spent in the last window (10, the most
    // one lease may take): 10 taken, 9 held here.
    assert.equal(await (await client()).get(`${shared.keyPrefix}:api:{198.51.100.21}`), "10");
  });

  it("costs a steady client one round trip per window once its demand is known, and leases little more than it spends", async function () {
    this.timeout(10_000);
    const shared = settings({ apiPoints: 100, apiDurationSeconds: 1 });
    const sizes: number[] = [];
    const policy = new RateLimitPolicy(shared, await client(), () => {}, { onApiLease: (size) => void sizes.push(size) });
    const ip = "198.51.100.25";
    // About 10 requests per 1-s window for 3.2 s.
    const started = Date.now();
    let requests = 0;
    const leasesAt: number[] = [];
    while (Date.now() - started < 3200) {
      const before = sizes.length;
      assert.equal((await policy.checkApi(ip)).allowed, true);
      if (sizes.length > before) leasesAt.push(Date.now() - started);
      requests++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // First window: 1, 2, 4 (at ≈ 0, 100 and 300 ms), then at ≈ 700 ms what the rate leaves for the
    // rest of it (≈ 3), not the 8 that doubling would take and the window's end would mostly waste.
    assert.deepEqual(sizes.slice(0, 3), [1, 2, 4]);
    assert.ok(sizes[3]! <= 4, `sizes ${sizes}`);
    // Every later window: one lease of what the last one spent (≈ 10, the most one lease takes), now and then a small top-up.
    const firstWindow = leasesAt.filter((at) => at < 1000).length;
    const later = sizes.slice(firstWindow);
    assert.ok(later.length <= 5 && later.length >= 2, `leases at ${leasesAt} ms (sizes ${sizes})`);
    assert.ok(requests >= 25, `${requests} requests`);
  });

  it("answers a flood past the limit locally: Redis hears its first rejection, which is one offence, and nothing more", async () => {
    const shared = settings({ apiPoints: 100, offenceThreshold: 3 });
    let leases = 0;
    const policy = new RateLimitPolicy(shared, await client(), () => {}, { onApiLease: () => void leases++ });
    const ip = "198.51.100.22";
    const verdicts = [];
    for (let i = 0; i < 100; i++) verdicts.push(await policy.checkApi(ip));
    assert.ok(verdicts.every((d) => d.allowed));
    const leasesAtLimit = leases;
    for (let i = 0; i < 200; i++) assert.equal((await policy.checkApi(ip)).rejectedBy, "api");
    assert.equal(leases, leasesAtLimit + 1, "one round trip to learn the window is used up, then none");
    const redis = await client();
    assert.equal(await redis.get(`${shared.keyPrefix}:api:{${ip}}`), "101");
    assert.equal(await redis.get(`${shared.keyPrefix}:offence:{${ip}}`), "1");
  });

  it("counts the offence even when the request Redis rejected was let through on a token leased at the same time", async () => {
    const shared = settings({ apiPoints: 100, offenceThreshold: 3 });
    const ip = "198.51.100.24";
    // Another gateway without leases brings the shared counter to exactly 96.
    const other = new RateLimitPolicy({ ...shared, apiLeaseMax: 1 }, await client(), () => {});
    const policy = new RateLimitPolicy(shared, await client(), () => {});
    for (let i = 0; i < 96; i++) await other.checkApi(ip);
    assert.equal((await policy.checkApi(ip)).allowed, true, "the 97th, on a lease of 1");
    // Three requests lease at once: 2 tokens (98, 99), then the last one (100), then Redis counts a rejection (101).
    const burst = await Promise.all([policy.checkApi(ip), policy.checkApi(ip), policy.checkApi(ip)]);
    assert.deepEqual(burst.map((d) => d.allowed), [true, true, true], "the rejected lease's request spends the token still held");
    const redis = await client();
    assert.equal(await redis.get(`${shared.keyPrefix}:api:{${ip}}`), "101");
    assert.equal((await policy.checkApi(ip)).rejectedBy, "api");
    // That was the window's first rejection answered: one offence, although Redis counted it on the lease before.
    assert.equal(await redis.get(`${shared.keyPrefix}:offence:{${ip}}`), "1");
    assert.equal((await policy.checkApi(ip)).rejectedBy, "api");
    assert.equal(await redis.get(`${shared.keyPrefix}:offence:{${ip}}`), "1", "still one");
  });

  it("allows 5 failed logins per IP, then answers 429 until the 15-minute window ends", async () => {
    const policy = new RateLimitPolicy(settings(), await client(), () => {});
    for (let i = 0; i < 5; i++) {
      const attempt = await policy.attemptLogin("198.51.100.3", `victim${i}@example.com`);
      assert.equal(attempt.allowed, true, `attempt ${i + 1}`);
      assert.equal(attempt.remaining, 4 - i);
      await policy.finishLogin("198.51.100.3", `victim${i}@example.com`, "failed");
    }
    const sixth = await policy.attemptLogin("198.51.100.3", "someone-new@example.com");
    assert.equal(sixth.allowed, false);
    assert.equal(sixth.rejectedBy, "auth-ip");
    assert.ok(sixth.msBeforeReset > 890_000, `reset in ${sixth.msBeforeReset} ms`);
  });

  it("limits one account across many IPs, and a successful login resets the account", async () => {
    const policy = new RateLimitPolicy(settings(), await client(), () => {});
    for (let i = 0; i < 4; i++) {
      assert.equal((await policy.attemptLogin(`203.0.113.${i}`, "Target@Example.com")).allowed, true);
      await policy.finishLogin(`203.0.113.${i}`, "Target@Example.com", "failed");
    }
    // The right password on the 5th try: its attempt is given back and the account starts afresh.
    assert.equal((await policy.attemptLogin("203.0.113.50", "target@example.com")).allowed, true);
    await policy.finishLogin("203.0.113.50", "target@example.com", "succeeded");
    for (let i = 0; i < 5; i++) {
      assert.equal((await policy.attemptLogin(`203.0.113.${100 + i}`, " TARGET@example.com ")).allowed, true, `attempt ${i + 1} after reset`);
      await policy.finishLogin(`203.0.113.${100 + i}`, " TARGET@example.com ", "failed");
    }
    const blocked = await policy.attemptLogin("203.0.113.200", "target@example.com");
    assert.equal(blocked.rejectedBy, "auth-account");
  });

  it("charges an account nothing for attempts its address limit refused, and an address nothing for a locked account", async () => {
    const policy = new RateLimitPolicy(settings(), await client(), () => {});
    // An address that used up its 5 attempts keeps trying other accounts: refused, and those accounts keep every attempt.
    for (let i = 0; i < 5; i++) {
      assert.equal((await policy.attemptLogin("198.51.100.9", `first${i}@example.com`)).allowed, true);
      await policy.finishLogin("198.51.100.9", `first${i}@example.com`, "failed");
    }
    for (let round = 0; round < 10; round++) {
      const refused = await policy.attemptLogin("198.51.100.9", "victim@example.com");
      assert.equal(refused.rejectedBy, "auth-ip");
    }
    for (let i = 0; i < 5; i++) {
      const own = await policy.attemptLogin(`203.0.113.${10 + i}`, "victim@example.com");
      assert.equal(own.allowed, true, `the victim's attempt ${i + 1} from its own address`);
      await policy.finishLogin(`203.0.113.${10 + i}`, "victim@example.com", "failed");
    }
    // A locked account: attempts against it from an office address leave that address its budget.
    assert.equal((await policy.attemptLogin("198.51.100.20", "victim@example.com")).rejectedBy, "auth-account");
    assert.equal((await policy.attemptLogin("198.51.100.20", "victim@example.com")).rejectedBy, "auth-account");
    const colleague = await policy.attemptLogin("198.51.100.20", "colleague@example.com");
    assert.equal(colleague.allowed, true);
    assert.equal(colleague.remaining, 4, "the two refused attempts cost the address nothing");
  });

  it("does not count a login the users service could not judge", async () => {
    const policy = new RateLimitPolicy(settings(), await client(), () => {});
    for (let i = 0; i < 8; i++) {
      assert.equal((await policy.attemptLogin("198.51.100.4", "a@example.com")).allowed, true);
      await policy.finishLogin("198.51.100.4", "a@example.com", "not-judged");
    }
  });

  it("puts a repeat offender into strict mode: half the API limit and 3 login attempts", async function () {
    this.timeout(10_000);
    const policy = new RateLimitPolicy(settings({ apiDurationSeconds: 1 }), await client(), () => {});
    const offender = "192.0.2.66";
    // Two windows in which the limit is breached make two offences (a burst of 12 counts once per window).
    for (let window = 0; window < 2; window++) {
      if (window > 0) await new Promise((resolve) => setTimeout(resolve, 1100));
      for (let i = 0; i < 12; i++) await policy.checkApi(offender);
    }
    assert.equal(await policy.isOffender(offender), true);
    assert.equal(await policy.isOffender("192.0.2.67"), false);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const verdicts = [];
    for (let i = 0; i < 7; i++) verdicts.push(await policy.checkApi(offender));
    assert.deepEqual(verdicts.map((d) => d.allowed), [true, true, true, true, true, false, false]);
    assert.equal(verdicts[5].rejectedBy, "api-strict");
    assert.equal(verdicts[5].limit, 5);
    // A well-behaved neighbour keeps the normal limit.
    for (let i = 0; i < 10; i++) assert.equal((await policy.checkApi("192.0.2.67")).allowed, true);
    for (let i = 0; i < 3; i++) assert.equal((await policy.attemptLogin(offender, undefined)).allowed, true);
    assert.equal((await policy.attemptLogin(offender, undefined)).rejectedBy, "auth-strict");
  });

  it("holds a repeat offender to 5 uploads and 3 sign-ups; others keep 10 and 5", async function () {
    this.timeout(10_000);
    const policy = new RateLimitPolicy(settings({ apiPoints: 10, apiDurationSeconds: 1, offenceThreshold: 1 }), await client(), () => {});
    const offender = "192.0.2.90";
    // One window over the API limit makes it a repeat offender (threshold 1).
    for (let i = 0; i < 11; i++) await policy.checkApi(offender);
    assert.equal(await policy.isOffender(offender), true);
    const uploads = [];
    for (let i = 0; i < 6; i++) uploads.push((await policy.attemptUpload(offender, "user-of-the-offender")).rejectedBy);
    assert.deepEqual(uploads, [undefined, undefined, undefined, undefined, undefined, "upload-strict"]);
    const signups = [];
    for (let i = 0; i < 4; i++) signups.push((await policy.attemptSignup(offender)).rejectedBy);
    assert.deepEqual(signups, [undefined, undefined, undefined, "signup-strict"]);
    // A well-behaved client: 10 uploads for its user, 5 sign-ups, then the normal limits.
    const fine = "192.0.2.91";
    for (let i = 0; i < 10; i++) assert.equal((await policy.attemptUpload(fine, "user-of-the-fine")).allowed, true);
    assert.equal((await policy.attemptUpload(fine, "user-of-the-fine")).rejectedBy, "upload");
    for (let i = 0; i < 5; i++) assert.equal((await policy.attemptSignup(fine)).allowed, true);
    assert.equal((await policy.attemptSignup(fine)).rejectedBy, "signup-ip");
    // Attempts given back (refused as invalid before any hashing) never add up.
    for (let i = 0; i < 8; i++) {
      assert.equal((await policy.attemptSignup("192.0.2.92")).allowed, true, `attempt ${i + 1}`);
      await policy.finishSignup("192.0.2.92", false);
    }
  });

  it("reads a busy client's offender flag once per window, not for every request above the strict threshold", async function () {
    this.timeout(10_000);
    let lookups = 0;
    const policy = new RateLimitPolicy(settings({ apiPoints: 100, strictApiPoints: 50, apiDurationSeconds: 1 }), await client(), () => {}, {
      onOffenderLookup: () => void lookups++,
    });
    // Every read of the flag from the store, whoever asks for it.
    let reads = 0;
    const isOffender = policy.isOffender.bind(policy);
    policy.isOffender = (ip: string) => {
      reads++;
      return isOffender(ip);
    };
    const busy = "192.0.2.80";
    // 90 requests in one window: 40 of them above the strict threshold (50), none over the limit.
    for (let i = 0; i < 90; i++) assert.equal((await policy.checkApi(busy)).allowed, true, `request ${i + 1}`);
    assert.equal(reads, 1);
    assert.equal(lookups, 1);

    // The next window reads it again; a burst above the threshold shares that one read.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    for (let i = 0; i < 50; i++) await policy.checkApi(busy);
    const burst = await Promise.all(Array.from({ length: 30 }, () => policy.checkApi(busy)));
    assert.ok(burst.every((decision) => decision.allowed));
    assert.equal(reads, 2);
    assert.equal(lookups, 2);
  });

  it("still holds a repeat offender to the strict limit from its next window, on a replica that remembered it as well-behaved", async function () {
    this.timeout(10_000);
    const shared = settings({ apiPoints: 10, strictApiPoints: 5, apiDurationSeconds: 1, offenceThreshold: 1 });
    const [watching, offended] = [new RateLimitPolicy(shared, await client(), () => {}), new RateLimitPolicy(shared, await client(), () => {})];
    const ip = "192.0.2.81";
    // This replica sees the client above the strict threshold and remembers it as well-behaved for the window.
    for (let i = 0; i < 6; i++) assert.equal((await watching.checkApi(ip)).allowed, true);
    // The other replica sees it go over the limit: with a threshold of 1, that one offence makes it a repeat offender.
    const overTheLimit = [];
    for (let i = 0; i < 5; i++) overTheLimit.push((await offended.checkApi(ip)).rejectedBy);
    assert.deepEqual(overTheLimit, [undefined, undefined, undefined, undefined, "api"]);
    assert.equal(await watching.isOffender(ip), true);
    // From the next window on, the first replica answers with the strict limit too.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const verdicts = [];
    for (let i = 0; i < 6; i++) verdicts.push((await watching.checkApi(ip)).rejectedBy);
    assert.deepEqual(verdicts, [undefined, undefined, undefined, undefined, undefined, "api-strict"]);
  });
});

describe("rate limits without Redis", function () {
  it("falls back to the local limiter, divided by the expected replicas, and reports it once", async () => {
    const cluster = await deadCluster();
    const { transitions, listener } = recorder();
    const policy = new RateLimitPolicy(settings({ fallbackDivisor: 2 }), cluster, listener);
    const verdicts = [];
    for (let i = 0; i < 7; i++) verdicts.push(await policy.checkApi("198.51.100.9"));
    assert.deepEqual(verdicts.map((d) => d.allowed), [true, true, true, true, true, false, false]);
    assert.ok(verdicts.every((d) => d.store === "memory"));
    assert.equal(verdicts[5].limit, 5);
    assert.deepEqual(transitions, ["memory"]);
    assert.equal(policy.state.store, "memory");
    assert.match(policy.state.reason ?? "", /not ready/);
    cluster.disconnect();
  });

  it("falls back per request when leasing API tokens, too", async () => {
    const cluster = await deadCluster();
    const policy = new RateLimitPolicy(settings({ apiPoints: 100, fallbackDivisor: 2 }), cluster, () => {});
    const verdicts = [];
    for (let i = 0; i < 51; i++) verdicts.push(await policy.checkApi("198.51.100.23"));
    assert.ok(verdicts.slice(0, 50).every((d) => d.allowed && d.store === "memory"));
    assert.equal(verdicts[50].rejectedBy, "api");
    assert.equal(verdicts[50].limit, 50);
    cluster.disconnect();
  });

  it("asks a hung node once per suspension: the other decisions fall back at once instead of each waiting out the timeout", async function () {
    this.timeout(30_000);
    const node = await ThrowawayClusterNode.start();
    const cluster = await readyCluster(node.nodes);
    let leases = 0;
    const fallbacks: string[] = [];
    const policy = new RateLimitPolicy(settings({ apiPoints: 1000, redisTimeoutMs: 200 }), cluster, () => {}, {
      onApiLease: () => void leases++,
      onFallbackDecision: (reason) => void fallbacks.push(reason),
    });
    try {
      assert.equal((await policy.checkApi("198.51.100.40")).store, "redis");
      leases = 0;
      node.pause();
      // Twenty new clients: each needs a lease, all from the one (hung) node.
      const during = [];
      for (let i = 0; i < 20; i++) during.push(await policy.checkApi(`198.51.100.${50 + i}`));
      assert.ok(during.every((d) => d.allowed && d.store === "memory"));
      assert.equal(leases, 1, "only the first decision asked the hung node");
      assert.deepEqual(fallbacks, Array(20).fill("timeout"));
      node.resume();
      await waitFor(async () => (await policy.checkApi("198.51.100.99")).store === "redis", "Redis decisions again once the suspension ends");
    } finally {
      node.resume();
      cluster.disconnect();
      await node.destroy();
    }
  });

  it("keeps answering while its Redis Cluster goes down, and shares limits again once it is back", async function () {
    this.timeout(30_000);
    const node = await ThrowawayClusterNode.start();
    const cluster = await readyCluster(node.nodes);
    const { transitions, listener } = recorder();
    const policy = new RateLimitPolicy(settings({ apiPoints: 1000 }), cluster, listener);
    try {
      assert.equal((await policy.checkApi("198.51.100.10")).store, "redis");
      await node.down();
      const during = [];
      for (let i = 0; i < 20; i++) during.push(await policy.checkApi("198.51.100.10"));
      assert.ok(during.every((d) => d.allowed && d.store === "memory"));
      assert.deepEqual(transitions, ["memory"], "one transition logged, not one per request");
      await node.up();
      await waitFor(async () => (await policy.checkApi("198.51.100.10")).store === "redis", "Redis decisions again");
      // The state follows after a second of answers without failures.
      await waitFor(async () => (await policy.checkApi("198.51.100.10")) && transitions.length === 2, "the recovery transition");
      assert.deepEqual(transitions, ["memory", "redis"]);
    } finally {
      cluster.disconnect();
      await node.destroy();
    }
  });
});
