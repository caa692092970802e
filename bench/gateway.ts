// Benchmark: (a) a bare fastify hello route vs (b) the full gateway path —
// JWT verify + Redis Cluster rate limit + proxy to the users service's cached
// `GET /api/users/me` — each driven by autocannon in one run, on Node 24.
// Prints req/s, p50, p99, server CPU per request and the ratio b/a, with the
// load average before and after (the machine is shared: read figures with it).
//
//   node --import tsx bench/gateway.ts                 # 3 rounds, 10 s per target, 50 connections
//   BENCH_ROUNDS=5 BENCH_DURATION_S=20 BENCH_CONNECTIONS=100 node --import tsx bench/gateway.ts
//
// The targets are measured in rounds — (a), (b), (c), then again — and the figures are the
// medians over rounds, since this VM's speed drifts by tens of percent within a minute.
//
// Needs the local PostgreSQL, the Redis Cluster (scripts/redis-cluster.sh
// start) and nothing else; it creates and drops its own database. The
// gateway runs with its production rate limits (the seed's 100 req/s per
// client IP, API tokens leased from Redis by demand, at most 10 at a time).
// Requests carry X-Forwarded-For from 1,000 client addresses
// (TRUSTED_PROXY_HOPS=1, as behind a proxy), so each address stays far below
// its limit (≈ 10 req/s at 10k req/s) and nothing is throttled, and the
// rate-limit keys spread over the cluster's masters as real traffic does
// instead of hammering one key. BENCH_CLIENTS=200 makes each address busier
// (≈ 60–80 req/s: above the strict-mode threshold, below the limit), as
// offices behind one NAT address or integrations are. Every
// request is still counted in Redis Cluster; BENCH_LEASE_MAX=1 sends every
// one of them to Redis (no leasing) for a comparison. Targets: gateway ≥
// 5,000 req/s per process, p99 < 30 ms, ratio ≥ 0.2. Not part of `npm test`.
//
// "CPU µs/req" is each server process's own CPU time (user + system, from
// /proc) divided by the requests served.
//
// Per process, as the target says: on 2 cores, autocannon, the gateway, the
// users service and the Redis masters would otherwise compete for the same
// CPUs, and (b) would measure the whole chain on this machine. So the process
// under test (the hello server in (a), the gateway in (b)) is pinned with
// `taskset` to the last CPU and everything else — this script and autocannon,
// the users service, migrate, and a Redis Cluster of the benchmark's own
// (six nodes on ports 7100–7105, started here and stopped at the end) — to the
// others. Both targets are measured the same way. The "busy" figure is the
// share of its CPU the process under test used: near 100% means it was the
// bottleneck (the per-process figure); clearly less means the load generator
// on the other CPU was, and req/s understates the process. BENCH_PIN=0 turns
// pinning off (everything shares every CPU, as before) and BENCH_REDIS_NODES
// uses an existing cluster instead of starting one. Two placement experiments
// (bench/README.md, sixth machine): BENCH_REDIS_CPUS=1 moves the benchmark's
// Redis nodes onto the given CPUs once started (e.g. beside the gateway, whose
// CPU is not saturated in (b)), and BENCH_GEN_NICE=10 lowers the load
// generator's priority once every server has started, so autocannon yields
// to the servers it shares a CPU with instead of preempting them.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";

const root = path.resolve(__dirname, "..");
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const WARMUP_S = 3;
/** Rounds of (a), (b), (c); the figures are the medians over rounds. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const JWT_SECRET = randomBytes(32).toString("hex");
const BENCH_REDIS_BASE_PORT = 7100;
const BENCH_REDIS_DIR = "/tmp/noa-bench-gateway-redis";
const OWN_REDIS = !process.env.BENCH_REDIS_NODES;
const REDIS_CLUSTER_NODES = process.env.BENCH_REDIS_NODES ?? [0, 1, 2].map((i) => `127.0.0.1:${BENCH_REDIS_BASE_PORT + i}`).join(",");
const CPUS = os.cpus().length;
const PIN = process.env.BENCH_PIN !== "0" && CPUS >= 2;
/** CPU for the process under test; everything else gets the rest. */
const TEST_CPU = CPUS - 1;
const OTHER_CPUS = `0-${CPUS - 2}`;
const PG_ADMIN_URL = process.env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const CLIENT_ADDRESSES = Number(process.env.BENCH_CLIENTS ?? 1000);
if (!Number.isInteger(CLIENT_ADDRESSES) || CLIENT_ADDRESSES < CONNECTIONS || CLIENT_ADDRESSES > 65_536) {
  throw new Error(`BENCH_CLIENTS (${process.env.BENCH_CLIENTS}) must be a whole number from the connection count (${CONNECTIONS}) to 65536: each connection needs addresses of its own`);
}
/** Gateway entry point; point it at another checkout's `src/main.ts` to compare two versions on equal terms. */
const REDIS_CPUS = process.env.BENCH_REDIS_CPUS;
const GEN_NICE = process.env.BENCH_GEN_NICE === undefined ? undefined : Number(process.env.BENCH_GEN_NICE);
if (GEN_NICE !== undefined && !(Number.isInteger(GEN_NICE) && GEN_NICE >= 0 && GEN_NICE <= 19)) {
  throw new Error(`BENCH_GEN_NICE (${process.env.BENCH_GEN_NICE}) must be a whole number from 0 to 19`);
}
if (REDIS_CPUS !== undefined && process.env.BENCH_REDIS_NODES) throw new Error("BENCH_REDIS_CPUS moves the benchmark's own Redis nodes: it cannot be used with BENCH_REDIS_NODES");
const GATEWAY_MAIN = process.env.BENCH_GATEWAY_MAIN ?? "services/gateway/src/main.ts";

interface Figures {
  name: string;
  reqPerSec: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** Server CPU time per request, in µs, from /proc (user + system) of the measured server processes. */
  cpuUsPerReq: Record<string, number>;
  /** Share of one CPU the process under test used during the measured run (1 = saturated). */
  busy: number;
  /** Rate-limit lease round trips to Redis per request (gateway runs only). */
  leasesPerRequest?: number;
}

const children: ChildProcess[] = [];

async function main() {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 24) throw new Error(`run the benchmark on Node 24 (production's runtime), not ${process.version}: export PATH=$PWD/node_modules/.bin:$PATH`);
  const loadBefore = os.loadavg();
  console.log(`node ${process.version}, ${CPUS} CPUs, load average ${fmtLoad(loadBefore)}; ${DURATION_S} s per target, ${CONNECTIONS} connections`);
  if (PIN) {
    // This process (autocannon) and every child not under test inherit the other CPUs.
    run("taskset", ["-a", "-p", "-c", OTHER_CPUS, String(process.pid)]);
    console.log(`pinned: process under test on CPU ${TEST_CPU}; autocannon, users, Redis on CPU ${OTHER_CPUS}`);
  } else {
    console.log("not pinned (BENCH_PIN=0 or one CPU): every process shares every CPU");
  }
  if (OWN_REDIS) redisCluster("start");

  // Every server is started first and the targets are measured in rounds, (a), (b), (c) one after
  // the other in each: this VM's speed drifts by tens of percent over a minute, so each round's
  // ratio compares neighbouring measurements, and the median over rounds is the figure.
  const hello = await startHello();
  const stack = await startGatewayStack();
  // One prebuilt request per client address: autocannon cycles through them without rebuilding a
  // request per send (a setupRequest hook would, at ≈ 30 µs per request of load-generator CPU).
  const headers = { authorization: `Bearer ${stack.token}` };
  const fromManyClients = Array.from({ length: CLIENT_ADDRESSES }, (_, i) => ({
    method: "GET" as const,
    path: "/api/users/me",
    headers: { ...headers, "x-forwarded-for": `198.18.${i >> 8}.${i & 255}` },
  }));
  // (c) the same gateway path with a stub in place of the users service: the stub answers
  // users' exact `me` body at about half the CPU of the users service (which also reads Redis), so the
  // other CPU can keep the gateway saturated and (c) is the gateway's own per-process figure.
  const stub = await startHello({ STUB_PATH: "/api/users/me", STUB_BODY: stack.meBody });
  const stubbed = await stack.startGateway(stub.url);

  if (REDIS_CPUS !== undefined) {
    for (const pid of redisPids()) run("taskset", ["-a", "-p", "-c", REDIS_CPUS, String(pid)]);
    console.log(`Redis nodes moved to CPU ${REDIS_CPUS}`);
  }
  if (GEN_NICE !== undefined) {
    // The main thread only (nice is per thread on Linux): the servers started above keep priority 0.
    os.setPriority(process.pid, GEN_NICE);
    console.log(`load generator at nice ${os.getPriority(process.pid)}`);
  }
  const rounds: { a: Figures; b: Figures; c: Figures }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const warmupS = round === 1 ? WARMUP_S : 1;
    if (ROUNDS > 1) console.log(`round ${round} of ${ROUNDS}`);
    const a = await measure("a: fastify hello", `${hello.url}/hello`, {}, { hello: hello.child }, "hello", undefined, warmupS);
    const b = await measure("b: gateway → users /me", `${stack.gatewayUrl}/api/users/me`, headers, stack.processes, "gateway", fromManyClients, warmupS, stack.gatewayUrl);
    const c = await measure("c: gateway → stub /me", `${stubbed.url}/api/users/me`, headers, { gateway: stubbed.child, stub: stub.child }, "gateway", fromManyClients, warmupS, stubbed.url);
    rounds.push({ a, b, c });
  }
  for (const child of [hello.child, stubbed.child, stub.child]) stop(child);
  await Promise.all([hello.child, stubbed.child, stub.child].map(exited));
  await stack.stop();

  const loadAfter = os.loadavg();
  console.log();
  console.table(
    rounds.flatMap(({ a, b, c }, i) =>
      [a, b, c].map((f) => ({ round: i + 1, target: f.name, "req/s": Math.round(f.reqPerSec), "p50 ms": f.p50, "p99 ms": f.p99, non2xx: f.non2xx, errors: f.errors, "CPU µs/req": JSON.stringify(f.cpuUsPerReq), busy: `${Math.round(f.busy * 100)}%` })),
    ),
  );
  const ratios = rounds.map(({ a, b }) => b.reqPerSec / a.reqPerSec);
  const ratiosC = rounds.map(({ a, c }) => c.reqPerSec / a.reqPerSec);
  const list = (values: number[], digits = 3) => values.map((value) => value.toFixed(digits)).join(", ");
  const ratio = median(ratios);
  const ratioC = median(ratiosC);
  const bRate = median(rounds.map((r) => r.b.reqPerSec));
  const cRate = median(rounds.map((r) => r.c.reqPerSec));
  const bP99 = median(rounds.map((r) => r.b.p99));
  const cP99 = median(rounds.map((r) => r.c.p99));
  console.log(`ratio b/a per round: ${list(ratios)} → median ${ratio.toFixed(3)}; c/a: ${list(ratiosC)} → median ${ratioC.toFixed(3)} (target ≥ 0.2)`);
  console.log(`gateway (median of rounds) ${Math.round(bRate)} req/s with users, ${Math.round(cRate)} with the stub (target ≥ 5000); p99 ${bP99} / ${cP99} ms (target < 30)`);
  // What each process could serve with a CPU to itself, from its own CPU cost per request; their
  // ratio is the b/a ratio free of whichever side (load generator or chain) was the bottleneck.
  const capacity = rounds.map(({ a, c }) => a.cpuUsPerReq.hello / c.cpuUsPerReq.gateway);
  console.log(`CPU per request (hello / gateway in (c)) per round: ${rounds.map(({ a, c }) => `${a.cpuUsPerReq.hello} / ${c.cpuUsPerReq.gateway} µs`).join(", ")} → capacity ratio ${list(capacity)}, median ${median(capacity).toFixed(3)}`);
  console.log(`load average before ${fmtLoad(loadBefore)}, after ${fmtLoad(loadAfter)}`);
  console.log(JSON.stringify({ rounds, ratios, ratiosC, ratio, ratioC, loadBefore, loadAfter, pinned: PIN, redisCpus: REDIS_CPUS ?? null, generatorNice: GEN_NICE ?? 0, node: process.version, durationS: DURATION_S, connections: CONNECTIONS }));
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function measure(
  name: string,
  url: string,
  headers: Record<string, string>,
  processes: Record<string, ChildProcess>,
  underTest: string,
  requests?: { method: "GET"; path: string; headers: Record<string, string> }[],
  warmupS = WARMUP_S,
  gatewayUrl?: string,
): Promise<Figures> {
  // autocannon gives every connection its own iterator over `requests`, each starting at the first
  // and each building every request up front: the 50 connections would walk the client addresses in
  // lockstep (each address sending bursts of 50 requests at once every few seconds instead of a steady
  // ≈ 10 req/s), and the load generator would build 50 × 1,000 requests inside the measured run.
  // Each connection gets its own share of the addresses instead (every 50th), so the addresses
  // interleave evenly over time, as many clients' requests do on the connections a proxy keeps open
  // to the gateway, and each request is built once.
  let connection = 0;
  const setupClient = requests
    ? (client: autocannon.Client) => {
        const k = connection++ % CONNECTIONS;
        client.setRequests(requests.filter((_, i) => i % CONNECTIONS === k));
      }
    : undefined;
  await autocannon({ url, headers, setupClient, connections: CONNECTIONS, duration: warmupS });
  // Everything else on the machine's side of the benchmark too, so the whole budget per request is visible.
  const pids: Record<string, number[]> = Object.fromEntries(Object.entries(processes).map(([key, child]) => [key, [child.pid!]]));
  pids.autocannon = [process.pid];
  if (OWN_REDIS) pids.redis = redisPids();
  const leasesBefore = gatewayUrl === undefined ? 0 : await leaseRoundTrips(gatewayUrl);
  const cpuBefore = cpuTimes(pids);
  const startedAt = process.hrtime.bigint();
  const result = await autocannon({ url, headers, setupClient, connections: CONNECTIONS, duration: DURATION_S });
  const elapsedS = Number(process.hrtime.bigint() - startedAt) / 1e9;
  const cpuAfter = cpuTimes(pids);
  const total = result.requests.total;
  const leasesPerRequest = gatewayUrl === undefined ? undefined : ((await leaseRoundTrips(gatewayUrl)) - leasesBefore) / Math.max(1, total);
  const cpuUsPerReq: Record<string, number> = {};
  for (const key of Object.keys(pids)) cpuUsPerReq[key] = Math.round(((cpuAfter[key] - cpuBefore[key]) * 1e6) / Math.max(1, total));
  // The kernel's share (system time) of the process under test: syscalls and loopback TCP, which no JS change removes.
  const sysShare = Math.round(((cpuAfter[`${underTest}:sys`] - cpuBefore[`${underTest}:sys`]) / Math.max(1e-9, cpuAfter[underTest] - cpuBefore[underTest])) * 100);
  const busy = Math.round(((cpuAfter[underTest] - cpuBefore[underTest]) / elapsedS) * 100) / 100;
  const figures = { name, reqPerSec: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx, errors: result.errors, cpuUsPerReq, busy, leasesPerRequest };
  const leases = leasesPerRequest === undefined ? "" : `, ${leasesPerRequest.toFixed(3)} rate-limit lease round trips per request`;
  console.log(`${name}: ${Math.round(figures.reqPerSec)} req/s, p50 ${figures.p50} ms, p99 ${figures.p99} ms, non-2xx ${figures.non2xx}, errors ${figures.errors}, CPU µs/req ${JSON.stringify(cpuUsPerReq)}, ${underTest} busy ${Math.round(busy * 100)}% of a CPU (${sysShare}% of it in the kernel)${leases}`);
  if (figures.non2xx > 0 || figures.errors > 0) console.warn(`WARNING: ${name}: ${figures.non2xx} non-2xx answers and ${figures.errors} errors (throttled or failing): these figures are not those of the full path`);
  return figures;
}

/** The gateway's count of rate-limit lease round trips to Redis so far (`gateway_rate_limit_api_leases_total`). */
async function leaseRoundTrips(gatewayUrl: string): Promise<number> {
  const text = await (await fetch(`${gatewayUrl}/metrics`)).text();
  const match = /^gateway_rate_limit_api_leases_total(?:\{[^}]*\})? (\d+(?:\.\d+)?)$/m.exec(text);
  if (!match) throw new Error("the gateway's /metrics has no gateway_rate_limit_api_leases_total");
  return Number(match[1]);
}

/** CPU seconds (user + system) each group of processes has used so far, from /proc/<pid>/stat. */
function cpuTimes(groups: Record<string, number[]>): Record<string, number> {
  const ticks = 100; // USER_HZ on Linux
  const out: Record<string, number> = {};
  for (const [key, pids] of Object.entries(groups)) {
    out[key] = 0;
    for (const pid of pids) {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out[key] += (Number(fields[11]) + Number(fields[12])) / ticks;
      out[`${key}:sys`] = (out[`${key}:sys`] ?? 0) + Number(fields[12]) / ticks;
    }
  }
  return out;
}

function redisPids(): number[] {
  return [0, 1, 2, 3, 4, 5].map((i) => Number(readFileSync(`${BENCH_REDIS_DIR}/${BENCH_REDIS_BASE_PORT + i}/redis.pid`, "utf8").trim()));
}

/** The hello server: under test (pinned) in (a); with STUB_PATH/STUB_BODY the upstream stub of (c), on the other CPUs. */
async function startHello(stubEnv?: { STUB_PATH: string; STUB_BODY: string }) {
  const port = await freePort();
  const child = startNode(["bench/hello-server.ts"], { PORT: String(port), ...stubEnv }, !stubEnv);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/hello`);
  return { child, url };
}

async function startGatewayStack() {
  const database = `noa_bench_gateway_${randomBytes(4).toString("hex")}`;
  const databaseUrl = PG_ADMIN_URL.replace(/\/[^/]*$/, `/${database}`);
  psql(`CREATE DATABASE ${database}`);
  const common = {
    LOG_LEVEL: "warn",
    REDIS_CLUSTER_NODES,
    JWT_SECRET,
    JWT_ISSUER: "noa",
    JWT_AUDIENCE: "noa",
  };
  const migrate = spawnSync(process.execPath, ["--import", "tsx", "services/migrate/src/main.ts"], {
    cwd: root,
    env: { ...process.env, ...common, DATABASE_URL: databaseUrl },
    encoding: "utf8",
  });
  if (migrate.status !== 0) throw new Error(`migrate failed: ${migrate.stderr}`);

  const usersPort = await freePort();
  const users = startNode(["services/users/src/main.ts"], { ...common, SERVICE_NAME: "users", PORT: String(usersPort), DATABASE_URL: databaseUrl });
  await waitForHttp(`http://127.0.0.1:${usersPort}/health/ready`);

  const rateLimitKeyPrefix = `bench-${randomBytes(3).toString("hex")}`;
  /** A gateway process under test (pinned) whose three upstreams are `upstreamUrl`. */
  async function startGateway(upstreamUrl: string) {
    const port = await freePort();
    const child = startNode([GATEWAY_MAIN], {
      ...common,
      SERVICE_NAME: "gateway",
      PORT: String(port),
      USERS_URL: upstreamUrl,
      WORKFLOWS_URL: upstreamUrl,
      STORAGE_URL: upstreamUrl,
      ...(process.env.BENCH_LEASE_MAX ? { RATE_LIMIT_API_LEASE_MAX: process.env.BENCH_LEASE_MAX } : {}),
      TRUSTED_PROXY_HOPS: "1",
      RATE_LIMIT_KEY_PREFIX: rateLimitKeyPrefix,
    }, true);
    const url = `http://127.0.0.1:${port}`;
    await waitForHttp(`${url}/health/ready`);
    return { child, url };
  }
  const { child: gateway, url: gatewayUrl } = await startGateway(`http://127.0.0.1:${usersPort}`);

  const email = `bench-${randomBytes(4).toString("hex")}@example.com`;
  const password = randomBytes(12).toString("base64url");
  await postJson(`${gatewayUrl}/api/auth/signup`, { email, password, displayName: "Bench User" });
  const login = await postJson(`${gatewayUrl}/api/auth/login`, { email, password });
  const token = (login.token ?? login.accessToken) as string;
  if (!token) throw new Error(`login returned no token: ${JSON.stringify(login)}`);
  const me = await fetch(`${gatewayUrl}/api/users/me`, { headers: { authorization: `Bearer ${token}` } });
  const meBody = await me.text();
  if (me.status !== 200) throw new Error(`GET /api/users/me through the gateway answered ${me.status}: ${meBody}`);
  if (process.env.BENCH_SHOW_RESPONSE === "1") console.log("(b) response headers:", Object.fromEntries(me.headers), `body ${meBody.length} bytes`);

  return {
    gatewayUrl,
    token,
    meBody,
    startGateway,
    processes: { gateway, users },
    async stop() {
      stop(gateway);
      stop(users);
      await Promise.all([exited(gateway), exited(users)]);
      psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
  };
}

async function postJson(url: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await response.text();
  if (response.status >= 300) throw new Error(`POST ${url} answered ${response.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** The benchmark's own Redis Cluster (started on the non-test CPUs, since this process is pinned there). */
function redisCluster(action: "start" | "stop") {
  run(path.join(root, "scripts/redis-cluster.sh"), [action], { NOA_REDIS_CLUSTER_DIR: BENCH_REDIS_DIR, NOA_REDIS_CLUSTER_BASE_PORT: String(BENCH_REDIS_BASE_PORT) });
}

function run(command: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(command, args, { encoding: "utf8", env: { ...process.env, ...env } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed: ${result.stderr || result.error}`);
}

function psql(sql: string) {
  const result = spawnSync("psql", [PG_ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-qc", sql], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr}`);
}

/**
 * How to run a TypeScript entry point as production does: a service's
 * `src/main.ts` is built by scripts/build-service.sh itself (the images'
 * build step), anything else (the hello server, BENCH_GATEWAY_MAIN from
 * another checkout) by esbuild with that script's flags; each runs with
 * `--enable-source-maps` as the Dockerfiles' CMD does. Running the sources
 * under tsx instead (BENCH_FROM_SOURCE=1) adds tsx's per-closure `__name`
 * helper and its loader to every process, about 3–5% of the gateway's CPU.
 */
function entryArgs(entry: string): string[] {
  if (process.env.BENCH_FROM_SOURCE === "1") return ["--import", "tsx", entry];
  const source = path.resolve(root, entry);
  const service = /^services\/([a-z-]+)\/src\/main\.ts$/.exec(path.relative(root, source))?.[1];
  const outdir = path.join(BENCH_BUILD_DIR, path.relative(root, source).replace(/[/\\]/g, "_").replace(/\.ts$/, ""));
  const outfile = path.join(outdir, "main.js");
  if (!builtEntries.has(outfile)) {
    const [command, args] = service
      ? [path.join(root, "scripts/build-service.sh"), [service, outdir]]
      : [path.join(root, "node_modules/.bin/esbuild"), [source, "--bundle", "--platform=node", "--target=node24", "--format=cjs", "--sourcemap", "--log-level=warning", `--outfile=${outfile}`]];
    const result = spawnSync(command, args, { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`building ${entry} failed: ${result.stderr}`);
    builtEntries.add(outfile);
  }
  // The gateway image's CMD also silences fast-jwt's one startup warning about its (collision-free) cache key.
  return ["--enable-source-maps", "--disable-warning=FAST_JWT_CACHE_KEY_BUILDER_SECURITY_RISK", outfile];
}
const BENCH_BUILD_DIR = path.join(os.tmpdir(), `noa-bench-gateway-build-${process.pid}`);
const builtEntries = new Set<string>();

/** Starts a Node child; `underTest` pins it to its own CPU (taskset execs node, so the pid stays the server's). */
function startNode(args: string[], env: Record<string, string>, underTest = false): ChildProcess {
  // BENCH_NODE_ARGS (e.g. `--cpu-prof`) goes to the process under test only, for profiling it under load.
  // BENCH_USERS_NODE_ARGS does the same for the users service.
  const flags = underTest ? process.env.BENCH_NODE_ARGS : args[0]?.includes("services/users/") ? process.env.BENCH_USERS_NODE_ARGS : undefined;
  const extra = flags?.split(" ").filter(Boolean) ?? [];
  const nodeArgs = [...extra, ...entryArgs(args[0]!), ...args.slice(1)];
  const child = spawn(PIN && underTest ? "taskset" : process.execPath, PIN && underTest ? ["-c", String(TEST_CPU), process.execPath, ...nodeArgs] : nodeArgs, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit"] });
  children.push(child);
  return child;
}

function stop(child: ChildProcess) {
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

async function waitForHttp(url: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function fmtLoad(load: number[]) {
  return load.map((value) => value.toFixed(2)).join(", ");
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    children.forEach(stop);
    rmSync(BENCH_BUILD_DIR, { recursive: true, force: true });
    // Stopped last: the users service and the gateway hold connections to it until they exit.
    if (OWN_REDIS) Promise.all(children.map(exited)).then(() => redisCluster("stop"), () => undefined);
  });
