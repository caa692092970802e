import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { HttpError } from './http.js';

/**
 * The header the gateway sets to the verified JWT's subject (it strips any
 * client-supplied value). Only the gateway can reach the API services (their
 * NetworkPolicies), so behind it this header is the caller's identity.
 */
export const USER_ID_HEADER = 'x-user-id';

const uuid = z.uuid();

/** The caller's user id from `x-user-id`; 401 when it is missing or not a user id. */
export function forwardedUserId(request: FastifyRequest): string {
  const value = request.headers[USER_ID_HEADER];
  if (typeof value !== 'string' || !uuid.safeParse(value).success) {
    throw new HttpError(401, `missing or invalid ${USER_ID_HEADER} header`);
  }
  return value;
}

/**
 * Turns the first zod issue into `body.steps.0.kind (Bad Kind): must be ...`:
 * the field's path, the value received (when there was one) and the rule.
 */
export function describeIssue(where: string, error: z.ZodError, input: unknown): string {
  const issue = error.issues[0]!;
  const path = [where, ...issue.path.map(String)].join('.');
  let value: unknown = input;
  for (const segment of issue.path) value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[segment as PropertyKey] : undefined;
  const shown = value === undefined || (typeof value === 'object' && value !== null) ? '' : ` (${JSON.stringify(value).slice(0, 100)})`;
  return `${path}${shown}: ${issue.message}`;
}

/** Validates request input (`where` is `body`, `query` or `params`); 400 naming the field and the value otherwise. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw new HttpError(400, describeIssue(where, result.error, value));
  return result.data;
}
