import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { JWT_SECRET } from "./gateway";
import { freePort, SHARED_CLUSTER_NODES } from "./redis";

const MAIN = path.resolve(__dirname, "../../src/main.ts");

/** The gateway's real entry point (src/main.ts) as a child process, configured through its environment. */
export class GatewayProcess {
  readonly output: string[] = [];
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.stdout?.on("data", (chunk: Buffer) => this.output.push(...chunk.toString("utf8").split("\n").filter(Boolean)));
    child.stderr?.on("data", (chunk: Buffer) => this.output.push(...chunk.toString("utf8").split("\n").filter(Boolean)));
  }

  static async start(env: Record<string, string>): Promise<GatewayProcess> {
    const port = await freePort();
    const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
      env: {
        ...process.env,
        PORT: String(port),
        LOG_LEVEL: "info",
        SERVICE_NAME: "gateway",
        REDIS_CLUSTER_NODES: SHARED_CLUSTER_NODES.map((n) => `${n.host}:${n.port}`).join(","),
        REDIS_URL: "",
        JWT_SECRET,
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const gateway = new GatewayProcess(child, `http://127.0.0.1:${port}`);
    await gateway.waitUntilReady();
    return gateway;
  }

  private async waitUntilReady(timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`gateway exited with ${this.child.exitCode}:\n${this.output.join("\n")}`);
      try {
        if ((await fetch(`${this.url}/health/ready`)).status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`gateway not ready after ${timeoutMs} ms:\n${this.output.join("\n")}`);
  }

  /** Log lines (JSON) whose message matches. */
  logs(message: RegExp): Array<Record<string, unknown>> {
    return this.output
      .map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          return undefined;
        }
      })
      .filter((entry): entry is Record<string, unknown> => entry !== undefined && message.test(String(entry.msg)));
  }

  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      return Promise.resolve({ code: this.child.exitCode, signal: this.child.signalCode });
    }
    return new Promise((resolve) => this.child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    await this.exited();
  }
}
