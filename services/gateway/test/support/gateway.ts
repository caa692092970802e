import type { AddressInfo } from "node:net";
import { createSigner } from "fast-jwt";
import type { FastifyInstance } from "fastify";
import { createLogger, createMetrics, type Logger, type RedisClient } from "@noa/kit";
import { buildApp } from "../../src/app";
import type { GatewaySettings } from "../../src/gateway";
import { defaultApiLeaseMax } from "../../src/rate-limit-policy";
import { readyCluster, uniquePrefix } from "./redis";
import { FakeUpstream } from "./upstream-server";

export const JWT_SECRET = "test-secret-for-the-gateway-suite-0123456789";
export const signToken = createSigner({ key: JWT_SECRET, algorithm: "HS256", iss: "noa", aud: "noa", expiresIn: 60_000 });

export interface RunningGateway {
  app: FastifyInstance;
  url: string;
  users: FakeUpstream;
  workflows: FakeUpstream;
  storage: FakeUpstream;
  redis: RedisClient;
  registry: ReturnType<typeof createMetrics>["registry"];
  close(): Promise<void>;
}

type SettingsOverrides = Partial<Omit<GatewaySettings, "rateLimits" | "circuit">> & {
  rateLimits?: Partial<GatewaySettings["rateLimits"]>;
  circuit?: Partial<GatewaySettings["circuit"]>;
};

export function testSettings(upstreams: GatewaySettings["upstreams"], overrides: SettingsOverrides = {}): GatewaySettings {
  return {
    upstreamTimeoutMs: 1000,
    upstreamConnections: 16,
    trustedProxyHops: 0,
    bodyLimitBytes: 1024,
    jwt: { secret: JWT_SECRET, issuer: "noa", audience: "noa" },
    ...overrides,
    upstreams,
    circuit: { errorThresholdPercentage: 50, volumeThreshold: 4, rollingWindowMs: 10_000, resetTimeoutMs: 500, ...overrides.circuit },
    rateLimits: {
      apiPoints: 1000,
      apiDurationSeconds: 60,
      strictApiPoints: 500,
      authPoints: 5,
      authDurationSeconds: 900,
      strictAuthPoints: 3,
      uploadPoints: 10,
      uploadDurationSeconds: 3600,
      strictUploadPoints: 5,
      offenceThreshold: 3,
      offenceWindowSeconds: 600,
      strictModeSeconds: 900,
      keyPrefix: uniquePrefix("gw"),
      fallbackDivisor: 1,
      redisTimeoutMs: 200,
      apiLeaseMax: defaultApiLeaseMax(overrides.rateLimits?.apiPoints ?? 1000),
      ...overrides.rateLimits,
    },
  };
}

/** A gateway listening on a random port, with three fake upstreams and its own Redis Cluster client. */
export async function startGateway(
  overrides: SettingsOverrides = {},
  options: { redis?: RedisClient; logger?: Logger } = {},
): Promise<RunningGateway> {
  const redis = options.redis;
  const [users, workflows, storage] = await Promise.all([FakeUpstream.start(), FakeUpstream.start(), FakeUpstream.start()]);
  const client = redis ?? (await readyCluster());
  const metrics = createMetrics("gateway");
  const registry = metrics.registry;
  const app = await buildApp({
    settings: testSettings({ users: users.url, workflows: workflows.url, storage: storage.url }, overrides),
    redis: client,
    logger: options.logger ?? createLogger("gateway-test", "silent"),
    metrics,
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as AddressInfo;
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    users,
    workflows,
    storage,
    redis: client,
    registry,
    async close() {
      await app.close();
      await Promise.all([users.close(), workflows.close(), storage.close()]);
      client.disconnect();
    },
  };
}
