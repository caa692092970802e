import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { request } from 'undici';
import { z } from '@noa/kit';
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
}

const PRIVATE_V4 = [/^10\./, /^127\./, /^169\.254\./, /^192\.168\./, /^172\.(1[6-9]|2\d|3[01])\./, /^0\./];

/** True for a host that names this machine or a private network literally. */
export function isPrivateHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.svc.cluster.local') || host.endsWith('.internal')) return true;
  const family = isIP(host);
  if (family === 4) return PRIVATE_V4.some((re) => re.test(host));
  if (family === 6) return host === '::1' || host === '::' || /^f[cd]/.test(host) || /^fe80:/.test(host) || host.startsWith('::ffff:');
  return false;
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
