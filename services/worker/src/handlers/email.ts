import { randomUUID } from 'node:crypto';
import { z } from '@noa/kit';
import { requireDb, type JobHandler } from './handler';

const emailPayload = z.object({
  to: z.email().max(320),
  // One line: a relay writes it into the Subject header, where a CR or LF would start headers of the sender's choosing.
  subject: z.string().min(1).max(998).regex(/^[^\r\n]*$/, 'must be a single line (no CR or LF)'),
  body: z.string().max(100_000),
});

/**
 * Email delivery into the transactional outbox. No SMTP here: a relay (or an
 * SES forwarder) drains `outbox` rows with status `pending`; writing the row in
 * the job's transaction is what makes a redelivered job send one email, not two.
 */
export const emailHandler: JobHandler<z.infer<typeof emailPayload>> = {
  type: 'email',
  payload: emailPayload,
  transactional: true,
  async handle(job, ctx) {
    await requireDb(ctx).query(
      `INSERT INTO outbox (user_id, id, job_id, to_address, subject, body) VALUES ($1, $2, $3, $4, $5, $6)`,
      [job.userId, randomUUID(), job.id, job.payload.to, job.payload.subject, job.payload.body],
    );
  },
};
