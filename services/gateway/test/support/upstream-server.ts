import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** What the fake upstream saw of one request. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/**
 * A real HTTP server standing in for an upstream service. Its behaviour can be
 * switched between answering, failing with 500 and hanging.
 */
export class FakeUpstream {
  readonly seen: SeenRequest[] = [];
  mode: "ok" | "fail" | "hang" = "ok";
  /** Delay before every answer, in ms (the SIGTERM test keeps requests in flight with it). */
  delayMs = 0;
  /** Custom answer for a path (status and JSON body), used by the login tests. */
  responder: ((request: SeenRequest) => { status: number; body: unknown; headers?: Record<string, string> }) | undefined;
  /** Writes the whole answer itself (raw bytes, chunked, HEAD, 204), for paths it returns true for. */
  raw: ((request: SeenRequest, res: ServerResponse) => boolean) | undefined;
  private readonly server: Server;
  private readonly hanging = new Set<ServerResponse>();

  private constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const seen = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
        this.seen.push(seen);
        if (this.mode === "hang") {
          this.hanging.add(res);
          return;
        }
        if (this.mode === "fail") {
          const fail = () => res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: "upstream broke" }));
          if (this.delayMs > 0) setTimeout(fail, this.delayMs);
          else fail();
          return;
        }
        if (this.raw?.(seen, res)) return;
        const answer = this.responder?.(seen) ?? { status: 200, body: { echo: seen } };
        if (this.delayMs > 0) {
          setTimeout(() => {
            res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
            res.end(JSON.stringify(answer.body));
          }, this.delayMs);
          return;
        }
        res.writeHead(answer.status, { "content-type": "application/json", connection: "keep-alive, x-upstream-hop", "x-upstream-hop": "1", ...answer.headers });
        res.end(JSON.stringify(answer.body));
      });
    });
  }

  static async start(): Promise<FakeUpstream> {
    const upstream = new FakeUpstream();
    await new Promise<void>((resolve) => upstream.server.listen(0, "127.0.0.1", resolve));
    return upstream;
  }

  get url(): string {
    const { port } = this.server.address() as { port: number };
    return `http://127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
