import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import CircuitBreaker from "opossum";
import { Pool, errors as undiciErrors, type Dispatcher } from "undici";
import type { Logger } from "@noa/kit";

/**
 * One upstream service: a keep-alive connection pool (undici) behind a circuit
 * breaker (opossum).
 *
 * The breaker counts connection errors, timeouts and 5xx answers as failures.
 * A 5xx answer is still forwarded to the client as the upstream sent it; only
 * while the breaker is open does the gateway answer 503 itself, without
 * touching the upstream, until `resetTimeoutMs` lets one trial request through
 * (half-open) and a success closes it again.
 */
export interface UpstreamOptions {
  /** Name used in logs, metrics and error bodies (`users`, `workflows`, `storage`). */
  name: string;
  /** Base URL, e.g. `http://users.noa.svc.cluster.local:8080`; only its origin is used. */
  url: string;
  /**
   * Time allowed for the response headers, counted from when the request is
   * handed to the pool (so time queued for a connection counts too), and
   * between body chunks, in ms.
   */
  timeoutMs: number;
  /** Keep-alive connections per gateway process to this upstream (default 128). */
  connections?: number;
  /** Bodies up to this many bytes, with a Content-Length, are buffered whole; others stream (default 64 KiB). */
  bufferLimitBytes?: number;
  /** Failure percentage within the rolling window at which the breaker opens (default 50: half failing opens it). */
  errorThresholdPercentage?: number;
  /** Requests within the rolling window before the breaker may open (default 20). */
  volumeThreshold?: number;
  /** Length of the breaker's rolling statistics window in ms (default 10000). */
  rollingWindowMs?: number;
  /** How long the breaker stays open before a trial request, in ms (default 10000). */
  resetTimeoutMs?: number;
  logger: Logger;
}

/** Numeric breaker state for the `gateway_circuit_state` gauge. */
export const CIRCUIT_STATE = { closed: 0, half_open: 1, open: 2 } as const;
export type CircuitState = keyof typeof CIRCUIT_STATE;

/**
 * An upstream's answer. A body with a Content-Length up to `bufferLimit`
 * (the usual JSON answer) arrives whole, as one Buffer: it goes to the client
 * in one write with the headers, with no stream machinery per request.
 * Larger or chunked bodies arrive as a stream with backpressure.
 */
export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: Buffer | Readable;
}

/** A 5xx answer: a failure for the breaker, but still the response to forward. */
export class UpstreamServerError extends Error {
  constructor(readonly response: UpstreamResponse) {
    super(`upstream answered ${response.statusCode}`);
    this.name = "UpstreamServerError";
  }
}

/** No response headers within the timeout, counted from when the request was handed to the pool. */
class UpstreamDeadlineError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = "UpstreamDeadlineError";
  }
}

/** The client closed its connection before the answer: not the upstream's failure. */
class ClientGoneError extends Error {
  constructor() {
    super("the client closed the connection before the answer");
    this.name = "ClientGoneError";
  }
}

/** Why the gateway could not get an answer; maps to the status it sends. */
export type UpstreamFailure =
  | { status: 503; reason: "circuit_open"; message: string }
  | { status: 504; reason: "upstream_timeout"; message: string }
  | { status: 502; reason: "upstream_unreachable"; message: string }
  | { status: 499; reason: "client_closed"; message: string };

/** Options of one request through {@link Upstream.send}. */
export interface SendOptions {
  /**
   * The client's response: if it closes before it is finished (the client
   * went away), the upstream request is aborted, or never sent if it is
   * still queued for a connection.
   */
  client?: ServerResponse;
}

export class Upstream {
  readonly name: string;
  readonly origin: string;
  readonly resetTimeoutMs: number;
  private readonly pool: Pool;
  private readonly breaker: CircuitBreaker<[Dispatcher.DispatchOptions, SendOptions], UpstreamResponse>;
  private readonly timeoutMs: number;
  private readonly bufferLimitBytes: number;

  constructor(options: UpstreamOptions) {
    this.name = options.name;
    this.origin = new URL(options.url).origin;
    this.timeoutMs = options.timeoutMs;
    this.resetTimeoutMs = options.resetTimeoutMs ?? 10_000;
    this.bufferLimitBytes = options.bufferLimitBytes ?? 64 * 1024;
    this.pool = new Pool(this.origin, {
      connections: options.connections ?? 128,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    this.breaker = new CircuitBreaker(
      (request: Dispatcher.DispatchOptions, options: SendOptions) =>
        // One promise per request; a 5xx rejects it, so the breaker counts it as a failure.
        new Promise<UpstreamResponse>((resolve, reject) => {
          const settle = (response: UpstreamResponse) => (response.statusCode >= 500 ? reject(new UpstreamServerError(response)) : resolve(response));
          this.pool.dispatch(request, new ResponseHandler(settle, reject, this.bufferLimitBytes, this.timeoutMs, options.client));
        }),
      {
        // A request given up in the queue because its client went away was never sent: it says
        // nothing about the upstream, so it is not a failure (opossum then counts it as a success).
        // Except as the half-open trial, where a success would close the circuit untested.
        errorFilter: (error: unknown) => error instanceof ClientGoneError && !this.breaker.halfOpen,
        name: options.name,
        // undici's own headers/body timeouts abort the request; a second timer here would only duplicate them.
        timeout: false,
        // opossum opens when the failure share is strictly above its threshold; ours opens at it
        // (50 %: half the requests failing), and 100 must be reachable.
        errorThresholdPercentage: (options.errorThresholdPercentage ?? 50) - 0.001,
        volumeThreshold: options.volumeThreshold ?? 20,
        rollingCountTimeout: options.rollingWindowMs ?? 10_000,
        resetTimeout: this.resetTimeoutMs,
        // Percentile tracking costs a sort per bucket; Prometheus histograms already give latency.
        rollingPercentilesEnabled: false,
      },
    );
    const log = options.logger.child({ upstream: options.name });
    this.breaker.on("open", () => log.warn({ circuit: "open" }, `circuit to ${options.name} opened: failing fast with 503`));
    this.breaker.on("halfOpen", () => log.info({ circuit: "half_open" }, `circuit to ${options.name} half-open: trying one request`));
    this.breaker.on("close", () => log.info({ circuit: "closed" }, `circuit to ${options.name} closed: upstream recovered`));
  }

  get state(): CircuitState {
    if (this.breaker.opened) return "open";
    if (this.breaker.halfOpen) return "half_open";
    return "closed";
  }

  /**
   * Sends one request. Resolves with the upstream's response (any status,
   * body unread) or with the failure the gateway must answer instead.
   */
  send(request: Omit<Dispatcher.DispatchOptions, "origin">, options: SendOptions = {}): Promise<UpstreamResponse | UpstreamFailure> {
    return this.breaker.fire({ ...request, origin: this.origin }, options).catch((error: unknown) => (error instanceof UpstreamServerError ? error.response : this.failure(error)));
  }

  private failure(error: unknown): UpstreamFailure {
    const code = (error as { code?: string }).code;
    if (code === "EOPENBREAKER") {
      return { status: 503, reason: "circuit_open", message: `${this.name} is failing; retry after the circuit resets` };
    }
    if (error instanceof ClientGoneError) {
      return { status: 499, reason: "client_closed", message: error.message };
    }
    if (error instanceof UpstreamDeadlineError || error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
      return { status: 504, reason: "upstream_timeout", message: `${this.name} did not answer within ${this.timeoutMs} ms` };
    }
    return { status: 502, reason: "upstream_unreachable", message: `${this.name} could not be reached (${code ?? "error"})` };
  }

  async close(): Promise<void> {
    this.breaker.shutdown();
    await this.pool.close();
  }
}

export function isFailure(value: UpstreamResponse | UpstreamFailure): value is UpstreamFailure {
  return "reason" in value;
}

/**
 * undici's dispatch handler for one proxied request: what `pool.request()`
 * does, without a stream and its consumers for the small bodies that are
 * nearly every answer (chunks are collected and joined once at the end).
 * Anything else is handed over as a Readable as soon as the headers are in;
 * its reads resume the socket and a full buffer pauses it, and destroying it
 * (the client went away) aborts the upstream request.
 */
class ResponseHandler implements Dispatcher.DispatchHandler {
  private statusCode = 0;
  private headers: IncomingHttpHeaders = {};
  private chunks: Buffer[] | undefined;
  private stream: Readable | undefined;
  private settled = false;
  private controller: Dispatcher.DispatchController | undefined;
  /** Why the request was given up before it reached a connection: it is then aborted there, unsent. */
  private abandoned: Error | undefined;
  private readonly deadline: NodeJS.Timeout;

  constructor(
    private readonly resolve: (response: UpstreamResponse) => void,
    private readonly reject: (error: Error) => void,
    private readonly bufferLimit: number,
    timeoutMs: number,
    private readonly client: ServerResponse | undefined,
  ) {
    // undici's headersTimeout starts only once the request has a connection; this one starts now.
    this.deadline = setTimeout(() => this.giveUp(new UpstreamDeadlineError(timeoutMs)), timeoutMs);
    client?.once("close", this.onClientClose);
  }

  private readonly onClientClose = () => {
    // Only a request still queued is given up: one already sent goes on to its answer (or its
    // deadline), because the upstream acts on it anyway (creates the account, checks the password),
    // and the rate limits settle on that answer, and the circuit breaker judges it.
    if (!this.client!.writableFinished && this.controller === undefined) this.giveUp(new ClientGoneError());
  };

  /** Ends the request with `error`: answers for it now, and aborts it upstream (at once, or when it leaves the queue). */
  private giveUp(error: Error): void {
    this.fail(error);
    this.abandoned = error;
    this.controller?.abort(error);
  }

  /** Rejects the answer not yet given, or ends the body already streaming, with `error`. */
  private fail(error: Error): void {
    this.cleanUp();
    if (!this.settled) {
      this.settled = true;
      this.reject(error);
    } else {
      this.stream?.destroy(error);
    }
  }

  private cleanUp(): void {
    clearTimeout(this.deadline);
    this.client?.off("close", this.onClientClose);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // Given up while it waited for a connection: fail it before anything is written. Throwing
    // (rather than controller.abort) keeps the keep-alive socket: undici drops just this request.
    if (this.abandoned) throw this.abandoned;
    this.controller = controller;
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    // Headers are in: from here undici's bodyTimeout bounds the wait between chunks.
    clearTimeout(this.deadline);
    this.statusCode = statusCode;
    this.headers = headers;
    const declared = headers["content-length"];
    if (declared !== undefined && Number(declared) <= this.bufferLimit) {
      this.chunks = [];
      return;
    }
    let ended = false;
    this.stream = new Readable({
      read: () => controller.resume(),
      destroy: (error, callback) => {
        if (!ended) controller.abort(error ?? new Error("client went away"));
        callback(error);
      },
    });
    this.stream.once("end", () => (ended = true));
    this.settled = true;
    this.resolve({ statusCode, headers, body: this.stream });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.chunks) this.chunks.push(chunk);
    else if (this.stream && !this.stream.push(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.cleanUp();
    if (this.stream) {
      this.stream.push(null);
      return;
    }
    this.settled = true;
    const chunks = this.chunks ?? [];
    this.resolve({ statusCode: this.statusCode, headers: this.headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }
}
