import { randomUUID } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { Agent, request } from 'undici';
import { isPrivateAddress, isPrivateHost, z } from '@noa/kit';
import { PermanentJobError, requireDb, type JobHandler } from './handler';

const webhookPayload = z.object({
  url: z.url({ protocol: /^https?$/ }).max(2048),
  event: z.string().min(1).max(128),
  data: z.record(z.string(), z.unknown()).default({}),
});
type WebhookPayload = z.infer<typeof webhookPayload>;

export interface WebhookOptions {
  /** Per-request timeout for the whole exchange (headers and body), in ms. Default 5000. */
  readonly timeoutMs?: number;
  /**
   * Allow targets on loopback, link-local and private addresses. Default false:
   * a user-supplied URL must not reach the cluster's own services (SSRF).
   * Local development and tests turn it on.
   */
  readonly allowPrivateNetworks?: boolean;
  /** Name resolution for webhook hosts (default `dns.lookup`); tests stand in for DNS. */
  readonly lookup?: typeof dnsLookup;
}

/** A webhook host resolved to an address it must not reach. */
export class PrivateAddressError extends Error {
  readonly code = 'ERR_WEBHOOK_PRIVATE_ADDRESS';
  constructor(
    readonly hostname: string,
    readonly address: string,
  ) {
    super(`${hostname} resolves to ${address}, a private address`);
    this.name = 'PrivateAddressError';
  }
}

/**
 * A `lookup` for the socket's connect that refuses the connection when any
 * address the name resolves to is private. It runs when the connection is
 * made and vets the very addresses it connects to, so a name that answered
 * with a public address once and a private one now (DNS rebinding) is still
 * refused.
 */
function guardedLookup(resolve: typeof dnsLookup): typeof dnsLookup {
  return ((hostname: string, options: { all?: boolean; family?: number }, callback: (...args: unknown[]) => void) => {
    resolve(hostname, { ...options, all: true }, (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
      if (error) return callback(error);
      if (addresses.length === 0) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }));
      const refused = addresses.find((entry) => isPrivateAddress(entry.address));
      if (refused) return callback(new PrivateAddressError(hostname, refused.address));
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  }) as typeof dnsLookup;
}

/** Status codes worth retrying: the receiver may answer differently later. */
const isRetryableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500;

/**
 * Webhook delivery: a real HTTP POST with a timeout. The delivery is recorded
 * in the job's transaction, so a job redelivered after a recorded success does
 * not POST again; a crash between the POST and the commit can repeat the POST,
 * which is why every request carries the job id as `webhook-id` for the
 * receiver to deduplicate (the Standard Webhooks convention).
 */
export function createWebhookHandler(options: WebhookOptions = {}): JobHandler<WebhookPayload> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const resolve = options.lookup ?? dnsLookup;
  const dispatcher = new Agent({ connect: { lookup: options.allowPrivateNetworks ? resolve : guardedLookup(resolve) } });
  return {
    type: 'webhook',
    payload: webhookPayload,
    transactional: true,
    async handle(job, ctx) {
      const url = new URL(job.payload.url);
      if (!options.allowPrivateNetworks && isPrivateHost(url.hostname)) {
        throw new PermanentJobError(`payload.url host ${url.hostname} is on a private network`);
      }
      const started = performance.now();
      const body = JSON.stringify({ id: job.id, event: job.payload.event, createdAt: job.createdAt, data: job.payload.data });
      const response = await request(url, {
        dispatcher,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'noa-worker',
          'webhook-id': job.id,
          'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
        },
        body,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]),
      }).catch((error: unknown) => {
        if (error instanceof PrivateAddressError) throw new PermanentJobError(`payload.url host ${url.hostname} resolves to ${error.address}, a private address`);
        throw error;
      });
      // Drain the body so the connection returns to the pool.
      await response.body.dump();
      const durationMs = Math.round(performance.now() - started);
      if (response.statusCode < 200 || response.statusCode >= 300) {
        const message = `webhook ${url.origin}${url.pathname} answered ${response.statusCode}`;
        if (isRetryableStatus(response.statusCode)) throw new Error(message);
        throw new PermanentJobError(message);
      }
      await requireDb(ctx).query(
        `INSERT INTO webhook_deliveries (user_id, id, job_id, url, event, status_code, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [job.userId, randomUUID(), job.id, url.toString(), job.payload.event, response.statusCode, durationMs],
      );
    },
  };
}
