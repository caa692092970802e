/**
 * Retry policy: exponential backoff between attempts, then the dead-letter queue.
 *
 * Delays are served by RabbitMQ itself, not by timers in the worker: a failed
 * job is republished (with publisher confirms) to a per-delay "delay queue"
 * whose queue-level TTL dead-letters it back into its job queue. Why this
 * design on RabbitMQ 3.10:
 *  - the delayed-message exchange plugin is not part of the broker we deploy
 *    and stores its messages on a single node (no quorum replication);
 *  - holding an unacked message in the worker while sleeping pins a prefetch
 *    slot for the whole delay and loses the timer on a crash;
 *  - one queue per delay step keeps every message in a queue at the same TTL,
 *    so no message waits behind a longer-lived one (TTL expiry only happens at
 *    the queue head), and 3.10 quorum queues support both message TTL and
 *    at-least-once dead-lettering, so delayed jobs stay replicated.
 */
export interface RetryPolicy {
  /** Attempts in total, the first delivery included; after the last one fails the job is dead-lettered. */
  readonly maxAttempts: number;
  /** Delay before the second attempt, in ms; each later one doubles it. */
  readonly baseDelayMs: number;
  /** Ceiling for any single delay, in ms. */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 };

/** Validates a policy, naming every bad field and its value. */
export function validateRetryPolicy(policy: RetryPolicy): RetryPolicy {
  const problems: string[] = [];
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1 || policy.maxAttempts > 20) {
    problems.push(`retry.maxAttempts (${policy.maxAttempts}) must be an integer from 1 to 20`);
  }
  if (!Number.isInteger(policy.baseDelayMs) || policy.baseDelayMs < 1) {
    problems.push(`retry.baseDelayMs (${policy.baseDelayMs}) must be a positive integer`);
  }
  if (!Number.isInteger(policy.maxDelayMs) || policy.maxDelayMs < policy.baseDelayMs) {
    problems.push(`retry.maxDelayMs (${policy.maxDelayMs}) must be an integer no smaller than retry.baseDelayMs (${policy.baseDelayMs})`);
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
  return policy;
}

/** The delay before attempt `nextAttempt` (2 = the first retry). */
export function backoffDelayMs(policy: RetryPolicy, nextAttempt: number): number {
  const exponent = Math.max(0, nextAttempt - 2);
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
}

/** Every distinct delay the policy can produce, ascending: one delay queue each. */
export function retryDelays(policy: RetryPolicy): number[] {
  const delays = new Set<number>();
  for (let attempt = 2; attempt <= policy.maxAttempts; attempt++) delays.add(backoffDelayMs(policy, attempt));
  return [...delays].sort((a, b) => a - b);
}

/** What to do with a job whose attempt failed. */
export type FailureDecision = { action: 'retry'; nextAttempt: number; delayMs: number } | { action: 'dead-letter'; reason: 'permanent' | 'exhausted' };

export function decideOnFailure(policy: RetryPolicy, attempt: number, permanent: boolean): FailureDecision {
  if (permanent) return { action: 'dead-letter', reason: 'permanent' };
  if (attempt >= policy.maxAttempts) return { action: 'dead-letter', reason: 'exhausted' };
  return { action: 'retry', nextAttempt: attempt + 1, delayMs: backoffDelayMs(policy, attempt + 1) };
}
