import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, createRedis, waitForRedis, type RedisClient } from "@noa/kit";
import { ensureRedisCluster, freePort, redisClusterNodes } from "@noa/kit/testing";

export { freePort };

/**
 * The shared local Redis Cluster (scripts/redis-cluster.sh). Tests isolate
 * themselves by key prefix; none of them stops it.
 */
export const SHARED_CLUSTER_NODES = redisClusterNodes;

const silent = createLogger("gateway-test", "silent");
let clusterStarted: Promise<unknown> | undefined;

/** A new Redis Cluster client, made as the gateway makes it, once ready (starting the shared local cluster if needed). */
export async function readyCluster(nodes = SHARED_CLUSTER_NODES): Promise<RedisClient> {
  if (nodes === SHARED_CLUSTER_NODES) await (clusterStarted ??= ensureRedisCluster());
  const cluster = createRedis({ clusterNodes: nodes, logger: silent });
  await waitForRedis(cluster);
  return cluster;
}

/** A client for a cluster that is not there: every command fails, the client never becomes ready. */
export async function deadCluster(): Promise<RedisClient> {
  return createRedis({ clusterNodes: [{ host: "127.0.0.1", port: await freePort() }], logger: silent });
}

export function uniquePrefix(name: string): string {
  return `test:${name}:${process.pid}:${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/**
 * A throwaway one-node Redis Cluster (one master owning every slot) on its
 * own port, so a test can take "Redis" down and bring it back without
 * touching the cluster other suites share.
 */
export class ThrowawayClusterNode {
  private process: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), "noa-gw-redis-"));

  private constructor(readonly port: number) {}

  static async start(): Promise<ThrowawayClusterNode> {
    const node = new ThrowawayClusterNode(await freePort());
    await node.launch();
    const slots = cli(node.port, "cluster", "addslotsrange", "0", "16383");
    if (!/OK/.test(slots)) throw new Error(`could not assign slots on ${node.port}: ${slots}`);
    await node.waitForClusterOk();
    return node;
  }

  get nodes() {
    return [{ host: "127.0.0.1", port: this.port }];
  }

  /** Starts the server again with its saved nodes.conf, so it owns the same slots. */
  async up(): Promise<void> {
    await this.launch();
    await this.waitForClusterOk();
  }

  private async launch(): Promise<void> {
    this.process = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-announce-ip", "127.0.0.1", "--cluster-config-file", join(this.dir, "nodes.conf"), "--dir", this.dir, "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    // Never leave a redis-server behind if the test process dies first.
    const child = this.process;
    process.once("exit", () => child.kill("SIGKILL"));
    await waitFor(() => cli(this.port, "ping").includes("PONG"), `redis-server on ${this.port}`);
  }

  /** Freezes the server (SIGSTOP): connections stay open and commands go unanswered, as on a hung master. */
  pause(): void {
    this.process?.kill("SIGSTOP");
  }

  resume(): void {
    this.process?.kill("SIGCONT");
  }

  async down(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGCONT");
    child.kill("SIGKILL");
    await exited;
  }

  async destroy(): Promise<void> {
    await this.down();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async waitForClusterOk() {
    await waitFor(() => cli(this.port, "cluster", "info").includes("cluster_state:ok"), `cluster_state:ok on ${this.port}`);
  }
}

function cli(port: number, ...args: string[]): string {
  const result = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { encoding: "utf8" });
  return `${result.stdout ?? ""}${result.stderr ?? ""}`;
}

export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
