import assert from "node:assert/strict";
import { ConfigError, loadEnv } from "@noa/kit";
import { gatewayEnvSchema, gatewaySettings } from "../src/config";

const required = { REDIS_CLUSTER_NODES: "10.0.0.1:6379,10.0.0.2:6379", JWT_SECRET: "j".repeat(32) };

describe("gateway configuration", () => {
  it("defaults to the seed limits and the in-cluster upstreams", () => {
    const settings = gatewaySettings(loadEnv(gatewayEnvSchema, required));
    assert.deepEqual(settings.upstreams, {
      users: "http://users.noa.svc.cluster.local",
      workflows: "http://workflows.noa.svc.cluster.local",
      storage: "http://storage.noa.svc.cluster.local",
    });
    assert.deepEqual(settings.rateLimits, {
      apiPoints: 100,
      apiDurationSeconds: 1,
      strictApiPoints: 50,
      authPoints: 5,
      authDurationSeconds: 900,
      strictAuthPoints: 3,
      uploadPoints: 10,
      uploadDurationSeconds: 3600,
      strictUploadPoints: 5,
      offenceThreshold: 3,
      offenceWindowSeconds: 600,
      strictModeSeconds: 900,
      keyPrefix: "gw",
      fallbackDivisor: 1,
      redisTimeoutMs: 100,
      apiLeaseMax: 10,
    });
    assert.equal(settings.bodyLimitBytes, 1_048_576);
    assert.equal(settings.upstreamTimeoutMs, 5000);
    assert.equal(settings.trustedProxyHops, 0);
    assert.deepEqual(settings.jwt, { secret: "j".repeat(32), issuer: "noa", audience: "noa", cacheSize: 10_000 });
  });

  it("reads every override, keeping a configured 0", () => {
    const env = loadEnv(gatewayEnvSchema, { ...required, TRUSTED_PROXY_HOPS: "2", JWT_CACHE_SIZE: "0", RATE_LIMIT_API_POINTS: "40", RATE_LIMIT_FALLBACK_REPLICAS: "4", USERS_URL: "http://127.0.0.1:9001" });
    const settings = gatewaySettings(env);
    assert.equal(settings.trustedProxyHops, 2);
    assert.equal(settings.jwt.cacheSize, 0);
    assert.equal(settings.rateLimits.strictApiPoints, 20);
    assert.equal(settings.rateLimits.fallbackDivisor, 4);
    assert.equal(settings.rateLimits.apiLeaseMax, 4, "10% of 40");
    assert.equal(gatewaySettings(loadEnv(gatewayEnvSchema, { ...required, RATE_LIMIT_API_LEASE_MAX: "1" })).rateLimits.apiLeaseMax, 1);
    assert.equal(settings.upstreams.users, "http://127.0.0.1:9001");
  });

  it("reports every bad variable at once, by name and value", () => {
    assert.throws(
      () =>
        loadEnv(gatewayEnvSchema, {
          ...required,
          RATE_LIMIT_API_POINTS: "ten",
          UPSTREAM_TIMEOUT_MS: "0",
          RATE_LIMIT_AUTH_POINTS: "2",
          WORKFLOWS_URL: "not a url",
          ACCESS_LOG: "some",
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        const text = error.problems.join("\n");
        assert.match(text, /RATE_LIMIT_API_POINTS: .*\(got "ten"\)/);
        assert.match(text, /UPSTREAM_TIMEOUT_MS: .*\(got "0"\)/);
        assert.match(text, /WORKFLOWS_URL: .*\(got "not a url"\)/);
        assert.match(text, /ACCESS_LOG: .*\(got "some"\)/);
        assert.match(text, /RATE_LIMIT_AUTH_STRICT_POINTS: \(3\) exceeds RATE_LIMIT_AUTH_POINTS \(2\)/);
        return true;
      },
    );
  });

  it("rejects an API lease larger than the API limit, naming both", () => {
    assert.throws(
      () => loadEnv(gatewayEnvSchema, { ...required, RATE_LIMIT_API_POINTS: "10", RATE_LIMIT_API_LEASE_MAX: "20" }),
      (error: unknown) => {
        assert.match((error as ConfigError).problems.join("\n"), /RATE_LIMIT_API_LEASE_MAX: \(20\) exceeds RATE_LIMIT_API_POINTS \(10\)/);
        return true;
      },
    );
  });

  it("needs the JWT secret and exactly one Redis setting", () => {
    assert.throws(() => loadEnv(gatewayEnvSchema, { REDIS_URL: "redis://127.0.0.1:6379", REDIS_CLUSTER_NODES: "10.0.0.1:6379" }), (error: unknown) => {
      const text = (error as ConfigError).problems.join("\n");
      assert.match(text, /JWT_SECRET/);
      assert.match(text, /REDIS_CLUSTER_NODES: set exactly one of REDIS_CLUSTER_NODES or REDIS_URL \(both set\)/);
      return true;
    });
  });
});
