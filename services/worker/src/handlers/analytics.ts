import { z } from '@noa/kit';
import { requireDb, type JobHandler } from './handler';

const analyticsPayload = z.object({
  event: z.string().regex(/^[a-z][a-z0-9_.]{0,63}$/, 'lower-case event name (a-z, 0-9, _ and .), at most 64 characters'),
  occurredAt: z.iso.datetime({ offset: true }).optional(),
});

/**
 * Analytics processing: rolls an event into per-user daily counters. A counter
 * is the clearest proof of exactly-once handling: a duplicate would show as 2.
 */
export const analyticsHandler: JobHandler<z.infer<typeof analyticsPayload>> = {
  type: 'analytics',
  payload: analyticsPayload,
  transactional: true,
  async handle(job, ctx) {
    // Days are UTC days whatever offset the producer wrote.
    const day = new Date(job.payload.occurredAt ?? job.createdAt).toISOString().slice(0, 10);
    await requireDb(ctx).query(
      `INSERT INTO analytics_daily (user_id, day, event, count) VALUES ($1, $2, $3, 1)
       ON CONFLICT (user_id, day, event) DO UPDATE SET count = analytics_daily.count + 1, updated_at = now()`,
      [job.userId, day, job.payload.event],
    );
  },
};
