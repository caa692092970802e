import { jobEnvelopeSchema, type JobEnvelope } from '@noa/kit';

/** A job as a handler sees it: the envelope with a validated payload and its attempt number (1-based). */
export interface Job<P> {
  readonly id: string;
  readonly type: string;
  readonly userId: string;
  readonly createdAt: string;
  readonly payload: P;
  readonly attempt: number;
}

/** A message no retry can fix: it goes straight to the dead-letter queue. */
export class PoisonMessageError extends Error {
  override readonly name = 'PoisonMessageError';
}

/** Parses a message body into an envelope, or says exactly what is wrong with it. */
export function parseEnvelope(body: Buffer): JobEnvelope {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new PoisonMessageError(`body is not JSON: ${(err as Error).message}`);
  }
  const parsed = jobEnvelopeSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PoisonMessageError(`envelope.${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}
