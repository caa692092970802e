// Baseline for bench/gateway.ts: a bare fastify route answering {"hello":"world"},
// with no logging, hooks or plugins. Run as a child process by the benchmark
// so the load generator does not share its event loop. With STUB_PATH and
// STUB_BODY it also answers GET STUB_PATH with that JSON body: the benchmark's
// stand-in for the users service in its (c) run.
//
//   PORT=3001 node --import tsx bench/hello-server.ts
import Fastify from "fastify";

async function main() {
  const app = Fastify({ logger: false });
  app.get("/hello", async () => ({ hello: "world" }));
  const stubBody = process.env.STUB_BODY;
  if (process.env.STUB_PATH && stubBody !== undefined) {
    app.get(process.env.STUB_PATH, (_request, reply) => {
      reply.header("content-type", "application/json; charset=utf-8").send(stubBody);
    });
  }
  const port = Number(process.env.PORT ?? 3001);
  await app.listen({ port, host: "127.0.0.1" });
  process.send?.({ listening: port });
  process.on("SIGTERM", () => void app.close().then(() => process.exit(0)));
}

void main();
